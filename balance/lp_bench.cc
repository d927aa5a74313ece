// Benchmarks of the exact LPLB solve plus the token split of one rank, and of
// GLPK's simplex on the same instances (the ratio goes to docs/results.md).
// Counts are zipf(1.2) samples with a fixed seed; 16 count vectors are cycled.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "balance/eplb.h"
#include "balance/lp.h"
#include "balance/oracle_testing.h"
#include "balance/token_split.h"
#include "balance/topology.h"

namespace wideep {
namespace {

constexpr int kTokensPerRank = 256, kTopk = 8, kVariants = 16;

struct Instance {
  Placement p;
  std::vector<std::vector<int64_t>> counts, rank_counts;  // [kVariants]
  std::vector<std::vector<int32_t>> topk_last;            // the last rank's routing per variant
};

// zipf(s) weights over experts in a fixed shuffled order.
std::vector<double> zipf_weights(int E, double s, std::mt19937_64& rng) {
  std::vector<int> perm(E);
  for (int e = 0; e < E; ++e) perm[e] = e;
  std::shuffle(perm.begin(), perm.end(), rng);
  std::vector<double> w(E);
  for (int e = 0; e < E; ++e) w[e] = 1.0 / std::pow(perm[e] + 1.0, s);
  return w;
}

// EPLB-like: extra slots go one by one to the expert with the highest load per
// copy; copies are packed onto ranks by balanced_packing.
Placement eplb_like(int R, int E, int P, const std::vector<double>& w) {
  std::vector<int> cnt(E, 1);
  for (int extra = 0; extra < P - E; ++extra) {
    int best = 0;
    for (int e = 1; e < E; ++e)
      if (w[e] / cnt[e] > w[best] / cnt[best]) best = e;
    ++cnt[best];
  }
  std::vector<int> expert;
  std::vector<double> load;
  for (int e = 0; e < E; ++e)
    for (int k = 0; k < cnt[e]; ++k) expert.push_back(e), load.push_back(w[e] / cnt[e]);
  std::vector<int> pack(P), pos(P), p2l(P);
  balanced_packing(load.data(), P, R, pack.data(), pos.data());
  for (int i = 0; i < P; ++i) p2l[pack[i] * (P / R) + pos[i]] = expert[i];
  return Placement::from_phy2log(R, E, p2l);
}

Instance make_instance(int R, int E, int P, bool cube) {
  std::mt19937_64 rng(2024);
  const std::vector<double> w = zipf_weights(E, 1.2, rng);
  Instance in;
  in.p = cube ? topology_placement(make_topology("cube", R), R, E, w.data()) : eplb_like(R, E, P, w);
  std::discrete_distribution<int> pick(w.begin(), w.end());
  for (int v = 0; v < kVariants; ++v) {
    std::vector<int64_t> c(E, 0), rc(static_cast<size_t>(R) * E, 0);
    std::vector<int32_t> ids(kTokensPerRank * kTopk);
    for (int r = 0; r < R; ++r)
      for (int i = 0; i < kTokensPerRank * kTopk; ++i) {
        const int e = pick(rng);
        ++c[e];
        ++rc[static_cast<size_t>(r) * E + e];
        if (r == R - 1) ids[i] = e;  // the last rank: the longest prefix
      }
    in.counts.push_back(c);
    in.rank_counts.push_back(rc);
    in.topk_last.push_back(ids);
  }
  return in;
}

const Instance& instance(int which) {
  static const Instance cube = make_instance(8, 64, 80, true);
  static const Instance mid = make_instance(64, 256, 320, false);
  static const Instance big = make_instance(256, 256, 512, false);
  return which == 0 ? cube : which == 1 ? mid : big;
}

void BM_LpSolveAndSplit(benchmark::State& state) {
  const Instance& in = instance(static_cast<int>(state.range(0)));
  LpSolver solver;
  LpResult res;
  std::vector<int32_t> slot(kTokensPerRank * kTopk);
  int v = 0;
  for (auto _ : state) {
    const LpInput li{&in.p, in.counts[v].data(), in.rank_counts[v].data(), nullptr, 8};
    solver.solve(li, &res);
    split_tokens(in.p, in.rank_counts[v].data(), res.copy_tokens.data(), in.p.num_ranks - 1, in.topk_last[v].data(),
                 kTokensPerRank, kTopk, 8, slot.data());
    benchmark::DoNotOptimize(slot.data());
    v = (v + 1) % kVariants;
  }
  state.counters["ranks"] = in.p.num_ranks;
  state.counters["slots"] = in.p.num_slots();
}

// The two parts alone, to see where the time goes.
void BM_LpSolveOnly(benchmark::State& state) {
  const Instance& in = instance(static_cast<int>(state.range(0)));
  LpSolver solver;
  LpResult res;
  int v = 0;
  for (auto _ : state) {
    solver.solve({&in.p, in.counts[v].data(), in.rank_counts[v].data(), nullptr, 8}, &res);
    benchmark::DoNotOptimize(res.max_load);
    v = (v + 1) % kVariants;
  }
}

void BM_SplitOnly(benchmark::State& state) {
  const Instance& in = instance(static_cast<int>(state.range(0)));
  LpSolver solver;
  std::vector<LpResult> res(kVariants);
  for (int v = 0; v < kVariants; ++v)
    solver.solve({&in.p, in.counts[v].data(), in.rank_counts[v].data(), nullptr, 8}, &res[v]);
  std::vector<int32_t> slot(kTokensPerRank * kTopk);
  int v = 0;
  for (auto _ : state) {
    split_tokens(in.p, in.rank_counts[v].data(), res[v].copy_tokens.data(), in.p.num_ranks - 1, in.topk_last[v].data(),
                 kTokensPerRank, kTopk, 8, slot.data());
    benchmark::DoNotOptimize(slot.data());
    v = (v + 1) % kVariants;
  }
}

void BM_GlpkSimplex(benchmark::State& state) {
  const Instance& in = instance(static_cast<int>(state.range(0)));
  int v = 0;
  for (auto _ : state) {
    // The same LP handed to GLPK's primal simplex, built from scratch each time.
    benchmark::DoNotOptimize(glpk_lp_optimum(in.p, in.counts[v].data(), nullptr));
    v = (v + 1) % kVariants;
  }
  state.counters["ranks"] = in.p.num_ranks;
}

// 0: 8 ranks cube, 64 experts; 1: 64 ranks, 256 experts, 320 slots;
// 2: 256 ranks, 256 experts, 512 slots.
BENCHMARK(BM_LpSolveAndSplit)->DenseRange(0, 2)->Unit(benchmark::kMicrosecond)->Repetitions(5)->ReportAggregatesOnly(true);
BENCHMARK(BM_LpSolveOnly)->DenseRange(0, 2)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SplitOnly)->DenseRange(0, 2)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_GlpkSimplex)->DenseRange(0, 2)->Unit(benchmark::kMicrosecond)->Repetitions(5)->ReportAggregatesOnly(true);

}  // namespace
}  // namespace wideep
