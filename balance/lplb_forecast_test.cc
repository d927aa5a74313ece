// Tests of the automatic mode's forecast (issue 32): synthetic steps drawn from
// EPLB's window have the exchange's sums with the hand-worked means and
// variances, the forecast's verdict pays where the LP evens out a hot rank
// and is far where the placement is already even, and the gate takes it.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "balance/lplb_forecast.h"

namespace wideep {
namespace {

struct Moments {
  double mean = 0, var = 0;
};
Moments moments(const std::vector<double>& x) {
  Moments m;
  for (double v : x) m.mean += v;
  m.mean /= x.size();
  for (double v : x) m.var += (v - m.mean) * (v - m.mean);
  m.var /= x.size() - 1;
  return m;
}

TEST(LplbForecast, DrawsTheExchangesSumsWithPoissonMoments) {
  // 4 ranks as 2 nodes of 2, one slot each: phy2log [0 1 | 0 1] (e0 on ranks
  // 0 and 2, e1 on 1 and 3). Popularity [3 1], 100 pairs per rank: a rank's
  // pairs of e0 have mean 75 (the normal branch), of e1 25 (inversion).
  // slot_rank: mean = variance = 75 (slot 0), 25 (slot 1). slot_node: the
  // holder's pairs plus its node-mate's, 150 and 50. counts: both nodes hold
  // both experts, so counts[e] is exactly its two nodes' sums: 300 and 100.
  const Placement p = Placement::from_phy2log(4, 2, {0, 1, 0, 1});
  const double pop[2] = {3, 1};
  const int N = 4000;
  std::vector<double> c0, c1, r0, r1, n0;
  LplbDraw d;
  for (int i = 0; i < N; ++i) {
    draw_lplb_step(p, pop, 100, 2, 1000 + i, &d);
    ASSERT_EQ(d.counts[0], d.slot_node[0] + d.slot_node[2]);
    ASSERT_EQ(d.counts[1], d.slot_node[1] + d.slot_node[3]);
    for (int s = 0; s < 4; ++s) ASSERT_GE(d.slot_node[s], d.slot_rank[s]);
    c0.push_back(d.counts[0]);
    c1.push_back(d.counts[1]);
    r0.push_back(d.slot_rank[0]);
    r1.push_back(d.slot_rank[1]);
    n0.push_back(d.slot_node[0]);
  }
  // Standard errors of the means: sqrt(var / 4000) <= 0.28; of the variances
  // var x sqrt(2 / 3999) ~ 2.2 %: the bounds are > 5 of them.
  EXPECT_NEAR(moments(c0).mean, 300, 1.5);
  EXPECT_NEAR(moments(c1).mean, 100, 1.0);
  EXPECT_NEAR(moments(r0).mean, 75, 0.8);
  EXPECT_NEAR(moments(r1).mean, 25, 0.5);
  EXPECT_NEAR(moments(n0).mean, 150, 1.0);
  EXPECT_NEAR(moments(c0).var, 300, 300 * 0.12);
  EXPECT_NEAR(moments(c1).var, 100, 100 * 0.12);
  EXPECT_NEAR(moments(r0).var, 75, 75 * 0.12);
  EXPECT_NEAR(moments(r1).var, 25, 25 * 0.12);
}

TEST(LplbForecast, DrawsTheRestOfTheJobAndSharesARanksDraw) {
  // 2 ranks, no node level, two slots each: phy2log [0 0 | 1 2]. Rank 0's
  // two copies of e0 share its one draw; rank 1 holds no e0, so counts[0] =
  // slot_rank[0] + one draw of mean 50 (popularity [1 1 0], 100 pairs per
  // rank: 50 of e0, 50 of e1 per rank): mean 100. e2 is never picked: 0.
  // Without a node level slot_node stays 0.
  const Placement p = Placement::from_phy2log(2, 3, {0, 0, 1, 2});
  const double pop[3] = {1, 1, 0};
  const int N = 4000;
  std::vector<double> rest;
  LplbDraw d;
  for (int i = 0; i < N; ++i) {
    draw_lplb_step(p, pop, 100, 0, 7 + i, &d);
    ASSERT_EQ(d.slot_rank[0], d.slot_rank[1]);
    ASSERT_EQ(d.counts[2], 0);
    ASSERT_EQ(d.slot_rank[3], 0);
    for (int s = 0; s < 4; ++s) ASSERT_EQ(d.slot_node[s], 0);
    ASSERT_GE(d.counts[0], d.slot_rank[0]);
    rest.push_back(static_cast<double>(d.counts[0] - d.slot_rank[0]));
  }
  EXPECT_NEAR(moments(rest).mean, 50, 0.6);
  EXPECT_NEAR(moments(rest).var, 50, 50 * 0.12);
  // The same seed draws the same step; another seed another.
  LplbDraw a, b, c;
  draw_lplb_step(p, pop, 100, 0, 42, &a);
  draw_lplb_step(p, pop, 100, 0, 42, &b);
  draw_lplb_step(p, pop, 100, 0, 43, &c);
  EXPECT_EQ(a.counts, b.counts);
  EXPECT_EQ(a.slot_rank, b.slot_rank);
  EXPECT_NE(a.counts, c.counts);
}

// Expert time 1 us per pair, links free; solve and exchange cost `cost_us` each.
LplbCostModel pairs_model(double cost_us) {
  LplbCostModel m;
  m.tile_tokens = 1;
  m.pair_us = 1;
  m.solve_fixed_us = cost_us;
  m.exchange_us = cost_us;
  return m;
}

// The forecast on 2 ranks, phy2log [0 1 | 0 2] (e0 on both, e1 on rank 0,
// e2 on rank 1), seed 11.
LplbVerdict forecast_two_ranks(const double* pop, int64_t pairs_per_rank, double cost_us) {
  const Placement p = Placement::from_phy2log(2, 3, {0, 1, 0, 2});
  LayerLp lp;
  lp.init(2, 3, 0, false, 0);
  LplbDraw d;
  return lplb_global_forecast(p, pop, pairs_per_rank, 0, pairs_model(cost_us), &lp, 11, &d);
}

TEST(LplbForecast, PaysWhereTheLpEvensOutAHotRank) {
  // 2 ranks: phy2log [0 1 | 0 2], popularity [1 2 0], 1000 pairs per rank:
  // e0 ~ 667, e1 ~ 1333 in all. Fixed rule: rank 0 takes c0 / 2 + c1 ~ 1667,
  // rank 1 c0 / 2 ~ 333. The LP moves e0 to rank 1: largest c1 ~ 1333 (c1 >
  // c0). Gain ~ c0 / 2 ~ 333 us, far above 3 x (1 + 1): paid.
  const double pop[3] = {1, 2, 0};
  const LplbVerdict v = forecast_two_ranks(pop, 1000, 1);
  EXPECT_NEAR(v.gain_us, 333, 30);  // 4 draws: sd of the mean c0 / 2 ~ 6.5
  EXPECT_TRUE(v.paid);
  EXPECT_TRUE(v.use);
  EXPECT_FALSE(v.far);
  EXPECT_EQ(lplb_forecast_of(v), LplbForecast::kPlan);
}

TEST(LplbForecast, FarWhereThePlacementIsAlreadyEven) {
  // The same placement, popularity [2 1 1], 100 pairs per rank: fixed rule
  // c0 / 2 + c1 and c0 / 2 + c2, the LP at best their mean: the gain is
  // |c1 - c2| / 2, about 4 us (sd of c1 - c2: sqrt(50 + 50) = 10), below one
  // probe (solve 10 + exchange 10): far, not paid.
  const double pop[3] = {2, 1, 1};
  const LplbVerdict v = forecast_two_ranks(pop, 100, 10);
  EXPECT_LT(v.gain_us, 12);
  EXPECT_TRUE(v.far);
  EXPECT_FALSE(v.paid);
  EXPECT_FALSE(v.use);
  EXPECT_EQ(lplb_forecast_of(v), LplbForecast::kQuiet);
}

TEST(LplbForecast, TheGateTakesTheForecastOfThePlacementItServes) {
  const Placement a = Placement::from_phy2log(2, 2, {0, 1, 0, 1});
  const Placement b = Placement::from_phy2log(2, 2, {0, 1, 1, 0});
  LplbGate g;
  g.init(1);
  g.see(0, a);
  EXPECT_TRUE(g.want(0));
  g.record(0, false, false, &a);  // not paid, not far: probes every 8 from here
  // Far for b, while a still serves: nothing changes (step 8 probes).
  g.expect(0, placement_key(b), LplbForecast::kQuiet);
  g.see(8, a);
  EXPECT_TRUE(g.want(8));
  g.record(8, false, false, &a);
  // b serves from step 9: probes only at multiples of 64.
  g.see(9, b);
  EXPECT_EQ(g.probe_every(0), LplbGate::kMaxProbeEvery);
  for (int64_t c = 9; c < 64; ++c) {
    g.see(c, b);
    EXPECT_FALSE(g.want(c)) << c;
  }
  g.see(64, b);
  EXPECT_TRUE(g.want(64));
  g.record(64, false, true, &b);  // still far: stays quiet
  g.see(72, b);
  EXPECT_FALSE(g.want(72));
  // Paid for a (the next re-plan): it plans from its first step, off the probe steps.
  g.expect(0, placement_key(a), LplbForecast::kPlan);
  g.see(75, a);
  EXPECT_TRUE(g.want(75));
  EXPECT_EQ(g.probe_every(0), LplbGate::kProbeEvery);
}

}  // namespace
}  // namespace wideep
