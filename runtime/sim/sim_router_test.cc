// `wideep sim` must balance exactly as `wideep run`: ClusterRouter's per-rank
// output equals TokenRouter::assign's for every rank, and AllRankSplit equals
// split_tokens rank by rank, on random shapes, placements and skewed routings.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "balance/token_split.h"
#include "runtime/sim/sim_engine.h"
#include "runtime/sim/sim_router.h"
#include "runtime/sim/sim_split.h"
#include "runtime/step/token_router.h"

namespace wideep {
namespace {

struct Case {
  int R, E, K, T, S, redundant;
};

// Random placement: every expert once (shuffled), extra slots skewed to low ids.
Placement random_placement(const Case& c, std::mt19937& rng) {
  const int slots = c.E + c.redundant;
  std::vector<int> p2l(slots);
  for (int e = 0; e < c.E; ++e) p2l[e] = e;
  for (int s = c.E; s < slots; ++s) p2l[s] = static_cast<int>(rng() % (c.E / 2 + 1));
  std::shuffle(p2l.begin(), p2l.end(), rng);
  return Placement::from_phy2log(c.R, c.E, p2l);
}

// Top-k distinct experts per token, skewed towards low ids.
std::vector<int32_t> random_ids(const Case& c, std::mt19937& rng) {
  std::vector<int32_t> ids(static_cast<size_t>(c.R) * c.T * c.K);
  std::geometric_distribution<int> geo(0.15);
  for (size_t t = 0; t < ids.size() / c.K; ++t) {
    for (int k = 0; k < c.K; ++k) {
      int e;
      bool dup;
      do {
        e = geo(rng) % c.E;
        dup = false;
        for (int q = 0; q < k; ++q) dup |= ids[t * c.K + q] == e;
      } while (dup);
      ids[t * c.K + k] = e;
    }
  }
  return ids;
}

std::vector<int64_t> counts_of(const Case& c, const std::vector<int32_t>& ids) {
  std::vector<int64_t> rc(static_cast<size_t>(c.R) * c.E, 0);
  for (int r = 0; r < c.R; ++r)
    for (int i = 0; i < c.T * c.K; ++i) ++rc[static_cast<size_t>(r) * c.E + ids[static_cast<size_t>(r) * c.T * c.K + i]];
  return rc;
}

const Case kCases[] = {{4, 8, 2, 16, 0, 4}, {8, 16, 4, 32, 1, 8}, {8, 64, 8, 64, 0, 8},
                       {16, 32, 4, 24, 2, 16}, {12, 24, 3, 20, 1, 12}, {2, 4, 2, 8, 0, 2}};

TEST(SimRouter, EqualsTokenRouterOnEveryRank) {
  std::mt19937 rng(7);
  int compared = 0;
  for (const Case& c : kCases) {
    for (int variant = 0; variant < 4; ++variant) {
      const bool lplb = variant == 1 || variant == 3;
      const bool waterfill = c.S > 0 && (variant == 2 || variant == 3);
      for (int rpn : {c.R, std::max(1, c.R / 4), 2}) {
        const Placement p = random_placement(c, rng);
        const std::vector<int32_t> ids = random_ids(c, rng);
        const std::vector<int64_t> rc = counts_of(c, ids);
        ClusterRouter cluster;
        cluster.init(c.R, c.T, c.K, c.S, c.E, lplb, waterfill, rpn, rpn);
        ClusterRouting all;
        cluster.assign(p, ids.data(), rc.data(), &all);
        const int P = c.K + c.S;
        std::vector<float> gate(static_cast<size_t>(c.T) * c.K, 0.125f);
        for (int r = 0; r < c.R; ++r) {
          TokenRouter one;
          one.init(c.R, r, c.T, c.K, c.S, c.E, lplb, waterfill, rpn);
          RouteArrays out;
          out.pair_dest_rank.assign(static_cast<size_t>(c.T) * P, 0);
          out.pair_local_slot.assign(static_cast<size_t>(c.T) * P, 0);
          out.pair_weight.assign(static_cast<size_t>(c.T) * P, 0);
          BalanceInfo info;
          one.assign(p, &ids[static_cast<size_t>(r) * c.T * c.K], gate.data(),
                     one.needs_counts() ? rc.data() : nullptr, &out, &info);
          const size_t base = static_cast<size_t>(r) * c.T * P;
          for (int i = 0; i < c.T * P; ++i) {
            ASSERT_EQ(out.pair_dest_rank[i], all.pair_dest_rank[base + i]) << "rank " << r << " pair " << i;
            ASSERT_EQ(out.pair_local_slot[i], all.pair_local_slot[base + i]) << "rank " << r << " pair " << i;
          }
          EXPECT_EQ(info.expected_load, all.expected_load[r]);
          ++compared;
        }
      }
    }
  }
  EXPECT_GT(compared, 300);
}

// --waterfill-mode sglang*: the simulator draws every rank's shared-pair ranks
// as that rank's TokenRouter does, call after call (the draws are keyed by the
// layer-step's call index). T = 80 tokens, above SGLang's 64-token threshold.
TEST(SimRouter, SglangWaterfillEqualsTokenRouterOnEveryRank) {
  std::mt19937 rng(9);
  const Case c{8, 32, 4, 80, 1, 8};
  for (WaterfillMode mode : {kWaterfillSglang, kWaterfillSglangStatic}) {
    for (bool lplb : {false, true}) {
      ClusterRouter cluster;
      cluster.init(c.R, c.T, c.K, c.S, c.E, lplb, mode, c.R, c.R);
      std::vector<TokenRouter> ranks(c.R);
      for (int r = 0; r < c.R; ++r) ranks[r].init(c.R, r, c.T, c.K, c.S, c.E, lplb, mode, c.R);
      int moved = 0;
      for (int call = 0; call < 3; ++call) {
        const Placement p = random_placement(c, rng);
        const std::vector<int32_t> ids = random_ids(c, rng);
        const std::vector<int64_t> rc = counts_of(c, ids);
        ClusterRouting all;
        cluster.assign(p, ids.data(), rc.data(), &all);
        const int P = c.K + c.S;
        std::vector<float> gate(static_cast<size_t>(c.T) * c.K, 0.25f);
        for (int r = 0; r < c.R; ++r) {
          RouteArrays out;
          out.pair_dest_rank.assign(static_cast<size_t>(c.T) * P, 0);
          out.pair_local_slot.assign(static_cast<size_t>(c.T) * P, 0);
          out.pair_weight.assign(static_cast<size_t>(c.T) * P, 0);
          BalanceInfo info;
          ranks[r].assign(p, &ids[static_cast<size_t>(r) * c.T * c.K], gate.data(), rc.data(), &out, &info);
          const size_t base = static_cast<size_t>(r) * c.T * P;
          for (int i = 0; i < c.T * P; ++i) {
            ASSERT_EQ(out.pair_dest_rank[i], all.pair_dest_rank[base + i]) << "rank " << r << " pair " << i;
            ASSERT_EQ(out.pair_local_slot[i], all.pair_local_slot[base + i]) << "rank " << r << " pair " << i;
          }
          for (int t = 0; t < c.T; ++t) moved += out.pair_dest_rank[static_cast<size_t>(t) * P + c.K] != r;
          EXPECT_EQ(info.expected_load, -1);  // no rank knows the others' draws
        }
      }
      EXPECT_GT(moved, 0) << "no shared pair left its rank";
    }
  }
}

TEST(SimSplit, EqualsSplitTokensRankByRank) {
  std::mt19937 rng(11);
  for (const Case& c : kCases) {
    for (int rpn : {0, c.R, std::max(1, c.R / 4), 2, 3}) {
      const Placement p = random_placement(c, rng);
      const std::vector<int32_t> ids = random_ids(c, rng);
      const std::vector<int64_t> rc = counts_of(c, ids);
      // Random quotas per copy that sum to each expert's count.
      std::vector<int64_t> quota(p.num_slots(), 0);
      for (int e = 0; e < c.E; ++e) {
        int64_t n = 0;
        for (int r = 0; r < c.R; ++r) n += rc[static_cast<size_t>(r) * c.E + e];
        for (int64_t i = 0; i < n; ++i) ++quota[p.copies(e)[rng() % p.logcnt[e]]];
      }
      AllRankSplit all;
      std::vector<int32_t> got(ids.size(), -1);
      all.run(p, rc.data(), quota.data(), rpn, ids.data(), c.T, c.K, got.data());
      std::vector<int32_t> want(static_cast<size_t>(c.T) * c.K);
      for (int r = 0; r < c.R; ++r) {
        split_tokens(p, rc.data(), quota.data(), r, &ids[static_cast<size_t>(r) * c.T * c.K], c.T, c.K, rpn, want.data());
        for (int i = 0; i < c.T * c.K; ++i)
          ASSERT_EQ(want[i], got[static_cast<size_t>(r) * c.T * c.K + i]) << "rank " << r << " rpn " << rpn;
      }
    }
  }
}

}  // namespace
}  // namespace wideep
