// Tests of node-scoped LPLB: a hand-worked node (optimum, split, routed loads,
// the automatic mode's gain on both sides of its cost), and random nodes
// against GLPK and a brute-force max density of the node's own LP, with every
// pair's copy checked against the plan.
#include "balance/node_lp.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "balance/copy_rules.h"
#include "balance/oracle_testing.h"

namespace wideep {
namespace {

// 4 ranks, 2 per node, 2 slots each: phy2log [0 1 | 1 2 | 2 3 | 3 0].
// Node 0 (ranks 0, 1) holds experts 0, 1, 1, 2. Its counts:
//   rank 0: e0 4, e1 6, e3 2      rank 1: e1 4, e2 2
// Its LP (e3 has no copy here: fixed rule): 4 + 10 + 2 = 16 pairs on two
// ranks; rank 0 must take e0's 4 and rank 1 e2's 2, so e1's 10 split 4 / 6
// and both ranks carry 8 (the optimum: 16 / 2).
Placement hand_placement() { return Placement::from_phy2log(4, 4, {0, 1, 1, 2, 2, 3, 3, 0}); }
const int64_t kRows[2 * 4] = {4, 6, 0, 2, 0, 4, 2, 0};

TEST(NodeLp, HandWorkedNodeOptimumAndSplit) {
  const Placement p = hand_placement();
  NodeLp lp;
  lp.init(2, 0);
  ASSERT_TRUE(lp.plan(p, 0, kRows, nullptr));
  EXPECT_EQ(lp.result().max_load, 8);
  EXPECT_EQ(lp.result().copy_tokens, (std::vector<int64_t>{4, 4, 6, 2}));
  // Rank 0's pairs, one per token: e0 x4, e1 x6, e3 x2.
  const std::vector<int32_t> ids = {0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 3, 3};
  std::vector<int32_t> slot(ids.size(), -9);
  lp.split(p, 0, ids.data(), static_cast<int>(ids.size()), 1, slot.data());
  // e0: its one copy here (slot 0); e1: own copy (slot 1) takes 4, then rank 1's
  // copy (global slot 2) the other 2; e3: fixed rule over slots 5, 6 from rank 0.
  EXPECT_EQ(slot, (std::vector<int32_t>{0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 5, 6}));
  std::vector<int64_t> routed(4, 0);
  lp.add_routed_loads(p, routed.data());
  EXPECT_EQ(routed, (std::vector<int64_t>{8, 8, 1, 1}));
}

TEST(NodeLp, SecondNodeAndSharedBase) {
  // Node 1 (ranks 2, 3) holds 2, 3 | 3, 0; rank 2: e3 5; rank 3: e0 2, e3 1.
  // With 3 shared pairs per rank as fixed load and a of e3's 6 on rank 2:
  // loads 3 + a and 3 + 2 + (6 - a), both 7 at a = 4 (the only optimum).
  const Placement p = hand_placement();
  const int64_t rows[8] = {0, 0, 0, 5, 2, 0, 0, 1};
  NodeLp lp;
  lp.init(2, 3);
  ASSERT_TRUE(lp.plan(p, 1, rows, nullptr));
  EXPECT_EQ(lp.result().max_load, 7);
  EXPECT_EQ(lp.result().copy_tokens, (std::vector<int64_t>{0, 4, 2, 2}));
}

TEST(NodeLp, AutomaticModeSkipsBelowItsCost) {
  // Model: expert time = pairs rounded up (tile 1, 1 us per tile), a pair
  // between nodes 2 us of link time, inside a node free. Every expert has 2
  // copies, 2 nodes; node 0 counts e0 4, e1 10, e2 2, e3 2, so per copy and
  // node pc = 2, 5, 1, 1. Fixed rule (copies receive pc * 2):
  //   rank 0 (e0, e1): expert 4 + 10, receives 2 + 5 = 7 from the other node,
  //     sends 4 * 1/2 (e0) + 2 (e3) = 4 there: 14 + 7 * 2 = 28
  //   rank 1 (e1, e2): 10 + 2, receives 5 + 1 = 6, sends 1 (e2): 12 + 12 = 24
  // Plan [4, 4 | 6, 2], plus pc from each node without a copy (e1's other
  // node: 5; e0, e2 have a copy on both nodes: 0):
  //   rank 0: 4 + 9 = 13, receives 5, sends 2 (e3): 13 + 10 = 23
  //   rank 1: 11 + 2 = 13, receives 5, sends 0: 13 + 10 = 23
  // Gain 28 - 23 = 5 us. Before the solve the plan's time is bounded by its
  // cross-node links alone (10 on both ranks): gain at most 18.
  const Placement p = hand_placement();
  LplbCostModel m;
  m.tile_tokens = 1;
  m.tile_us = 1;
  m.cross_pair_us = 2;
  NodeLp lp;
  lp.init(2, 0);
  m.solve_fixed_us = 0.6;
  m.exchange_us = 1;
  EXPECT_TRUE(lp.plan(p, 0, kRows, &m));
  EXPECT_DOUBLE_EQ(lp.predicted_gain_us(), 5.0);
  EXPECT_TRUE(lp.paid());  // 5 > 3 * (0.6 + 1)
  EXPECT_EQ(lp.stats().solves, 1);
  m.solve_fixed_us = 0.8;  // 5 < 3 * 1.8: solved (the bound 18 is above the solve's 0.8) and used, not paid
  EXPECT_TRUE(lp.plan(p, 0, kRows, &m));
  EXPECT_FALSE(lp.paid());
  EXPECT_EQ(lp.stats().solves, 2);
  m.solve_fixed_us = 3.1;  // still used: the counts and the solve are spent, the plan is faster
  EXPECT_TRUE(lp.plan(p, 0, kRows, &m));
  EXPECT_FALSE(lp.paid());
  EXPECT_EQ(lp.stats().solves, 3);
  m.solve_fixed_us = 18.5;  // skipped on the bound: no solve
  EXPECT_FALSE(lp.plan(p, 0, kRows, &m));
  EXPECT_FALSE(lp.paid());
  EXPECT_DOUBLE_EQ(lp.predicted_gain_us(), 18.0);
  EXPECT_EQ(lp.stats().solves, 3);
  // Skipped: every pair follows the fixed rule.
  const std::vector<int32_t> ids = {0, 0, 1, 1, 1, 3};
  std::vector<int32_t> slot(ids.size()), fixed(ids.size());
  std::vector<int32_t> seen(4);
  lp.split(p, 0, ids.data(), 6, 1, slot.data());
  static_copy_choice(p, ids.data(), 6, 0, seen.data(), fixed.data());
  EXPECT_EQ(slot, fixed);
  std::vector<int64_t> routed(4, 0), expect(4, 0);
  lp.add_routed_loads(p, routed.data());
  std::vector<int64_t> all(16, 0);
  std::copy(kRows, kRows + 8, all.begin());
  static_rank_loads(p, all.data(), 4, expect.data());
  EXPECT_EQ(routed, expect);
}

TEST(LplbGate, PlansWhileItPaysAndProbesEveryEighthStep) {
  // Two layers: call c is layer c % 2 of step c / 2.
  LplbGate g;
  g.init(2);
  EXPECT_TRUE(g.want(0));  // step 0: every layer plans
  EXPECT_TRUE(g.want(1));
  g.record(0, false);      // layer 0 did not pay, layer 1 did
  g.record(1, true);
  for (int step = 1; step < 8; ++step) {
    EXPECT_FALSE(g.want(2 * step)) << step;
    EXPECT_TRUE(g.want(2 * step + 1)) << step;
  }
  EXPECT_TRUE(g.want(16));  // step 8: the probe
  g.record(16, true);
  EXPECT_TRUE(g.want(18));  // it paid: plans on
  g.record(19, false);      // layer 1 stops paying
  EXPECT_FALSE(g.want(21));
  EXPECT_TRUE(g.want(33));  // step 16
}

TEST(NodeLp, GlobalGainTileRounding) {
  // Tile 4, 1 us per started tile. Rank 0 holds [e0, e1], rank 1 [e0, e2];
  // counts e0 8, e1 4, e2 0. Fixed rule: e0 4 per copy, rank 0 4 + 4 = 2
  // tiles, rank 1 one tile. Plan [0, 4 | 8, 0]: rank 0 one tile, rank 1 two
  // (8 pairs): the same largest time, gain 0. Bound: max 2 - mean 1.5 = 0.5.
  const Placement p = Placement::from_phy2log(2, 3, {0, 1, 0, 2});
  LplbCostModel m;
  m.tile_tokens = 4;
  m.tile_us = 1;
  const int64_t counts[3] = {8, 4, 0};
  const int64_t plan[4] = {0, 4, 8, 0};
  EXPECT_DOUBLE_EQ(lplb_global_gain_us(p, counts, plan, m, 0), 0.0);
  EXPECT_DOUBLE_EQ(lplb_global_gain_us(p, counts, nullptr, m, 0), 0.5);
}

// max over subsets U of the node's ranks of (base(U) + counts confined to U) / |U|.
double brute_density(const Placement& p, const std::vector<int64_t>& counts, int64_t base) {
  double best = 0;
  for (uint32_t u = 1; u < (1u << p.num_ranks); ++u) {
    int64_t num = base * __builtin_popcount(u);
    for (int e = 0; e < p.num_logical; ++e) {
      if (p.logcnt[e] == 0) continue;
      bool inside = true;
      for (int k = 0; k < p.logcnt[e]; ++k) inside &= (u >> p.rank_of_slot(p.copies(e)[k]) & 1) != 0;
      if (inside) num += counts[e];
    }
    best = std::max(best, static_cast<double>(num) / __builtin_popcount(u));
  }
  return best;
}

TEST(NodeLp, RandomNodesMatchGlpkAndBruteForceAndSplitFollowsThePlan) {
  std::mt19937_64 rng(321);
  int checked = 0;
  for (int it = 0; it < 400; ++it) {
    const int rpn = 2 + rng() % 4, nodes = 1 + rng() % 3, S = 1 + rng() % 3;
    const int R = rpn * nodes - (nodes > 1 && rng() % 4 == 0 ? 1 : 0);  // sometimes a short last node
    const int E = std::max(1, R * S - static_cast<int>(rng() % (R * S / 2 + 1)));
    std::vector<int> p2l(R * S);
    for (int s = 0; s < R * S; ++s) p2l[s] = s < E ? s : static_cast<int>(rng() % E);
    std::shuffle(p2l.begin(), p2l.end(), rng);
    const Placement p = Placement::from_phy2log(R, E, p2l);
    const int node = static_cast<int>(rng() % nodes), lo = node * rpn, n = std::min(R, lo + rpn) - lo;
    const int T = 1 + rng() % 12, K = std::min<int>(E, 1 + rng() % 3);
    // Each rank of the node: T tokens of K distinct experts, zipf-ish.
    std::vector<std::vector<int32_t>> ids(n, std::vector<int32_t>(T * K));
    std::vector<int64_t> rows(static_cast<size_t>(n) * E, 0);
    for (int i = 0; i < n; ++i)
      for (int t = 0; t < T; ++t)
        for (int k = 0; k < K; ++k) {
          int e;
          bool dup;
          do {
            e = static_cast<int>(std::min<double>(E - 1, std::floor(E * std::pow((rng() % 1000) / 1000.0, 2.0))));
            dup = false;
            for (int q = 0; q < k; ++q) dup |= ids[i][t * K + q] == e;
          } while (dup);
          ids[i][t * K + k] = e;
          ++rows[static_cast<size_t>(i) * E + e];
        }
    const int64_t shared = rng() % 3;
    NodeLp lp;
    lp.init(rpn, shared);
    ASSERT_TRUE(lp.plan(p, node, rows.data(), nullptr));
    // The node's own LP, built here independently.
    const std::vector<int> sub_p2l(p2l.begin() + lo * S, p2l.begin() + (lo + n) * S);
    const Placement sp = lp_placement(n, E, sub_p2l, "test");
    std::vector<int64_t> counts(E, 0), base(n, shared);
    for (int i = 0; i < n; ++i)
      for (int e = 0; e < E; ++e)
        if (sp.logcnt[e] > 0) counts[e] += rows[static_cast<size_t>(i) * E + e];
    const double z = glpk_lp_optimum(sp, counts.data(), base.data());
    ASSERT_EQ(lp.result().max_load, static_cast<int64_t>(std::ceil(z - 1e-9))) << "iteration " << it;
    if (n <= 6) {
      ASSERT_NEAR(brute_density(sp, counts, shared), z, 1e-6) << "iteration " << it;
    }
    // Every pair: a node expert's goes to one of its copies on the node, and
    // the node's pairs per slot are the plan's; the others keep the fixed rule.
    std::vector<int64_t> got(static_cast<size_t>(n) * S, 0);
    std::vector<int32_t> seen(E), fixed(T * K), slot(T * K);
    for (int i = 0; i < n; ++i) {
      lp.split(p, lo + i, ids[i].data(), T, K, slot.data());
      static_copy_choice(p, ids[i].data(), T * K, lo + i, seen.data(), fixed.data());
      for (int q = 0; q < T * K; ++q) {
        const int e = ids[i][q];
        ASSERT_EQ(p.phy2log[slot[q]], e);
        if (sp.logcnt[e] == 0) {
          ASSERT_EQ(slot[q], fixed[q]);
        } else {
          ASSERT_GE(slot[q], lo * S);
          ASSERT_LT(slot[q], (lo + n) * S);
          ++got[slot[q] - lo * S];
        }
      }
    }
    ASSERT_EQ(got, lp.result().copy_tokens) << "iteration " << it;
    ++checked;
  }
  EXPECT_EQ(checked, 400);
}

}  // namespace
}  // namespace wideep
