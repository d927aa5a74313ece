// EPLB re-planning: topology placement, DeepSeek's hierarchical policy (groups
// onto nodes) or the wideep policy, then alignment
// with the current slots so that experts that stay on a rank keep their slot.
#include "runtime/eplb_planner.h"

#include "balance/eplb.h"

namespace wideep {

std::vector<Placement> plan_placement(const RunConfig& cfg, const std::vector<double>& loads,
                                      const Topology* topology,
                                      const std::vector<Placement>& current) {
  const int R = cfg.num_ranks, L = cfg.layers, E = cfg.experts;
  std::vector<Placement> fresh;
  if (topology) {
    for (int l = 0; l < L; ++l)
      fresh.push_back(topology_placement(*topology, R, E, &loads[static_cast<size_t>(l) * E]));
  } else {
    EplbInput in;
    in.num_layers = L;
    in.num_logical = E;
    in.weight = loads;
    in.num_replicas = R * cfg.slots_per_rank;
    in.num_groups = cfg.groups;
    in.num_gpus = R;
    in.num_nodes = R / cfg.ranks_per_node();
    // --groups G over more than one node, G a multiple of the nodes: DeepSeek's
    // hierarchical policy packs whole groups onto nodes, so a token routed to
    // its top-M groups (--topk-groups) reaches at most M nodes. Otherwise
    // wideep's packing (never above DeepSeek's max load, but blind to groups).
    const bool hierarchical = cfg.groups > 1 && in.num_nodes > 1 && cfg.groups % in.num_nodes == 0;
    fresh = rebalance_experts(in, hierarchical ? EplbPolicy::kDeepseek : EplbPolicy::kWideep);
  }
  for (int l = 0; l < L; ++l) fresh[l] = align_to_previous(current[l], fresh[l]);
  return fresh;
}

double mean_predicted_balancedness(const std::vector<Placement>& placements, const std::vector<double>& loads) {
  double sum = 0;
  for (size_t l = 0; l < placements.size(); ++l)
    sum += predicted_balancedness(placements[l], &loads[l * static_cast<size_t>(placements[l].num_logical)]);
  return placements.empty() ? 0 : sum / static_cast<double>(placements.size());
}

}  // namespace wideep
