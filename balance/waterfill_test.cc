// Tests of the Waterfill balancers: the shared-expert fill (row sums, water
// level, local first) and the greedy routed fill (valid, never below the exact
// LP optimum, and close to it on typical loads), and SGLang's per-token draw
// (candidates, small batches, local bonus, repeatable).
#include "balance/waterfill.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

namespace wideep {
namespace {

TEST(WaterfillShared, QuotasRowSumsAndLevel) {
  std::mt19937_64 rng(3);
  for (int it = 0; it < 2000; ++it) {
    const int R = 1 + rng() % 16;
    std::vector<int64_t> routed(R), shared(R), move(R * R);
    for (int r = 0; r < R; ++r) {
      routed[r] = rng() % (it % 2 ? 1000 : 10);
      shared[r] = rng() % (it % 3 ? 500 : 5);
    }
    waterfill_shared(routed.data(), shared.data(), R, move.data());
    int64_t total = 0;
    bool feasible = true;
    for (int r = 0; r < R; ++r) total += routed[r] + shared[r];
    const int64_t H = (total + R - 1) / R;
    for (int r = 0; r < R; ++r) feasible &= routed[r] <= H;
    for (int src = 0; src < R; ++src) {
      int64_t row = 0;
      for (int dst = 0; dst < R; ++dst) {
        ASSERT_GE(move[src * R + dst], 0);
        row += move[src * R + dst];
      }
      ASSERT_EQ(row, shared[src]);
      // Local first: a rank keeps all it can below H before anything leaves.
      ASSERT_EQ(move[src * R + src], std::min(shared[src], std::max<int64_t>(H - routed[src], 0)));
    }
    for (int dst = 0; dst < R; ++dst) {
      int64_t load = routed[dst];
      for (int src = 0; src < R; ++src) load += move[src * R + dst];
      if (feasible) {
        ASSERT_LE(load, H);
      }
      // Nothing is sent to a rank that ends above H.
      if (load > H) {
        for (int src = 0; src < R; ++src) {
          if (src != dst) {
            ASSERT_EQ(move[src * R + dst], 0);
          }
        }
      }
    }
  }
}

TEST(WaterfillShared, HandExample) {
  // Loads 10, 0, 2 and 3 shared tokens each: total 21, H = 7. Rank 0 keeps
  // nothing and sends its 3 to rank 1 (slack 4), which keeps its own 3 first.
  std::vector<int64_t> routed = {10, 0, 2}, shared = {3, 3, 3}, move(9);
  waterfill_shared(routed.data(), shared.data(), 3, move.data());
  EXPECT_EQ(move, (std::vector<int64_t>{0, 3, 0, 0, 3, 0, 0, 0, 3}));
}

TEST(WaterfillRouted, ValidAndNeverBelowLp) {
  std::mt19937_64 rng(5);
  LpSolver solver;
  LpResult lp, wf;
  int close = 0;
  const int n = 1000;
  for (int it = 0; it < n; ++it) {
    const int R = 2 + rng() % 12, S = 2 + rng() % 3, E = R * S - rng() % R;
    std::vector<int> p2l(R * S);
    for (int s = 0; s < R * S; ++s) p2l[s] = s < E ? s : static_cast<int>(rng() % E);
    std::shuffle(p2l.begin(), p2l.end(), rng);
    const Placement p = lp_placement(R, E, p2l, "test");
    std::vector<int64_t> counts(E);
    for (int e = 0; e < E; ++e) counts[e] = static_cast<int64_t>(1000 / std::pow(e + 1.0, 1.2) * (rng() % 100) / 50);
    const LpInput in{&p, counts.data(), nullptr, nullptr, 0};
    waterfill_routed(in, &wf);
    solver.solve(in, &lp);
    std::vector<int64_t> per_expert(E, 0), loads(R, 0);
    for (int s = 0; s < p.num_slots(); ++s) {
      ASSERT_GE(wf.copy_tokens[s], 0);
      per_expert[p.phy2log[s]] += wf.copy_tokens[s];
      loads[p.rank_of_slot(s)] += wf.copy_tokens[s];
    }
    ASSERT_EQ(per_expert, counts);
    ASSERT_EQ(loads, wf.rank_loads);
    ASSERT_EQ(wf.max_load, *std::max_element(loads.begin(), loads.end()));
    ASSERT_GE(wf.max_load, lp.max_load);
    EXPECT_EQ(wf.lp_opt, -1);
    close += wf.max_load <= lp.max_load * 1.10 + 1;
  }
  // Greedy is usually within 10% of the exact optimum.
  EXPECT_GT(close, n * 7 / 10) << close << " of " << n;
  std::printf("waterfill_routed within 10%% (+1) of the LP optimum: %d of %d\n", close, n);
}

TEST(WaterfillRouted, LevelsCopies) {
  // One expert on 3 ranks with base loads 0, 2, 5 and 6 tokens: fill to 4, 4, 5.
  Placement p = lp_placement(3, 1, {0, 0, 0}, "test");
  std::vector<int64_t> c = {6}, base = {0, 2, 5};
  LpResult res;
  waterfill_routed({&p, c.data(), nullptr, base.data(), 0}, &res);
  EXPECT_EQ(res.copy_tokens, (std::vector<int64_t>{4, 2, 0}));
  EXPECT_EQ(res.max_load, 5);
}

// 4 ranks, rank 1's 100 tokens route to rank 2 (k = 0) and rank 3 (k = 1).
struct SglangCase {
  std::vector<int64_t> loads;
  std::vector<int32_t> routed;
  std::vector<int32_t> dest;
  SglangWaterfillInput in;
  SglangCase(std::vector<int64_t> l, int T, bool dynamic) : loads(std::move(l)), routed(T * 2), dest(T) {
    for (int t = 0; t < T; ++t) {
      routed[t * 2] = 2;
      routed[t * 2 + 1] = 3;
    }
    in.num_ranks = 4;
    in.rank = 1;
    in.tokens = T;
    in.topk = 2;
    in.shared = 1;
    in.first_token = 100;
    in.rank_loads = loads.data();
    in.routed_dest = routed.data();
    in.dynamic = dynamic;
    in.key = 42;
  }
  std::vector<int> histogram() {
    waterfill_sglang(in, dest.data());
    std::vector<int> h(4, 0);
    for (int32_t d : dest) ++h[d];
    return h;
  }
};

TEST(WaterfillSglang, CandidatesAreHomeAndRoutedRanksWhileAboveLevel) {
  // Loads 1000, 0, 100, 0 (+ 400 shared): H = 375, rank 0 above it, so only
  // ranks 1, 2, 3 are candidates; rank 0 never gets a pair.
  SglangCase c({1000, 0, 100, 0}, 100, true);
  const std::vector<int> h = c.histogram();
  EXPECT_EQ(h[0], 0);
  EXPECT_EQ(h[1] + h[2] + h[3], 100);
  EXPECT_GT(h[2], 0);
  // Weights 375*11 : 275 : 375 (home bonus 11/10): home gets the most.
  EXPECT_GT(h[1], h[2]);
}

TEST(WaterfillSglang, AllRanksOnceNoRankIsAboveTheLevel) {
  // Loads 10, 300, 300, 300 (+ 400): H = 328 >= max, so rank 0 (not routed to)
  // is a candidate too, and gets most of the pairs.
  SglangCase c({10, 300, 300, 300}, 100, true);
  const std::vector<int> h = c.histogram();
  EXPECT_GT(h[0], h[1] + h[2] + h[3]);
  // Static mode: candidates stay home and routed ranks.
  SglangCase s({10, 300, 300, 300}, 100, false);
  EXPECT_EQ(s.histogram()[0], 0);
}

TEST(WaterfillSglang, SmallBatchesAndNoSlackStayLocal) {
  SglangCase small({1000, 0, 0, 0}, kSglangMinBalanceTokens - 1, true);
  EXPECT_EQ(small.histogram()[1], kSglangMinBalanceTokens - 1);
  // Every candidate at or above the level: nothing to fill, all local.
  SglangCase full({0, 5000, 5000, 5000}, 100, true);
  EXPECT_EQ(full.histogram()[1], 100);
}

TEST(WaterfillSglang, RepeatsAndDependsOnTheKey) {
  SglangCase a({1000, 0, 100, 0}, 200, true), b({1000, 0, 100, 0}, 200, true);
  a.histogram();
  b.histogram();
  EXPECT_EQ(a.dest, b.dest);
  b.in.key = 43;
  b.histogram();
  EXPECT_NE(a.dest, b.dest);
}

}  // namespace
}  // namespace wideep
