// EPLB re-planning: topology placement or the --eplb-policy (auto compares
// the candidates' predicted balancedness on the window), alignment with the
// current slots so that experts that stay on a rank keep their slot, the
// move-aware keep of layers whose re-plan gains too little, and the cap on
// experts moved per re-plan.
#include "runtime/eplb/eplb_planner.h"

#include "balance/eplb.h"
#include "balance/eplb_move_cap.h"

namespace wideep {
namespace {

int num_nodes(const RunConfig& cfg) { return cfg.num_ranks / cfg.ranks_per_node(); }

// DeepSeek's rule packs groups onto nodes when they divide over them (and
// there is more than one node); otherwise it replicates over all ranks.
bool hierarchical_applies(const RunConfig& cfg) {
  const int nodes = num_nodes(cfg);
  return cfg.groups > 1 && nodes > 1 && cfg.groups % nodes == 0;
}

double layer_balancedness(const Placement& p, const std::vector<double>& loads, int layer) {
  return predicted_balancedness(p, &loads[static_cast<size_t>(layer) * p.num_logical]);
}

}  // namespace

std::string policy_description(const RunConfig& cfg, bool topology) {
  if (topology) return "topology";
  const std::string ds = hierarchical_applies(cfg) ? "deepseek-hierarchical" : "deepseek-global";
  if (cfg.eplb_policy == "deepseek") return ds;
  if (cfg.eplb_policy == "wideep") return "wideep";
  return hierarchical_applies(cfg) ? "auto (wideep | deepseek-hierarchical)" : "auto (wideep)";
}

std::vector<Placement> plan_placement(const RunConfig& cfg, const std::vector<double>& loads,
                                      const Topology* topology,
                                      const std::vector<Placement>& current, RebalanceRecord* rec) {
  const int R = cfg.num_ranks, L = cfg.layers, E = cfg.experts;
  std::vector<Placement> fresh;
  std::string policy;
  if (topology) {
    policy = "topology";
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
    in.num_nodes = num_nodes(cfg);
    const bool hier = hierarchical_applies(cfg);
    if (cfg.eplb_policy == "deepseek") {
      // DeepSeek's own rule: with groups that do not divide over the nodes, global.
      if (!hier) in.num_groups = 1, in.num_nodes = 1;
      fresh = rebalance_experts(in, EplbPolicy::kDeepseek);
      policy = hier ? "deepseek-hierarchical" : "deepseek-global";
    } else {
      // wideep's packing is blind to groups. With groups packed onto nodes a
      // token reaches at most --topk-groups nodes, but at one group per node
      // nothing moves between nodes (balancedness 0.53 at 64 ranks, issue 29):
      // auto takes hierarchical only where it predicts at least as well.
      fresh = rebalance_experts(in, EplbPolicy::kWideep);
      policy = "wideep";
      if (hier && cfg.eplb_policy == "auto") {
        std::vector<Placement> ds = rebalance_experts(in, EplbPolicy::kDeepseek);
        if (mean_predicted_balancedness(ds, loads) >= mean_predicted_balancedness(fresh, loads)) {
          fresh = std::move(ds);
          policy = "deepseek-hierarchical";
        }
      }
    }
  }
  int kept = 0;
  int64_t moved = 0;
  for (int l = 0; l < L; ++l) {
    fresh[l] = align_to_previous(current[l], fresh[l]);
    // Move-aware: a re-plan that gains less than --eplb-keep-within on this
    // layer is not worth its weight moves (0.990 -> 0.9999 moved 12-16 GB).
    if (cfg.eplb_keep_within > 0 && layer_balancedness(fresh[l], loads, l) - layer_balancedness(current[l], loads, l) <
                                        cfg.eplb_keep_within) {
      fresh[l] = current[l];
      ++kept;
      continue;
    }
    for (size_t s = 0; s < fresh[l].phy2log.size(); ++s) moved += fresh[l].phy2log[s] != current[l].phy2log[s];
  }
  // --eplb-max-moves: of a re-plan that moves more, the moves that gain most
  // (balance/eplb_move_cap.h); a layer the cap leaves as it was counts as kept.
  if (cfg.eplb_max_moves > 0 && moved > cfg.eplb_max_moves) {
    fresh = cap_expert_moves(current, fresh, loads, cfg.eplb_max_moves);
    moved = slots_changed(current, fresh);
    kept = 0;
    for (int l = 0; l < L; ++l) kept += fresh[l].phy2log == current[l].phy2log;
  }
  if (rec) {
    rec->policy = policy;
    rec->kept_layers = kept;
    rec->experts_moved = moved;
  }
  return fresh;
}

double mean_predicted_balancedness(const std::vector<Placement>& placements, const std::vector<double>& loads) {
  double sum = 0;
  for (size_t l = 0; l < placements.size(); ++l)
    sum += predicted_balancedness(placements[l], &loads[l * static_cast<size_t>(placements[l].num_logical)]);
  return placements.empty() ? 0 : sum / static_cast<double>(placements.size());
}

RebalanceRecord start_rebalance_record(const RunConfig& cfg, int step) {
  RebalanceRecord rec;
  rec.step = step;
  const int chunk = cfg.eplb_layers_per_chunk > 0 ? cfg.eplb_layers_per_chunk : cfg.layers;
  rec.mode = cfg.eplb_async ? "async" : chunk < cfg.layers ? "chunked" : "sync";
  return rec;
}

std::vector<Placement> replan(const RunConfig& cfg, const std::vector<double>& loads, const Topology* topology,
                              const std::vector<Placement>& current, RebalanceRecord* rec, bool* skip) {
  std::vector<Placement> next = plan_placement(cfg, loads, topology, current, rec);
  rec->predicted_before = mean_predicted_balancedness(current, loads);
  rec->predicted_after = mean_predicted_balancedness(next, loads);
  *skip = (cfg.eplb_min_gain > 0 && rec->predicted_after - rec->predicted_before < cfg.eplb_min_gain) ||
          replan_kept_all(cfg, *rec);
  return next;
}

}  // namespace wideep
