// Tests of EPLB: DeepSeek's README example, input errors, balanced_packing,
// max_gpu_load, align_to_previous, and properties of both policies over many
// random inputs (valid, all served, wideep never co-located and never worse),
// with quality floors: optimal on most tiny shapes, balancedness per zipf exponent.
#include "balance/eplb.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>

#include "balance/oracle_testing.h"
#include "common/check.h"

namespace wideep {
namespace {

EplbInput make_input(int layers, int experts, int replicas, int groups, int nodes, int gpus,
                     std::vector<double> weight) {
  EplbInput in;
  in.num_layers = layers;
  in.num_logical = experts;
  in.weight = std::move(weight);
  in.num_replicas = replicas;
  in.num_groups = groups;
  in.num_nodes = nodes;
  in.num_gpus = gpus;
  return in;
}

EplbInput readme_input() {
  return make_input(2, 12, 16, 4, 2, 8,
                    {90, 132, 40, 61, 104, 165, 39, 4, 73, 56, 183, 86,
                     20, 107, 104, 64, 19, 197, 187, 157, 172, 86, 16, 27});
}

bool colocated(const Placement& p) {
  for (int r = 0; r < p.num_ranks; ++r) {
    std::vector<int> v(p.phy2log.begin() + r * p.slots_per_rank,
                       p.phy2log.begin() + (r + 1) * p.slots_per_rank);
    std::sort(v.begin(), v.end());
    if (std::adjacent_find(v.begin(), v.end()) != v.end()) return true;
  }
  return false;
}

TEST(Eplb, DeepseekReadmeExample) {
  const EplbInput in = readme_input();
  auto out = rebalance_experts(in, EplbPolicy::kDeepseek);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].phy2log, (std::vector<int>{5, 6, 5, 7, 8, 4, 3, 4, 10, 9, 10, 2, 0, 1, 11, 1}));
  EXPECT_EQ(out[1].phy2log, (std::vector<int>{7, 10, 6, 8, 6, 11, 8, 9, 2, 4, 5, 1, 5, 0, 3, 1}));
  for (const Placement& p : out) {
    EXPECT_EQ(p.num_ranks, 8);
    EXPECT_EQ(p.slots_per_rank, 2);
    EXPECT_EQ(p.validate(), "");
  }
}

TEST(Eplb, GlobalPolicyWhenGroupsDoNotDivideByNodes) {
  // 3 groups on 2 nodes: DeepSeek falls back to one group and one node.
  EplbInput in = make_input(1, 6, 8, 3, 2, 4, {10, 1, 1, 1, 1, 30});
  auto a = rebalance_experts(in, EplbPolicy::kDeepseek);
  in.num_groups = 1;
  in.num_nodes = 1;
  auto b = rebalance_experts(in, EplbPolicy::kDeepseek);
  EXPECT_EQ(a[0].phy2log, b[0].phy2log);
  EXPECT_EQ(a[0].logcnt[5], 3);  // both redundant slots go to expert 5: 30/1, then 30/2 = 15 > 10
  EXPECT_EQ(a[0].logcnt[0], 1);
}

TEST(Eplb, ParsePolicy) {
  EXPECT_EQ(parse_eplb_policy("deepseek"), EplbPolicy::kDeepseek);
  EXPECT_EQ(parse_eplb_policy("wideep"), EplbPolicy::kWideep);
  try {
    parse_eplb_policy("greedy", "--policy");
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--policy"), std::string::npos);
  }
}

void expect_usage_error(const EplbInput& in, const std::string& needle) {
  for (EplbPolicy p : {EplbPolicy::kDeepseek, EplbPolicy::kWideep}) {
    try {
      rebalance_experts(in, p);
      ADD_FAILURE() << "no error, expected one naming " << needle;
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  }
}

TEST(Eplb, RejectsImpossibleShapes) {
  const EplbInput ok = readme_input();
  EplbInput in = ok;
  in.num_replicas = 8;  // fewer than 12 experts
  expect_usage_error(in, "--replicas");
  in = ok;
  in.num_replicas = 20;  // not a multiple of 8 GPUs
  expect_usage_error(in, "--replicas");
  in = ok;
  in.num_gpus = 6;  // 16 % 6 != 0
  expect_usage_error(in, "--gpus");
  in = ok;
  in.num_nodes = 3;  // 8 GPUs on 3 nodes
  expect_usage_error(in, "--nodes");
  in = ok;
  in.num_groups = 8;  // 12 experts in 8 groups (8 % 2 == 0: hierarchical)
  expect_usage_error(in, "--groups");
  in = ok;
  in.weight[3] = -1;
  expect_usage_error(in, "--loads");
  in = ok;
  in.weight[3] = NAN;
  expect_usage_error(in, "--loads");
  in = ok;
  in.weight.pop_back();
  expect_usage_error(in, "--loads");
}

TEST(Eplb, BalancedPacking) {
  const double w[] = {5, 1, 4, 2, 3, 3};
  int pack[6], rank[6];
  balanced_packing(w, 6, 2, pack, rank);
  // Order 5, 4, 3 (index 4), 3 (index 5), 2, 1: 5->p0, 4->p1, 3->p1 (p1 7),
  // 3->p0 (p0 8), 2->p1 (p1 9, full), 1->p0 (p0 9).
  double sum[2] = {0, 0};
  int items[2] = {0, 0};
  for (int i = 0; i < 6; ++i) sum[pack[i]] += w[i], ++items[pack[i]];
  EXPECT_EQ(items[0], 3);
  EXPECT_EQ(items[1], 3);
  EXPECT_EQ(sum[0], 9);
  EXPECT_EQ(sum[1], 9);
  EXPECT_EQ(pack[0], 0);  // heaviest first into pack 0 (ties to the lowest pack)
  EXPECT_EQ(rank[0], 0);
  // Ties in weight: the lowest index is placed first.
  const double eq[] = {1, 1, 1, 1};
  balanced_packing(eq, 4, 2, pack, rank);
  EXPECT_EQ((std::vector<int>(pack, pack + 4)), (std::vector<int>{0, 1, 0, 1}));
  EXPECT_EQ((std::vector<int>(rank, rank + 4)), (std::vector<int>{0, 0, 1, 1}));
  // One item per pack: DeepSeek's shortcut, item i in pack i.
  const double one[] = {1, 3, 2};
  balanced_packing(one, 3, 3, pack, rank);
  EXPECT_EQ((std::vector<int>(pack, pack + 3)), (std::vector<int>{0, 1, 2}));
  EXPECT_THROW(balanced_packing(one, 3, 2, pack, rank), UsageError);
}

TEST(Eplb, MaxGpuLoad) {
  // 2 ranks x 2 slots; expert 0 has two copies (each 10/2), experts 1, 2 one each.
  Placement p = Placement::from_phy2log(2, 3, {0, 1, 0, 2});
  const double w[] = {10, 3, 7};
  EXPECT_DOUBLE_EQ(max_gpu_load(p, w), 12.0);
}

TEST(Eplb, AlignToPrevious) {
  // Rank 0 held {0,1,2}, now holds {2,3,0}: 0 and 2 keep their slots, 3 takes slot 1.
  Placement old_p = Placement::from_phy2log(2, 6, {0, 1, 2, 3, 4, 5});
  Placement fresh = Placement::from_phy2log(2, 6, {2, 3, 0, 1, 5, 4});
  Placement a = align_to_previous(old_p, fresh);
  EXPECT_EQ(a.phy2log, (std::vector<int>{0, 3, 2, 1, 4, 5}));
  // Same multiset per rank as `fresh`.
  for (int r = 0; r < 2; ++r) {
    std::vector<int> x(a.phy2log.begin() + 3 * r, a.phy2log.begin() + 3 * r + 3);
    std::vector<int> y(fresh.phy2log.begin() + 3 * r, fresh.phy2log.begin() + 3 * r + 3);
    std::sort(x.begin(), x.end());
    std::sort(y.begin(), y.end());
    EXPECT_EQ(x, y);
  }
  // Duplicates: two copies of 1 held before in slots 0 and 2 stay there.
  Placement od = Placement::from_phy2log(1, 3, {1, 0, 1, 2});
  Placement fd = Placement::from_phy2log(1, 3, {2, 1, 1, 0});
  EXPECT_EQ(align_to_previous(od, fd).phy2log, (std::vector<int>{1, 0, 1, 2}));
  Placement other = Placement::from_phy2log(3, 6, {0, 1, 2, 3, 4, 5});
  EXPECT_THROW(align_to_previous(old_p, other), UsageError);
}

TEST(Eplb, AlignKeepsEveryStayingExpert) {
  // Random pairs of placements: every expert a rank holds in both keeps a slot it had.
  const int R = 8, S = 5, E = 32;
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    auto in = make_input(2, E, R * S, 4, 2, R, zipf_layer_loads(2, E, 1.0 + (trial % 5) * 0.1, trial));
    auto ps = rebalance_experts(in, trial % 2 ? EplbPolicy::kWideep : EplbPolicy::kDeepseek);
    Placement a = align_to_previous(ps[0], ps[1]);
    for (int r = 0; r < R; ++r) {
      for (int i = 0; i < S; ++i) {
        const int old_e = ps[0].phy2log[r * S + i];
        const int held_new = static_cast<int>(std::count(ps[1].phy2log.begin() + r * S,
                                                         ps[1].phy2log.begin() + (r + 1) * S, old_e));
        if (held_new > 0) {
          // Some slot of this rank that held old_e still holds it.
          bool kept = false;
          for (int j = 0; j < S; ++j)
            kept |= ps[0].phy2log[r * S + j] == old_e && a.phy2log[r * S + j] == old_e;
          EXPECT_TRUE(kept);
        }
      }
    }
    EXPECT_EQ(max_gpu_load(a, &in.weight[in.num_logical]), max_gpu_load(ps[1], &in.weight[in.num_logical]));
  }
}

// Properties over many random shapes and loads, both policies.
TEST(Eplb, PropertiesOnRandomInputs) {
  std::mt19937_64 rng(12345);
  int checked = 0, strictly_better = 0, fallbacks = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const int nodes = 1 + static_cast<int>(rng() % 4);
    const int gpus_per_node = 1 + static_cast<int>(rng() % 4);
    const int gpus = nodes * gpus_per_node;
    const int groups = nodes * (1 + static_cast<int>(rng() % 3)) + (trial % 7 == 0 ? 1 : 0);
    const int group_size = 1 + static_cast<int>(rng() % 6);
    const int experts = groups * group_size;
    int slots = (experts + gpus - 1) / gpus + static_cast<int>(rng() % 3);
    const int replicas = slots * gpus;
    const int layers = 1 + static_cast<int>(rng() % 2);
    std::vector<double> w(static_cast<size_t>(layers) * experts);
    const int kind = trial % 4;
    for (double& x : w) {
      if (kind == 0) x = static_cast<double>(rng() % 1000);
      if (kind == 1) x = std::floor(1e5 / std::pow(1 + rng() % experts, 1.3));
      if (kind == 2) x = static_cast<double>(rng() % 3);  // many ties and zeros
      if (kind == 3) x = std::ldexp(static_cast<double>(rng() % 1000), -5) + 0.1;
    }
    EplbInput in = make_input(layers, experts, replicas, groups, nodes, gpus, w);
    auto ds = rebalance_experts(in, EplbPolicy::kDeepseek);
    auto wd = rebalance_experts(in, EplbPolicy::kWideep);
    ASSERT_EQ(ds.size(), static_cast<size_t>(layers));
    ASSERT_EQ(wd.size(), static_cast<size_t>(layers));
    for (int l = 0; l < layers; ++l) {
      const double* wl = &w[static_cast<size_t>(l) * experts];
      for (const Placement* p : {&ds[l], &wd[l]}) {
        EXPECT_EQ(p->validate(true), "");  // every expert has a copy
        EXPECT_EQ(p->num_ranks, gpus);
        EXPECT_EQ(p->num_slots(), replicas);
      }
      const double a = max_gpu_load(wd[l], wl), b = max_gpu_load(ds[l], wl);
      EXPECT_LE(a, b) << "trial " << trial;
      if (colocated(wd[l])) {
        // Only the documented fallback co-locates: the reference itself, in a
        // tightly constrained shape (proved necessary in FallbackIsNecessary).
        EXPECT_EQ(wd[l].phy2log, ds[l].phy2log) << "trial " << trial;
        EXPECT_LE(experts, 2 * slots) << "trial " << trial;
        ++fallbacks;
      }
      strictly_better += a < b;
      ++checked;
    }
    // Deterministic: the same input gives the same placement.
    auto again = rebalance_experts(in, EplbPolicy::kWideep);
    for (int l = 0; l < layers; ++l) EXPECT_EQ(again[l].phy2log, wd[l].phy2log);
  }
  std::printf("[ random ] %d layers checked, wideep strictly lower max GPU load on %d, "
              "fallbacks to the reference %d\n", checked, strictly_better, fallbacks);
}

// Best duplicate-free max GPU load by exhaustive search (tiny shapes only):
// each GPU takes an S-subset of the experts, every expert at least once.
double brute_force_no_colocation(const double* w, int E, int G, int S) {
  std::vector<std::vector<int>> subsets;
  for (int m = 0; m < (1 << E); ++m) {
    if (__builtin_popcount(m) != S) continue;
    subsets.emplace_back();
    for (int e = 0; e < E; ++e)
      if (m >> e & 1) subsets.back().push_back(e);
  }
  double best = INFINITY;
  std::vector<int> pick(G, 0);
  const int n = static_cast<int>(subsets.size());
  while (true) {
    std::vector<int> cnt(E, 0);
    for (int g = 0; g < G; ++g)
      for (int e : subsets[pick[g]]) ++cnt[e];
    if (std::find(cnt.begin(), cnt.end(), 0) == cnt.end()) {
      double peak = 0;
      for (int g = 0; g < G; ++g) {
        double sum = 0;
        for (int e : subsets[pick[g]]) sum += w[e] / cnt[e];
        peak = std::max(peak, sum);
      }
      best = std::min(best, peak);
    }
    // Next non-decreasing tuple (GPUs are interchangeable).
    int g = G - 1;
    while (g >= 0 && pick[g] == n - 1) --g;
    if (g < 0) break;
    ++pick[g];
    for (int k = g + 1; k < G; ++k) pick[k] = pick[g];
  }
  return best;
}

// Where wideep falls back to the reference (co-located copies), no
// duplicate-free placement is as good: the fallback is necessary, not a
// weakness of the search. Also counts how often the search reaches the optimum.
TEST(Eplb, FallbackIsNecessaryOnTinyShapes) {
  std::mt19937_64 rng(99);
  int cases = 0, optimal = 0, fallbacks = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const int G = 2 + static_cast<int>(rng() % 3);
    const int S = 2 + static_cast<int>(rng() % 3);
    const int E = std::min(G * S, S + static_cast<int>(rng() % 4));
    if (E > 7) continue;
    std::vector<double> w(E);
    for (double& x : w) x = static_cast<double>(rng() % 100);
    EplbInput in = make_input(1, E, G * S, 1, 1, G, w);
    auto ds = rebalance_experts(in, EplbPolicy::kDeepseek);
    auto wd = rebalance_experts(in, EplbPolicy::kWideep);
    const double best = brute_force_no_colocation(w.data(), E, G, S);
    const double a = max_gpu_load(wd[0], w.data()), b = max_gpu_load(ds[0], w.data());
    EXPECT_LE(a, b);
    if (colocated(wd[0])) {
      EXPECT_GT(best, b) << "trial " << trial;
      ++fallbacks;
    } else {
      EXPECT_GE(a, best * (1 - 1e-12));
      optimal += a <= best * (1 + 1e-12);
    }
    ++cases;
  }
  std::printf("[ tiny ] %d cases: wideep optimal among duplicate-free placements on %d, "
              "necessary fallbacks %d\n", cases, optimal, fallbacks);
  // The search is meant to reach the duplicate-free optimum on tiny shapes: it
  // did on 270 of the 276 cases without a fallback when this was written. A
  // greedy start that packs badly leaves the local search short of it far more
  // often, which the per-case bounds above (never better than the optimum,
  // never worse than deepseek) cannot see.
  EXPECT_GE(cases, 250);
  EXPECT_GE(optimal, 0.95 * (cases - fallbacks)) << optimal << " optimal of " << cases - fallbacks;
}

// The study of issue 3: 256 experts, 32 redundant (288 slots), 32 GPUs, 8 groups,
// 4 nodes, zipf S in {1.0, 1.2, 1.5}, 50 inputs each. Per input wideep <= deepseek;
// on average strictly lower. Prints the means (the figures in docs/results.md).
TEST(Eplb, ZipfStudyWideepVsDeepseek) {
  for (double s : {1.0, 1.2, 1.5}) {
    double sum_ds = 0, sum_wd = 0, sum_ideal = 0;
    const int inputs = 50;
    for (int i = 0; i < inputs; ++i) {
      EplbInput in = make_input(1, 256, 288, 8, 4, 32, zipf_layer_loads(1, 256, s, 1000 + i));
      auto ds = rebalance_experts(in, EplbPolicy::kDeepseek);
      auto wd = rebalance_experts(in, EplbPolicy::kWideep);
      EXPECT_FALSE(colocated(wd[0]));
      const double a = max_gpu_load(wd[0], in.weight.data());
      const double b = max_gpu_load(ds[0], in.weight.data());
      EXPECT_LE(a, b);
      double total = 0;
      for (double x : in.weight) total += x;
      sum_wd += a, sum_ds += b, sum_ideal += total / 32;
    }
    EXPECT_LT(sum_wd, sum_ds);
    // Quality floor against the ideal (the mean GPU load, a lower bound of the
    // max): wideep <= deepseek holds by construction (it falls back), so only a
    // floor catches a policy that got worse. Measured: 0.9999, 0.9999, 0.9759.
    const double floor = s < 1.4 ? 0.999 : 0.97;
    EXPECT_GE(sum_ideal / sum_wd, floor) << "zipf " << s << ": balancedness against the ideal";
    std::printf("[ zipf %.1f ] mean max GPU load: deepseek %.0f  wideep %.0f  (mean load %.0f)  "
                "wideep/deepseek %.4f  balancedness deepseek %.4f wideep %.4f\n",
                s, sum_ds / inputs, sum_wd / inputs, sum_ideal / inputs, sum_wd / sum_ds,
                sum_ideal / sum_ds, sum_ideal / sum_wd);
  }
}

}  // namespace
}  // namespace wideep
