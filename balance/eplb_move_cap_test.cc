// Tests of the cap on experts moved per re-plan (--eplb-max-moves): a tiny
// case worked by hand (4 ranks, 8 experts, 3 slots per rank; the best plan
// moves 4 slots), the cap over several layers, and properties on random
// re-plans of wideep's policy (valid, within the cap, climbing with the cap).
#include "balance/eplb_move_cap.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "balance/eplb.h"
#include "common/check.h"

namespace wideep {
namespace {

// 4 ranks x 3 slots, experts 0..7. In force: slot i holds i % 8,
//   r0 [0 1 2]  r1 [3 4 5]  r2 [6 7 0]  r3 [1 2 3]   (0..3 have two copies)
// Loads w = [2 2 2 2 12 4 6 2] (sum 32, mean rank load 8); a copy serves
// w / copies: r0 1+1+1 = 3, r1 1+12+4 = 17, r2 6+2+1 = 9, r3 1+1+1 = 3,
// balancedness 8/17 = 0.4706.
// The best plan (balancedness 1, found by exhausting 4-slot changes) moves
// slot 0: 0->4, slot 5: 5->1, slot 6: 6->5, slot 9: 1->6,
//   r0 [4 1 2]  r1 [3 4 1]  r2 [5 7 0]  r3 [6 2 3]: 6+1+1, 1+6+1, 4+2+2, 6+1+1 = 8 each.
const std::vector<double> kW = {2, 2, 2, 2, 12, 4, 6, 2};
const std::vector<int> kNow = {0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3};
const std::vector<int> kBest = {4, 1, 2, 3, 4, 1, 5, 7, 0, 6, 2, 3};

std::vector<Placement> one(const std::vector<int>& phy2log) { return {Placement::from_phy2log(4, 8, phy2log)}; }

TEST(EplbMoveCap, HandWorkedOneMoveKeepsTheBest) {
  // Of the four moves, slot 5 (5->1) and slot 6 (6->5) would evict the only
  // copy of 5 and of 6. The two that can go first:
  //   slot 0 (0->4): 4 on 2 copies (6 each), 0 on 1 (2): r0 6+1+1 = 8, r1 1+6+4 = 11,
  //                  r2 6+2+2 = 10, r3 3: balancedness 8/11 = 0.7273;
  //   slot 9 (1->6): 6 on 2 copies (3 each), 1 on 1 (2): r1 stays 17: 8/17, no gain.
  const auto capped = cap_expert_moves(one(kNow), one(kBest), kW, 1);
  EXPECT_EQ(capped[0].phy2log, (std::vector<int>{4, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3}));
  EXPECT_NEAR(predicted_balancedness(capped[0], kW.data()), 8.0 / 11.0, 1e-12);
  EXPECT_EQ(capped[0].logcnt, (std::vector<int>{1, 2, 2, 2, 2, 1, 1, 1}));
  EXPECT_EQ(slots_changed(one(kNow), capped), 1);
}

TEST(EplbMoveCap, HandWorkedClimbsMoveByMove) {
  // Cap 2: after slot 0, only slot 9 (1->6) may go (5 and 6 still have one
  // copy). It leaves r1 at 11 (balancedness stays 8/11) but evens the rest:
  // ranks [8 11 10 3] -> [6+2+1, 11, 3+2+2, 3+1+1] = [9 11 7 5], sum of squares
  // 294 -> 276, so it is made (the even order that lets the next move lower r1).
  const auto two = cap_expert_moves(one(kNow), one(kBest), kW, 2);
  EXPECT_EQ(two[0].phy2log, (std::vector<int>{4, 1, 2, 3, 4, 5, 6, 7, 0, 6, 2, 3}));
  EXPECT_NEAR(predicted_balancedness(two[0], kW.data()), 8.0 / 11.0, 1e-12);
  // Cap 3: now 6 has two copies, slot 6 (6->5) may go: 5 on 2 copies (2 each),
  // 6 on 1 (6): r0 9, r1 1+6+2 = 9, r2 2+2+2 = 6, r3 6+1+1 = 8: 8/9.
  const auto three = cap_expert_moves(one(kNow), one(kBest), kW, 3);
  EXPECT_EQ(three[0].phy2log, (std::vector<int>{4, 1, 2, 3, 4, 5, 5, 7, 0, 6, 2, 3}));
  EXPECT_NEAR(predicted_balancedness(three[0], kW.data()), 8.0 / 9.0, 1e-12);
  // Cap 4 (all the plan's moves) and no cap (0): the plan itself, balancedness 1.
  for (int cap : {4, 0, 100}) {
    const auto all = cap_expert_moves(one(kNow), one(kBest), kW, cap);
    EXPECT_EQ(all[0].phy2log, kBest) << "cap " << cap;
    EXPECT_NEAR(predicted_balancedness(all[0], kW.data()), 1.0, 1e-12);
  }
}

TEST(EplbMoveCap, CapCountsMovesOverAllLayers) {
  // Layer 1: the same placements, every expert's load 2: now r0 3, r1 1+2+2 = 5,
  // r2 2+2+1 = 5, r3 3 (4/5 = 0.8). Its best single move is slot 0 (0->4):
  // r0 1+1+1 = 3, r1 1+1+2 = 4, r2 2+2+2 = 6: max 6, a loss; slot 9 (1->6):
  // r0 1+2+1 = 4, r1 5, r2 1+2+1 = 4, r3 1+1+1 = 3: max 5, no gain (it
  // evens: sum of squares 9+25+25+9 = 68 -> 16+25+16+9 = 66).
  // Layer 0's slot 0 gains 8/11 - 8/17 = 0.257: with cap 1 it goes, and
  // layer 1 stays as it is.
  const std::vector<double> w2 = {2, 2, 2, 2, 12, 4, 6, 2, 2, 2, 2, 2, 2, 2, 2, 2};
  const std::vector<Placement> now = {one(kNow)[0], one(kNow)[0]};
  const std::vector<Placement> best = {one(kBest)[0], one(kBest)[0]};
  const auto capped = cap_expert_moves(now, best, w2, 1);
  EXPECT_EQ(capped[0].phy2log, (std::vector<int>{4, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3}));
  EXPECT_EQ(capped[1].phy2log, kNow);
  // The plan moves 8 slots: cap 8 takes it whole.
  EXPECT_EQ(slots_changed(now, best), 8);
  const auto whole = cap_expert_moves(now, best, w2, 8);
  EXPECT_EQ(whole[0].phy2log, kBest);
  EXPECT_EQ(whole[1].phy2log, kBest);
}

double mean_balancedness(const std::vector<Placement>& p, const std::vector<double>& w) {
  double s = 0;
  for (size_t l = 0; l < p.size(); ++l) s += predicted_balancedness(p[l], &w[l * p[l].num_logical]);
  return s / static_cast<double>(p.size());
}

TEST(EplbMoveCap, RandomReplansStayValidWithinTheCapAndClimb) {
  // 16 ranks x 5 slots, 64 experts, 2 layers, zipf-like loads; in force the
  // first placement (i % E), the re-plan wideep's packing aligned to it.
  std::mt19937 rng(7);
  for (int trial = 0; trial < 5; ++trial) {
    const int R = 16, E = 64, P = 80, L = 2;
    std::vector<double> w(static_cast<size_t>(L) * E);
    for (double& v : w) v = std::floor(1000.0 / (1 + rng() % 40));
    EplbInput in;
    in.num_layers = L;
    in.num_logical = E;
    in.weight = w;
    in.num_replicas = P;
    in.num_gpus = R;
    std::vector<Placement> now(L, Placement::initial(R, E, P / R));
    std::vector<Placement> plan = rebalance_experts(in, EplbPolicy::kWideep);
    for (int l = 0; l < L; ++l) plan[l] = align_to_previous(now[l], plan[l]);
    const int64_t full = slots_changed(now, plan);
    ASSERT_GT(full, 8);
    double prev = mean_balancedness(now, w);
    for (int64_t cap = 1; cap < full; cap += 3) {
      const auto capped = cap_expert_moves(now, plan, w, cap);
      for (const Placement& p : capped) EXPECT_EQ(p.validate(), "");
      EXPECT_LE(slots_changed(now, capped), cap);
      // The greedy with a larger cap continues the smaller cap's moves:
      // predicted balancedness never falls as the cap grows.
      const double b = mean_balancedness(capped, w);
      EXPECT_GE(b, prev - 1e-12) << "trial " << trial << " cap " << cap;
      prev = b;
    }
    EXPECT_GT(prev, mean_balancedness(now, w));
  }
}

TEST(EplbMoveCap, ShapesMustMatch) {
  const std::vector<Placement> a = one(kNow);
  const std::vector<Placement> b = {Placement::initial(2, 8, 6)};
  EXPECT_THROW(cap_expert_moves(a, b, kW, 1), UsageError);
  EXPECT_THROW(cap_expert_moves(a, {}, kW, 1), UsageError);
}

}  // namespace
}  // namespace wideep
