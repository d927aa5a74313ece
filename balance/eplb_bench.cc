// Benchmarks of EPLB: the deepseek and wideep policies on 61 layers x 256
// experts -> 288 slots (8 groups, 4 nodes, 32 GPUs), the wideep-vs-deepseek
// study (mean max GPU load over 50 zipf inputs, as counters), and move planning.
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>

#include "balance/eplb.h"
#include "balance/move_plan.h"
#include "balance/oracle_testing.h"

namespace wideep {
namespace {

// DeepSeek V3's shape: 61 layers, 256 routed experts, 32 redundant slots, 32 GPUs on 4 nodes.
EplbInput v3_input(int layers, double s, uint64_t seed) {
  EplbInput in;
  in.num_layers = layers;
  in.num_logical = 256;
  in.weight = zipf_layer_loads(layers, 256, s, seed);
  in.num_replicas = 288;
  in.num_groups = 8;
  in.num_nodes = 4;
  in.num_gpus = 32;
  return in;
}

void BM_EplbDeepseek61x256(benchmark::State& state) {
  const EplbInput in = v3_input(61, 1.2, 1);
  for (auto _ : state) benchmark::DoNotOptimize(rebalance_experts(in, EplbPolicy::kDeepseek));
}
BENCHMARK(BM_EplbDeepseek61x256)->Unit(benchmark::kMillisecond)->Repetitions(5)->ReportAggregatesOnly(true);

// Arg: zipf exponent x 10.
void BM_EplbWideep61x256(benchmark::State& state) {
  const EplbInput in = v3_input(61, state.range(0) / 10.0, 1);
  for (auto _ : state) benchmark::DoNotOptimize(rebalance_experts(in, EplbPolicy::kWideep));
}
BENCHMARK(BM_EplbWideep61x256)->Arg(10)->Arg(12)->Arg(15)->Unit(benchmark::kMillisecond)->Iterations(3);

// The study: 50 single-layer inputs at zipf s = Arg / 10. Counters are means
// over inputs of the max GPU load (tokens), and the ratio wideep / deepseek.
// wideep ignores the group/node structure, so deepseek's global policy (one
// group, one node) is reported too: it separates the search from the hierarchy.
void BM_EplbStudy(benchmark::State& state) {
  const double s = state.range(0) / 10.0;
  const int inputs = 50;
  double ds = 0, wd = 0, ideal = 0, dg = 0;
  int wideep_worse = 0;
  for (auto _ : state) {
    ds = wd = ideal = dg = 0;
    for (int i = 0; i < inputs; ++i) {
      const EplbInput in = v3_input(1, s, 1000 + i);
      const double a = max_gpu_load(rebalance_experts(in, EplbPolicy::kDeepseek)[0], in.weight.data());
      const double b = max_gpu_load(rebalance_experts(in, EplbPolicy::kWideep)[0], in.weight.data());
      EplbInput global = in;
      global.num_groups = global.num_nodes = 1;
      dg += max_gpu_load(rebalance_experts(global, EplbPolicy::kDeepseek)[0], in.weight.data());
      double total = 0;
      for (double x : in.weight) total += x;
      ds += a, wd += b, ideal += total / in.num_gpus;
      wideep_worse += b > a;
    }
  }
  state.counters["deepseek_max"] = ds / inputs;
  state.counters["deepseek_global_max"] = dg / inputs;
  state.counters["wideep_max"] = wd / inputs;
  state.counters["mean_load"] = ideal / inputs;
  state.counters["wideep_over_deepseek"] = wd / ds;
  state.counters["wideep_worse_inputs"] = wideep_worse;
}
BENCHMARK(BM_EplbStudy)->Arg(10)->Arg(12)->Arg(15)->Unit(benchmark::kMillisecond)->Iterations(1);

// Move planning between two wideep placements of 61 layers (the second aligned
// to the first), 8 GPUs per node.
void BM_MovePlan61x256(benchmark::State& state) {
  const std::vector<Placement> a = rebalance_experts(v3_input(61, 1.2, 1), EplbPolicy::kWideep);
  std::vector<Placement> b = rebalance_experts(v3_input(61, 1.2, 2), EplbPolicy::kWideep);
  for (size_t l = 0; l < b.size(); ++l) b[l] = align_to_previous(a[l], b[l]);
  MovePlan plan;
  for (auto _ : state) {
    plan = plan_weight_moves(a, b, 8);
    benchmark::DoNotOptimize(plan);
  }
  state.counters["transfers"] = static_cast<double>(plan.transfers.size());
  state.counters["local_copies"] = static_cast<double>(plan.local_copies.size());
  state.counters["naive_transfers"] = static_cast<double>(plan.naive_transfers);
  state.counters["max_sends"] = static_cast<double>(plan.max_sends_per_rank);
  state.counters["naive_max_sends"] = static_cast<double>(plan.naive_max_sends_per_rank);
  state.counters["cross_node"] = static_cast<double>(plan.cross_node_transfers);
}
BENCHMARK(BM_MovePlan61x256)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace wideep
