// Benchmarks of the balance phase of one rank and layer-step as the run does it
// after the counts exchange (the exact LPLB plan from the O(E + P) inputs plus
// the token split of the last rank), of the solve alone with and without the
// proof of the fractional optimum, and of GLPK's simplex on the same LP (the
// ratio, against the exact solve, goes to docs/results.md). Counts are zipf(1.2) samples with a fixed
// seed; 16 count vectors are cycled, each solve warm-started from the previous
// one as consecutive steps are (the Cold variant forgets the warm start).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>

#include "balance/eplb.h"
#include "balance/lp.h"
#include "balance/node_lp.h"
#include "balance/oracle_testing.h"
#include "balance/token_split.h"
#include "balance/topology.h"

namespace wideep {
namespace {

constexpr int kTokensPerRank = 256, kTopk = 8, kVariants = 16;

constexpr int kRanksPerNode = 8;

struct Instance {
  Placement p;
  std::vector<std::vector<int64_t>> counts, rank_counts;  // [kVariants]
  std::vector<std::vector<int32_t>> topk_last;            // the last rank's routing per variant
  // What the exchange hands the last rank: per-slot counts, its scans.
  std::vector<std::vector<int64_t>> slot_rank, slot_node, before, node_before;

  // exact: also prove the fractional optimum (GLPK's figure); the run does not.
  LpInput lp_input(int v, bool exact) const {
    LpInput in{&p, counts[v].data(), nullptr, nullptr, kRanksPerNode};
    in.slot_rank_counts = slot_rank[v].data();
    in.slot_node_counts = slot_node[v].data();
    in.exact_opt = exact;
    return in;
  }
  SplitCounts split_counts(int v) const {
    SplitCounts c;
    c.mine = &rank_counts[v][static_cast<size_t>(p.num_ranks - 1) * p.num_logical];
    c.before = before[v].data();
    c.node_before = node_before[v].data();
    c.slot_rank = slot_rank[v].data();
    c.slot_node = slot_node[v].data();
    return c;
  }
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
    std::vector<int64_t> sr(in.p.num_slots()), sn(in.p.num_slots()), before(E, 0), node_before(E, 0);
    lp_slot_counts(in.p, rc.data(), kRanksPerNode, sr.data(), sn.data());
    const int last = R - 1, lo = last / kRanksPerNode * kRanksPerNode;
    for (int r = 0; r < last; ++r)
      for (int e = 0; e < E; ++e) {
        before[e] += rc[static_cast<size_t>(r) * E + e];
        if (r >= lo) node_before[e] += rc[static_cast<size_t>(r) * E + e];
      }
    in.slot_rank.push_back(sr);
    in.slot_node.push_back(sn);
    in.before.push_back(before);
    in.node_before.push_back(node_before);
  }
  return in;
}

const Instance& instance(int which) {
  // Built on first use only (the 1024-rank one takes seconds).
  static std::unique_ptr<Instance> made[5];
  static const int shape[5][4] = {{8, 64, 80, 1}, {64, 256, 320, 0}, {256, 256, 512, 0}, {1024, 1024, 2048, 0},
                                  {1024, 1024, 3072, 0}};
  if (!made[which]) {
    const int* s = shape[which];
    made[which] = std::make_unique<Instance>(make_instance(s[0], s[1], s[2], s[3] != 0));
  }
  return *made[which];
}

void solve_and_split(benchmark::State& state, bool cold) {
  const Instance& in = instance(static_cast<int>(state.range(0)));
  LpSolver solver;
  LpResult res;
  std::vector<int32_t> slot(kTokensPerRank * kTopk);
  int v = 0;
  for (auto _ : state) {
    if (cold) solver.clear_warm_start();
    solver.solve(in.lp_input(v, false), &res);
    split_tokens(in.p, in.split_counts(v), res.copy_tokens.data(), in.p.num_ranks - 1, in.topk_last[v].data(),
                 kTokensPerRank, kTopk, kRanksPerNode, slot.data());
    benchmark::DoNotOptimize(slot.data());
    v = (v + 1) % kVariants;
  }
  state.counters["ranks"] = in.p.num_ranks;
  state.counters["slots"] = in.p.num_slots();
  state.counters["components"] = res.components;
  const LpStats& st = solver.stats();
  state.counters["warm_kept"] = st.warm_tried ? static_cast<double>(st.warm_kept) / st.warm_tried : 0;
}

void BM_LpSolveAndSplit(benchmark::State& state) { solve_and_split(state, false); }
void BM_LpSolveAndSplitCold(benchmark::State& state) { solve_and_split(state, true); }

// The two parts alone, to see where the time goes.
void BM_LpSolveOnly(benchmark::State& state) {
  const Instance& in = instance(static_cast<int>(state.range(0)));
  LpSolver solver;
  LpResult res;
  int v = 0;
  for (auto _ : state) {
    solver.solve(in.lp_input(v, state.range(1) != 0), &res);
    benchmark::DoNotOptimize(res.max_load);
    v = (v + 1) % kVariants;
  }
}

void BM_SplitOnly(benchmark::State& state) {
  const Instance& in = instance(static_cast<int>(state.range(0)));
  LpSolver solver;
  std::vector<LpResult> res(kVariants);
  for (int v = 0; v < kVariants; ++v) solver.solve(in.lp_input(v, false), &res[v]);
  std::vector<int32_t> slot(kTokensPerRank * kTopk);
  int v = 0;
  for (auto _ : state) {
    split_tokens(in.p, in.split_counts(v), res[v].copy_tokens.data(), in.p.num_ranks - 1, in.topk_last[v].data(),
                 kTokensPerRank, kTopk, kRanksPerNode, slot.data());
    benchmark::DoNotOptimize(slot.data());
    v = (v + 1) % kVariants;
  }
}

// --lplb-scope node: the last rank's node (8 ranks) plans from its node's
// counts and the last rank splits its pairs; range(1) 1: with the automatic
// mode's prediction (a model under which the plan always pays, so both the
// bound and the plan's prediction run besides the solve).
void BM_NodeLpPlanAndSplit(benchmark::State& state) {
  const Instance& in = instance(static_cast<int>(state.range(0)));
  const int R = in.p.num_ranks, E = in.p.num_logical, last = R - 1, node = last / kRanksPerNode;
  LplbCostModel model = default_lplb_cost(7168, 2048, 7392 + 14336);
  model.solve_fixed_us = model.solve_slot_us = 0;
  model.cross_pair_us += 1000;  // every pair kept off the network pays: the plan always runs
  NodeLp lp;
  lp.init(kRanksPerNode, 0);
  std::vector<int32_t> slot(kTokensPerRank * kTopk);
  int v = 0;
  int64_t used = 0;
  for (auto _ : state) {
    const int64_t* rows = &in.rank_counts[v][static_cast<size_t>(node) * kRanksPerNode * E];
    used += lp.plan(in.p, node, rows, state.range(1) ? &model : nullptr);
    lp.split(in.p, last, in.topk_last[v].data(), kTokensPerRank, kTopk, slot.data());
    benchmark::DoNotOptimize(slot.data());
    v = (v + 1) % kVariants;
  }
  state.counters["ranks"] = R;
  state.counters["node_slots"] = kRanksPerNode * in.p.slots_per_rank;
  state.counters["plans_used"] = static_cast<double>(used) / state.iterations();
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
// 2: 256 ranks, 256 experts, 512 slots; 3: 1024 ranks, 1024 experts, 2048 slots;
// 4: 1024 ranks, 1024 experts, 3072 slots (the study's eplb,lplb shape).
BENCHMARK(BM_LpSolveAndSplit)->DenseRange(0, 4)->Unit(benchmark::kMicrosecond)->Repetitions(5)->ReportAggregatesOnly(true);
BENCHMARK(BM_LpSolveAndSplitCold)->DenseRange(0, 4)->Unit(benchmark::kMicrosecond)->Repetitions(5)->ReportAggregatesOnly(true);
// LpSolveOnly/i/1: with the exact fractional optimum (what GLPK computes); /i/0: the run's setting.
BENCHMARK(BM_LpSolveOnly)->ArgsProduct({{0, 1, 2, 3, 4}, {0, 1}})->Unit(benchmark::kMicrosecond)->Repetitions(5)->ReportAggregatesOnly(true);
BENCHMARK(BM_SplitOnly)->DenseRange(0, 4)->Unit(benchmark::kMicrosecond);
// NodeLpPlanAndSplit/i/a: instance i's last node of 8 ranks; a = 1 with the automatic mode's prediction.
BENCHMARK(BM_NodeLpPlanAndSplit)->ArgsProduct({{0, 1, 2, 3, 4}, {0, 1}})->Unit(benchmark::kMicrosecond)->Repetitions(5)->ReportAggregatesOnly(true);
BENCHMARK(BM_GlpkSimplex)->DenseRange(0, 4)->Unit(benchmark::kMicrosecond)->Repetitions(5)->ReportAggregatesOnly(true);

}  // namespace
}  // namespace wideep
