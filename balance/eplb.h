// Expert-parallel load balancing (EPLB): placement of replicated experts on GPUs
// from per-expert loads. `deepseek` reproduces DeepSeek EPLB's rebalance_experts
// exactly; `wideep` never co-locates two copies of one expert and refines the
// greedy result by local search. Pure and deterministic.
#pragma once

#include <string>
#include <vector>

#include "balance/placement.h"

namespace wideep {

enum class EplbPolicy { kDeepseek, kWideep };

// Parses "deepseek" | "wideep"; throws UsageError naming `option` otherwise.
EplbPolicy parse_eplb_policy(const std::string& name, const std::string& option = "--policy");

struct EplbInput {
  int num_layers = 0;
  int num_logical = 0;         // logical experts per layer
  std::vector<double> weight;  // [num_layers * num_logical] load of each logical expert
  int num_replicas = 0;        // physical slots per layer (>= num_logical)
  int num_groups = 1;          // expert groups (hierarchical policy needs groups % nodes == 0)
  int num_nodes = 1;
  int num_gpus = 1;            // ranks; num_replicas % num_gpus == 0
};

// One Placement per layer (num_ranks = num_gpus, slots_per_rank = num_replicas / num_gpus).
// Throws UsageError for impossible shapes.
std::vector<Placement> rebalance_experts(const EplbInput& in, EplbPolicy policy);

// DeepSeek's balanced_packing: n items of `weight` into num_packs packs of equal
// item count (n % num_packs == 0), heaviest first into the lightest non-full pack,
// ties to the lowest index. pack_index[i], rank_in_pack[i] receive the result.
void balanced_packing(const double* weight, int n, int num_packs, int* pack_index,
                      int* rank_in_pack);

// Maximum over ranks of the summed load of its slots, a copy serving
// weight[e] / logcnt[e] (the EPLB model of load).
double max_gpu_load(const Placement& p, const double* weight);

// Permutes the slots of each rank of `fresh` so that an expert that the same
// rank already held in `old` keeps its old slot (fewer weight moves). Same
// multiset of experts per rank; shapes must match.
Placement align_to_previous(const Placement& old, const Placement& fresh);

}  // namespace wideep
