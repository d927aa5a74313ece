// Tests of weight-move planning: nothing moves when nothing changes, every
// changed slot gets exactly one transfer or local copy from a real holder,
// same-node sources first, sending spread (vs the naive plan), deterministic.
#include "balance/move_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <tuple>

#include "balance/eplb.h"
#include "common/check.h"

namespace wideep {
namespace {

std::vector<Placement> eplb_layers(int layers, int experts, int gpus, int slots, int nodes,
                                   uint64_t seed, EplbPolicy policy) {
  std::mt19937_64 rng(seed);
  EplbInput in;
  in.num_layers = layers;
  in.num_logical = experts;
  in.num_replicas = gpus * slots;
  in.num_groups = nodes;
  in.num_nodes = nodes;
  in.num_gpus = gpus;
  for (int i = 0; i < layers * experts; ++i)
    in.weight.push_back(std::floor(1e5 / std::pow(1 + rng() % experts, 1.2)));
  return rebalance_experts(in, policy);
}

// Checks the plan covers exactly the changed slots, with sources that held the expert.
void expect_complete(const std::vector<Placement>& old_p, const std::vector<Placement>& new_p,
                     const MovePlan& plan, int ranks_per_node) {
  std::map<std::pair<int, int>, int> filled;  // (layer, dst slot) -> times
  auto check_move = [&](const WeightMove& m, bool local) {
    const Placement& o = old_p[m.layer];
    const Placement& n = new_p[m.layer];
    const int S = o.slots_per_rank;
    EXPECT_EQ(n.phy2log[m.dst_slot], m.expert);
    EXPECT_EQ(m.dst_rank, m.dst_slot / S);
    EXPECT_EQ(o.phy2log[m.src_slot], m.expert);  // the source held it before
    EXPECT_EQ(m.src_rank, m.src_slot / S);
    EXPECT_EQ(local, m.src_rank == m.dst_rank);
    ++filled[{m.layer, m.dst_slot}];
  };
  for (const WeightMove& m : plan.transfers) check_move(m, false);
  for (const WeightMove& m : plan.local_copies) check_move(m, true);
  int64_t changed = 0;
  for (size_t l = 0; l < old_p.size(); ++l) {
    const int S = old_p[l].slots_per_rank;
    for (int s = 0; s < new_p[l].num_slots(); ++s) {
      const int e = new_p[l].phy2log[s];
      const bool moves = old_p[l].phy2log[s] != e;
      changed += moves;
      auto it = filled.find({static_cast<int>(l), s});
      EXPECT_EQ(it == filled.end() ? 0 : it->second, moves ? 1 : 0) << "layer " << l << " slot " << s;
      if (!moves) continue;
      // A local copy exactly when the destination rank held the expert before.
      const int d = s / S;
      const bool held = std::count(old_p[l].phy2log.begin() + d * S,
                                   old_p[l].phy2log.begin() + (d + 1) * S, e) > 0;
      const bool is_local = std::any_of(plan.local_copies.begin(), plan.local_copies.end(),
                                        [&](const WeightMove& m) {
                                          return m.layer == static_cast<int>(l) && m.dst_slot == s;
                                        });
      EXPECT_EQ(held, is_local);
    }
  }
  EXPECT_EQ(plan.naive_transfers, changed);
  // Same node first: a cross-node transfer only when no same-node rank held the expert.
  int64_t cross = 0;
  for (const WeightMove& m : plan.transfers) {
    if (m.src_rank / ranks_per_node == m.dst_rank / ranks_per_node) continue;
    ++cross;
    const Placement& o = old_p[m.layer];
    for (int s = 0; s < o.num_slots(); ++s) {
      if (o.phy2log[s] == m.expert) {
        EXPECT_NE(o.rank_of_slot(s) / ranks_per_node, m.dst_rank / ranks_per_node);
      }
    }
  }
  EXPECT_EQ(plan.cross_node_transfers, cross);
  std::vector<int64_t> sends(old_p[0].num_ranks, 0);
  for (const WeightMove& m : plan.transfers) ++sends[m.src_rank];
  EXPECT_EQ(plan.max_sends_per_rank, *std::max_element(sends.begin(), sends.end()));
  // Posting order: sorted by (layer, src, dst, dst slot).
  EXPECT_TRUE(std::is_sorted(plan.transfers.begin(), plan.transfers.end(),
                             [](const WeightMove& a, const WeightMove& b) {
                               return std::tie(a.layer, a.src_rank, a.dst_rank, a.dst_slot) <
                                      std::tie(b.layer, b.src_rank, b.dst_rank, b.dst_slot);
                             }));
}

TEST(MovePlan, NothingMovesWhenEqual) {
  auto p = eplb_layers(3, 32, 8, 5, 2, 1, EplbPolicy::kWideep);
  MovePlan plan = plan_weight_moves(p, p, 4);
  EXPECT_TRUE(plan.transfers.empty());
  EXPECT_TRUE(plan.local_copies.empty());
  EXPECT_EQ(plan.naive_transfers, 0);
  EXPECT_EQ(plan.max_sends_per_rank, 0);
}

TEST(MovePlan, HandWorkedExample) {
  // 4 ranks x 2 slots, 2 ranks per node, 6 experts.
  // Old: r0{0,1} r1{2,3} r2{4,5} r3{1,5}.  New: r0{0,2} r1{1,3} r2{4,1} r3{5,5}.
  // Slot 1 (r0) needs 2: from r1 slot 2. Slot 2 (r1) needs 1: r0 (same node)
  // rather than r3. Slot 5 (r2) needs 1: r3 (same node) rather than r0.
  // Slot 6 (r3) gets 5 by a local copy of r3's old slot 7; slot 7 stays.
  Placement o = Placement::from_phy2log(4, 6, {0, 1, 2, 3, 4, 5, 1, 5});
  Placement n = Placement::from_phy2log(4, 6, {0, 2, 1, 3, 4, 1, 5, 5});
  MovePlan plan = plan_weight_moves({o}, {n}, 2);
  expect_complete({o}, {n}, plan, 2);
  ASSERT_EQ(plan.transfers.size(), 3u);
  EXPECT_EQ(plan.cross_node_transfers, 0);
  EXPECT_EQ(plan.max_sends_per_rank, 1);
  // Posting order: by source rank.
  EXPECT_EQ(std::make_tuple(plan.transfers[0].src_rank, plan.transfers[0].src_slot, plan.transfers[0].dst_slot),
            std::make_tuple(0, 1, 2));
  EXPECT_EQ(std::make_tuple(plan.transfers[1].src_rank, plan.transfers[1].src_slot, plan.transfers[1].dst_slot),
            std::make_tuple(1, 2, 1));
  EXPECT_EQ(std::make_tuple(plan.transfers[2].src_rank, plan.transfers[2].src_slot, plan.transfers[2].dst_slot),
            std::make_tuple(3, 6, 5));
  ASSERT_EQ(plan.local_copies.size(), 1u);
  EXPECT_EQ(plan.local_copies[0].src_slot, 7);
  EXPECT_EQ(plan.local_copies[0].dst_slot, 6);
  EXPECT_EQ(plan.naive_transfers, 4);
}

TEST(MovePlan, PrefersSameNodeSource) {
  // Expert 0 is held by rank 0 (node 0) and rank 2 (node 1); rank 3 needs it: rank 2 sends.
  Placement o = Placement::from_phy2log(4, 4, {0, 1, 2, 3, 0, 2, 3, 1});
  Placement n = Placement::from_phy2log(4, 4, {0, 1, 2, 3, 0, 2, 3, 0});
  MovePlan plan = plan_weight_moves({o}, {n}, 2);
  ASSERT_EQ(plan.transfers.size(), 1u);
  EXPECT_EQ(plan.transfers[0].src_rank, 2);
  EXPECT_EQ(plan.cross_node_transfers, 0);
  // With one node per rank, the only holders are on other nodes: cross-node.
  MovePlan far = plan_weight_moves({o}, {n}, 1);
  EXPECT_EQ(far.cross_node_transfers, 1);
}

TEST(MovePlan, SpreadsSendingOverHolders) {
  // One node of 8 ranks x 3 slots, 16 experts, the same change in 2 layers.
  // Expert 0 (held by r0..r3) is needed on r4..r7; 9, 12, 15 have one holder
  // each (r4, r5, r6); 3 has two (r1, r7). The naive plan sends every 0 from
  // r0 (8 sends); the best plan sends 2 per rank (3 from r7, 0 spread).
  Placement o = Placement::from_phy2log(
      8, 16, {0, 1, 2, 0, 3, 4, 0, 5, 6, 0, 7, 8, 9, 10, 11, 12, 13, 14, 15, 1, 2, 3, 4, 5});
  Placement n = Placement::from_phy2log(
      8, 16, {9, 1, 2, 12, 3, 4, 15, 5, 6, 3, 7, 8, 0, 10, 11, 0, 13, 14, 0, 1, 2, 0, 4, 5});
  MovePlan plan = plan_weight_moves({o, o}, {n, n}, 8);
  expect_complete({o, o}, {n, n}, plan, 8);
  EXPECT_EQ(plan.transfers.size(), 16u);
  EXPECT_EQ(plan.naive_max_sends_per_rank, 8);
  EXPECT_EQ(plan.max_sends_per_rank, 2);
}

TEST(MovePlan, RandomPlacementsAreCompleteAndSpread) {
  int64_t sum_max = 0, sum_naive_max = 0;
  for (int trial = 0; trial < 24; ++trial) {
    const int nodes = 1 + trial % 4, gpus = nodes * (2 + trial % 3), slots = 5;
    auto a = eplb_layers(4, 8 * nodes, gpus, slots, nodes, trial, EplbPolicy::kWideep);
    auto b = eplb_layers(4, 8 * nodes, gpus, slots, nodes, 1000 + trial,
                         trial % 2 ? EplbPolicy::kDeepseek : EplbPolicy::kWideep);
    const int rpn = gpus / nodes;
    MovePlan plan = plan_weight_moves(a, b, rpn);
    expect_complete(a, b, plan, rpn);
    EXPECT_LE(plan.max_sends_per_rank, plan.naive_max_sends_per_rank + 1);
    sum_max += plan.max_sends_per_rank;
    sum_naive_max += plan.naive_max_sends_per_rank;
    // Deterministic.
    MovePlan again = plan_weight_moves(a, b, rpn);
    ASSERT_EQ(again.transfers.size(), plan.transfers.size());
    for (size_t i = 0; i < plan.transfers.size(); ++i) {
      EXPECT_EQ(again.transfers[i].src_slot, plan.transfers[i].src_slot);
      EXPECT_EQ(again.transfers[i].dst_slot, plan.transfers[i].dst_slot);
    }
  }
  EXPECT_LT(sum_max, sum_naive_max);
}

TEST(MovePlan, RejectsMismatchedShapes) {
  Placement a = Placement::from_phy2log(2, 4, {0, 1, 2, 3});
  Placement b = Placement::from_phy2log(4, 4, {0, 1, 2, 3});
  EXPECT_THROW(plan_weight_moves({a}, {b}, 1), UsageError);
  EXPECT_THROW(plan_weight_moves({a}, {a, a}, 1), UsageError);
  EXPECT_THROW(plan_weight_moves({a}, {a}, 3), UsageError);  // 3 does not divide 2 ranks
}

}  // namespace
}  // namespace wideep
