// Tests of the LPLB copy layouts (r2o tables as the issue spells them, groups,
// errors naming --topology) and of the placement a topology induces.
#include "balance/topology.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "common/check.h"

namespace wideep {
namespace {

TEST(Topology, CubeIsDeepSeekLayout) {
  const Topology t = make_topology("cube", 8);
  EXPECT_EQ(t.group_size, 8);
  EXPECT_EQ(t.redundant_per_rank, 2);
  EXPECT_EQ(t.r2o, (std::vector<int>{3, 6, 0, 7, 1, 4, 2, 5, 7, 0, 4, 1, 5, 2, 6, 3}));
}

TEST(Topology, Ring) {
  const Topology t = make_topology("ring", 4);
  EXPECT_EQ(t.redundant_per_rank, 1);
  EXPECT_EQ(t.r2o, (std::vector<int>{1, 2, 3, 0}));
}

TEST(Topology, Hypercube) {
  const Topology t = make_topology("hypercube", 32);  // two groups of 16
  EXPECT_EQ(t.group_size, 16);
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(t.r2o[i * 2], i / 4 * 4 + (i + 1) % 4) << i;
    EXPECT_EQ(t.r2o[i * 2 + 1], (i + 12) % 16) << i;
  }
  EXPECT_EQ(t.r2o[1], 12);  // rank 0 copies rank (0 - 4) mod 16
}

TEST(Topology, Torus) {
  const Topology t = make_topology("torus:2x3", 6);
  EXPECT_EQ(t.group_size, 6);
  // rank i*N+j copies ((i+1)%M)*N+j and i*N+(j+1)%N.
  EXPECT_EQ(t.r2o, (std::vector<int>{3, 1, 4, 2, 5, 0, 0, 4, 1, 5, 2, 3}));
}

TEST(Topology, FullCopiesEveryOtherRank) {
  const Topology t = make_topology("full", 4);
  EXPECT_EQ(t.redundant_per_rank, 3);
  for (int i = 0; i < 4; ++i) {
    std::vector<int> row(t.r2o.begin() + i * 3, t.r2o.begin() + i * 3 + 3);
    std::sort(row.begin(), row.end());
    std::vector<int> want;
    for (int j = 0; j < 4; ++j)
      if (j != i) want.push_back(j);
    EXPECT_EQ(row, want);
  }
}

TEST(Topology, RejectsWhatItCannotServe) {
  for (auto [spec, ranks] : std::vector<std::pair<std::string, int>>{
           {"cube", 12}, {"hypercube", 8}, {"torus:2x3", 8}, {"torus:1x4", 4}, {"torus:3", 3},
           {"ring", 1}, {"mesh", 8}, {"full", 1}}) {
    try {
      make_topology(spec, ranks);
      ADD_FAILURE() << spec << " with " << ranks << " ranks was accepted";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("--topology"), std::string::npos) << e.what();
    }
  }
  EXPECT_NO_THROW(make_topology("cube", 16));
}

TEST(Topology, FromR2oValidates) {
  const Topology t = topology_from_r2o({{1}, {2}, {0}}, 6, "--topology file:x");
  EXPECT_EQ(t.group_size, 3);
  EXPECT_EQ(t.r2o, (std::vector<int>{1, 2, 0}));
  EXPECT_THROW(topology_from_r2o({{0}, {1}}, 2, "f"), UsageError);        // self edge
  EXPECT_THROW(topology_from_r2o({{1}, {2}}, 2, "f"), UsageError);        // out of range
  EXPECT_THROW(topology_from_r2o({{1, 0}, {0}}, 2, "f"), UsageError);     // ragged
  EXPECT_THROW(topology_from_r2o({{1}, {0}}, 3, "f"), UsageError);        // 3 % 2
  EXPECT_THROW(topology_from_r2o({}, 2, "f"), UsageError);
}

TEST(TopologyPlacement, RedundantSlotsCopyHottestOfTarget) {
  const Topology t = make_topology("cube", 8);
  const int E = 32;
  std::vector<double> loads(E);
  for (int e = 0; e < E; ++e) loads[e] = (e * 37) % 101;
  const Placement p = topology_placement(t, 8, E, loads.data());
  ASSERT_EQ(p.slots_per_rank, 6);
  EXPECT_EQ(p.validate(), "");
  for (int e = 0; e < E; ++e) EXPECT_GE(p.logcnt[e], 1);
  for (int r = 0; r < 8; ++r) {
    for (int d = 0; d < 2; ++d) {
      const int j = t.r2o[r * 2 + d];
      const int copied = p.phy2log[r * 6 + 4 + d];
      // The copied expert lives on rank j, among its own slots.
      bool on_j = false;
      for (int s = 0; s < 4; ++s) on_j |= p.phy2log[j * 6 + s] == copied;
      EXPECT_TRUE(on_j) << "rank " << r << " slot " << d;
    }
  }
  // Rank 0 is copied by ranks 1 (slot 0) and 4 (slot 1): first copier gets the hottest.
  double hot0 = 0;
  for (int s = 0; s < 4; ++s) hot0 = std::max(hot0, loads[p.phy2log[s]]);
  EXPECT_EQ(loads[p.phy2log[1 * 6 + 4]], hot0);
}

TEST(TopologyPlacement, GroupsAndErrors) {
  const Topology t = make_topology("ring", 4);
  std::vector<double> loads(8, 1.0);
  const Placement p = topology_placement(t, 4, 8, loads.data());
  EXPECT_EQ(p.slots_per_rank, 3);
  const Topology c = make_topology("cube", 16);
  std::vector<double> l16(32, 1.0);
  const Placement q = topology_placement(c, 16, 32, l16.data());
  // Group 1 (ranks 8..15) copies only within itself.
  for (int r = 8; r < 16; ++r)
    for (int d = 0; d < 2; ++d) {
      const int e = q.phy2log[r * 4 + 2 + d];
      const int holder = q.rank_of_slot(q.copies(e)[0]);
      EXPECT_GE(holder, 8);
    }
  EXPECT_THROW(topology_placement(t, 4, 6, loads.data()), UsageError);  // 6 % 4
}

}  // namespace
}  // namespace wideep
