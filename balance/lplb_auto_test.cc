// Tests of the automatic mode's global decision (issue 32): the prediction
// charges each rank's links as the sim does, so a split that only keeps pairs
// on their own rank is planned and one whose sends dominate is skipped, and
// the gate's probe interval grows while probes are far below their cost.
#include <gtest/gtest.h>

#include "balance/node_lp.h"

namespace wideep {
namespace {

// No expert time (a tile of one pair, free), 1 us per pair on a link, one
// node; solve 0.2 us and exchange 0.2 us: a plan pays above 3 x 0.4 = 1.2 us.
LplbCostModel link_only_model() {
  LplbCostModel m;
  m.tile_tokens = 1;
  m.same_pair_us = 1;
  m.cross_pair_us = 1;
  m.solve_fixed_us = 0.2;
  m.exchange_us = 0.2;
  return m;
}

TEST(LplbAuto, PlansWhereTheSplitKeepsPairsOnTheirRank) {
  // 2 ranks, both hold experts 0 and 1: phy2log [0 1 | 0 1]. Rank 0 sends 4
  // pairs of e0, rank 1 4 of e1 (T x K = 4). counts [4 4]; slot_rank [4 0 0 4].
  // Fixed rule: every copy takes 4 / 2 = 2 of each rank's pairs; rank 0 keeps
  // 4 / 2 = 2 of its own, receives 2 + 2 - 2 = 2 and sends 4 - 2 = 2: link
  // max(2, 2) x 1 = 2 us; rank 1 alike: 2 us.
  // Estimate: a plan can keep all 4 own pairs of each rank, least link 0:
  // gain <= 2 - (mean expert 0 + mean least link 0) = 2 > solve 0.2: solve.
  // Plan [4 0 | 0 4]: each rank keeps its 4, receives 0 and sends 0: 0 us.
  // Gain 2 - 0 = 2 > 0: served; 2 > 1.2: paid; 2 > 0.4: not far.
  // Main's decision (no slot_rank, no pairs sent): both ranks receive 4
  // pairs either way, estimate 4 - mean 4 = 0 <= 0.2: skipped.
  const Placement p = Placement::from_phy2log(2, 2, {0, 1, 0, 1});
  const LplbCostModel m = link_only_model();
  const int64_t counts[2] = {4, 4}, slot_rank[4] = {4, 0, 0, 4}, plan[4] = {4, 0, 0, 4};
  LplbGlobalView v;
  v.counts = counts;
  v.slot_rank = slot_rank;
  v.pairs_per_rank = 4;
  const LplbVerdict est = lplb_global_verdict(p, v, nullptr, m);
  EXPECT_DOUBLE_EQ(est.gain_us, 2.0);
  EXPECT_TRUE(est.use);
  const LplbVerdict solved = lplb_global_verdict(p, v, plan, m);
  EXPECT_DOUBLE_EQ(solved.gain_us, 2.0);
  EXPECT_TRUE(solved.use);
  EXPECT_TRUE(solved.paid);
  EXPECT_FALSE(solved.far);
}

TEST(LplbAuto, SkipsWhereTheSendsDecide) {
  // 2 ranks: phy2log [0 1 | 0 2]. Rank 0 sends 8 pairs of e2; rank 1 4 of e1
  // and 4 of e0 (T x K = 8). counts [4 4 8]; slot_rank [0 0 4 0].
  // Fixed rule: rank 0 receives e0 2 + e1 4 = 6, keeps 0, sends 8: link 8 us.
  // Rank 1 takes e0 2 + e2 8 = 10, keeps 4 / 2 = 2: receives 8, sends 6: 8 us.
  // Estimate: rank 0 holds none of its own pairs' experts, so any plan leaves
  // it 8 pairs to send: least link 8 = largest rank's now: gain <= 8 - 8 = 0
  // <= solve 0.2: skipped unsolved; 0 <= 0.4: far.
  // The LP's plan [4 4 | 0 8] (loads 8 and 8) changes nothing either: rank 0
  // receives 8, sends 8; rank 1 keeps 0, receives 8, sends 8: gain 0, not served.
  // Main's decision (no slot_rank, no pairs sent: receives only): fixed 6
  // and 10, estimate 10 - mean 8 = 2 > 0.2: solved; plan 8 and 8: gain 2 > 0:
  // served, for no gain in the sim (whose ranks send 8 pairs either way).
  const Placement p = Placement::from_phy2log(2, 3, {0, 1, 0, 2});
  const LplbCostModel m = link_only_model();
  const int64_t counts[3] = {4, 4, 8}, slot_rank[4] = {0, 0, 4, 0}, plan[4] = {4, 4, 0, 8};
  LplbGlobalView v;
  v.counts = counts;
  v.slot_rank = slot_rank;
  v.pairs_per_rank = 8;
  const LplbVerdict est = lplb_global_verdict(p, v, nullptr, m);
  EXPECT_DOUBLE_EQ(est.gain_us, 0.0);
  EXPECT_FALSE(est.use);
  EXPECT_TRUE(est.far);
  const LplbVerdict solved = lplb_global_verdict(p, v, plan, m);
  EXPECT_DOUBLE_EQ(solved.gain_us, 0.0);
  EXPECT_FALSE(solved.use);
  EXPECT_FALSE(solved.paid);
}

TEST(LplbAuto, NodeSplitOrderDecidesTheCrossNodeLinks) {
  // 4 ranks, 2 per node, one slot each: phy2log [0 | 1 | 0 | 2]; the network
  // costs 1 us per pair, NVLink nothing. Ranks send 4 pairs: rank 0 of e1,
  // ranks 1, 2, 3 of e0. counts [12 4 0]; slot_rank [0 0 4 0]; slot_node
  // (e0 on node 0: rank 1's 4; on node 1: 4 + 4 = 8) [4 4 8 0].
  // Fixed rule: copies of e0 take 6; rank 0's from other nodes (12 - 4) / 2 = 4,
  // rank 2's (12 - 8) / 2 = 2. Sends across nodes: 8 received in all over 4
  // ranks = 2 each. Largest link: rank 0, max(4, 2) = 4 us.
  // Plan [6 | 4 | 6 | 0], as the split serves it: rank 2 keeps its 4, takes 2
  // of node 1's other 4 (rank 3's), rank 0 takes node 0's 4 (rank 1's) and
  // the 2 left of rank 3's across nodes: rank 0 receives 2 across; sends 2 / 4
  // = 0.5 per rank: largest link 2 us. Gain 4 - 2 = 2.
  const Placement p = Placement::from_phy2log(4, 3, {0, 1, 0, 2});
  LplbCostModel m = link_only_model();
  m.same_pair_us = 0;
  const int64_t counts[3] = {12, 4, 0}, slot_rank[4] = {0, 0, 4, 0}, slot_node[4] = {4, 4, 8, 0};
  const int64_t plan[4] = {6, 4, 6, 0};
  LplbGlobalView v;
  v.counts = counts;
  v.slot_rank = slot_rank;
  v.slot_node = slot_node;
  v.pairs_per_rank = 4;
  v.ranks_per_node = 2;
  EXPECT_DOUBLE_EQ(lplb_global_verdict(p, v, plan, m).gain_us, 2.0);
}

TEST(LplbAuto, EstimateCountsWhatMustCrossNodes) {
  // 2 ranks, one per node, one copy each: phy2log [0 | 1]. Rank 0 sends 4
  // pairs of e1, rank 1 4 of e0: counts [4 4], slot_rank = slot_node [0 0].
  // Fixed rule (the only split): each rank receives 4 and sends 4 across: 4 us.
  // Least link per rank from its own pairs alone: 4 sent at 1 x 1 / (1 + 1)
  // = 0.5 us each = 2 us, an estimate of 4 - 2 = 2 > solve 0.2. But each node
  // holds no copy of its own pairs' experts (keeps 0), so 4 pairs per rank
  // cross under any plan: 4 us, estimate 4 - 4 = 0: skipped unsolved.
  const Placement p = Placement::from_phy2log(2, 2, {0, 1});
  const LplbCostModel m = link_only_model();
  const int64_t counts[2] = {4, 4}, slot_rank[2] = {0, 0}, slot_node[2] = {0, 0};
  LplbGlobalView v;
  v.counts = counts;
  v.slot_rank = slot_rank;
  v.slot_node = slot_node;
  v.pairs_per_rank = 4;
  v.ranks_per_node = 1;
  const LplbVerdict est = lplb_global_verdict(p, v, nullptr, m);
  EXPECT_DOUBLE_EQ(est.gain_us, 0.0);
  EXPECT_FALSE(est.use);
}

TEST(LplbGate, ProbesLessOftenWhileFarBelowCost) {
  // One layer. Step 0 plans; far below its cost: interval 8 -> 16; at 16 ->
  // 32; at 32 -> 64; at 64 it stays 64 (the cap); at 128 a probe that is not
  // far resets it to 8.
  LplbGate g;
  g.init(1);
  EXPECT_TRUE(g.want(0));
  g.record(0, false, true);
  EXPECT_EQ(g.probe_every(0), 16);
  EXPECT_FALSE(g.want(8));
  EXPECT_TRUE(g.want(16));
  g.record(16, false, true);
  EXPECT_FALSE(g.want(24));
  EXPECT_TRUE(g.want(32));
  g.record(32, false, true);
  EXPECT_FALSE(g.want(48));
  EXPECT_TRUE(g.want(64));
  g.record(64, false, true);
  EXPECT_EQ(g.probe_every(0), 64);
  EXPECT_FALSE(g.want(96));
  EXPECT_TRUE(g.want(128));
  g.record(128, false, false);
  EXPECT_EQ(g.probe_every(0), 8);
  EXPECT_TRUE(g.want(136));
  g.record(136, true, false);
  EXPECT_TRUE(g.want(137));  // paid: plans on
}

TEST(LplbGate, ANewPlacementResetsTheProbeInterval) {
  // Grown to 16 under placement a (far at step 0); placement a again at step
  // 8 keeps 16 (no probe), placement b (an EPLB re-plan) goes back to 8, so
  // step 8 probes.
  const Placement a = Placement::from_phy2log(2, 2, {0, 1, 0, 1});
  const Placement b = Placement::from_phy2log(2, 2, {0, 1, 1, 0});
  LplbGate g;
  g.init(1);
  g.record(0, false, true, &a);
  EXPECT_EQ(g.probe_every(0), 16);
  g.see(8, a);
  EXPECT_FALSE(g.want(8));
  g.see(8, b);
  EXPECT_EQ(g.probe_every(0), 8);
  EXPECT_TRUE(g.want(8));
}

}  // namespace
}  // namespace wideep
