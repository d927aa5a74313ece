// wideep plan: offline EPLB placement from a load matrix file. Reads
// {"loads": [[...], ...]} (layers x logical experts) or the SGLang `stat` dump
// of `wideep run --dump-counts` (summed over its steps), runs EPLB (or builds an
// LPLB topology placement) and prints the placement as JSON or a table, or
// (--format sglang|vllm) as the JSON those programs read:
//   sglang: {"physical_to_logical_map": [[P ints] per layer]}   SGLang --init-expert-location
//   vllm:   {"physical_to_logical_map", "logical_to_physical_map" [L][E][X] (-1 padded),
//            "logical_replica_count" [L][E]}                      vLLM EplbState's tensors
//
// JSON output (--json), one line, documented in docs/usage-plan.md:
//   {"policy": "wideep"|"deepseek"|"topology:SPEC", "layers": L, "experts": E,
//    "replicas": P, "gpus": G, "nodes": N, "groups": Gr,
//    "phy2log":  [[P ints] per layer]        slot -> logical expert, GPU r owns slots [r*P/G, (r+1)*P/G)
//    "log2phy":  [[[X ints] per expert] per layer]  the expert's slots ascending, -1 padded,
//                                             X = the largest copy count over all layers
//    "logcnt":   [[E ints] per layer]
//    "gpu_loads": [[G numbers] per layer]     sum over a GPU's slots of load[e] / logcnt[e]
//    "max_gpu_load": [L numbers],
//    "balancedness": {"per_layer": [L numbers], "mean": x, "min": x}}  mean/max of gpu_loads
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "balance/eplb.h"
#include "balance/topology.h"
#include "common/check.h"
#include "runtime/cli/commands.h"
#include "runtime/io/config.h"
#include "runtime/io/json_file.h"
#include "runtime/io/plan_json.h"

namespace wideep {
namespace {

struct PlanOptions {
  std::string loads_path;
  int replicas = 0;  // 0: not given
  int groups = 1;
  int nodes = 1;
  int gpus = 0;
  std::string policy = "wideep";
  std::string topology;
  bool json = false;
  std::string format = "wideep";  // wideep (table, or --json) | sglang | vllm
};

// The load matrix, validated: a non-empty list of equally long rows of
// finite, non-negative numbers. Returns the rows flattened; sets layers/experts.
// An SGLang `stat` dump ({"logical_count": [steps][layers][experts]}, as
// `wideep run --dump-counts` writes it) gives each layer's counts summed over
// its steps; a 2-D logical_count is one step.
nlohmann::json loads_of_counts(const nlohmann::json& counts, const std::string& what) {
  if (!counts.is_array() || counts.empty())
    throw UsageError(what + ": \"logical_count\" must be a non-empty list [steps][layers][experts]");
  if (!counts[0].is_array() || counts[0].empty() || !counts[0][0].is_array()) return counts;  // [layers][experts]
  nlohmann::json sum = nlohmann::json::array();
  for (size_t s = 0; s < counts.size(); ++s) {
    const nlohmann::json& step = counts[s];
    if (!step.is_array() || step.size() != counts[0].size())
      throw UsageError(what + ": \"logical_count\" step " + std::to_string(s) + " has not " +
                       std::to_string(counts[0].size()) + " layers");
    for (size_t l = 0; l < step.size(); ++l) {
      if (!step[l].is_array() || step[l].size() != counts[0][0].size())
        throw UsageError(what + ": \"logical_count\" step " + std::to_string(s) + " layer " + std::to_string(l) +
                         " has not " + std::to_string(counts[0][0].size()) + " experts");
      if (s == 0) sum.push_back(nlohmann::json::array());
      for (size_t e = 0; e < step[l].size(); ++e) {
        if (!step[l][e].is_number())
          throw UsageError(what + ": \"logical_count\" step " + std::to_string(s) + " layer " + std::to_string(l) +
                           " expert " + std::to_string(e) + ": not a number");
        if (s == 0) sum[l].push_back(step[l][e].get<double>());
        else sum[l][e] = sum[l][e].get<double>() + step[l][e].get<double>();
      }
    }
  }
  return sum;
}

std::vector<double> read_loads(const std::string& path, int& layers, int& experts) {
  const std::string what = "--loads " + path;
  const nlohmann::json j = read_json_file(path, what);
  const bool counts = j.is_object() && !j.contains("loads") && j.contains("logical_count");
  if (!counts && (!j.is_object() || !j.contains("loads") || !j["loads"].is_array() || j["loads"].empty()))
    throw UsageError(what + ": needs {\"loads\": [[...], ...]} with at least one layer, or an SGLang `stat` "
                     "dump {\"logical_count\": [steps][layers][experts]} (`wideep run --dump-counts`)");
  const nlohmann::json rows = counts ? loads_of_counts(j["logical_count"], what) : j["loads"];
  layers = static_cast<int>(rows.size());
  experts = -1;
  std::vector<double> w;
  for (int l = 0; l < layers; ++l) {
    const nlohmann::json& row = rows[l];
    const std::string where = what + ": layer " + std::to_string(l);
    if (!row.is_array() || row.empty()) throw UsageError(where + " is not a non-empty list of loads");
    if (experts < 0) experts = static_cast<int>(row.size());
    if (static_cast<int>(row.size()) != experts)
      throw UsageError(where + " has " + std::to_string(row.size()) + " loads, layer 0 has " +
                       std::to_string(experts) + " (ragged rows)");
    for (int e = 0; e < experts; ++e) {
      if (!row[e].is_number()) throw UsageError(where + " expert " + std::to_string(e) + ": not a number");
      const double x = row[e].get<double>();
      if (!std::isfinite(x) || x < 0)
        throw UsageError(where + " expert " + std::to_string(e) + ": load " + row[e].dump() +
                         " is negative or not finite");
      w.push_back(x);
    }
  }
  return w;
}

// --topology SPEC: builtin through make_topology, file:PATH read here.
Topology load_topology_spec(const std::string& spec, int gpus) {
  if (spec.rfind("file:", 0) != 0) return make_topology(spec, gpus);
  const std::string path = spec.substr(5);
  const std::string what = "--topology " + spec;
  const nlohmann::json j = read_json_file(path, what);
  std::vector<std::vector<int>> r2o;
  try {
    r2o = j.at("r2o").get<std::vector<std::vector<int>>>();
  } catch (const nlohmann::json::exception& e) {
    throw UsageError(what + ": needs {\"r2o\": [[ints], ...]} (" + e.what() + ")");
  }
  return topology_from_r2o(r2o, gpus, what);
}

std::vector<Placement> plan_placements(const PlanOptions& o, const EplbInput& in, std::string& label) {
  if (o.topology.empty()) {
    label = o.policy;
    return rebalance_experts(in, parse_eplb_policy(o.policy, "--policy"));
  }
  // A topology fixes where copies go; --policy does not apply.
  const Topology t = load_topology_spec(o.topology, o.gpus);
  label = "topology:" + o.topology;
  std::vector<Placement> out;
  for (int l = 0; l < in.num_layers; ++l) {
    out.push_back(topology_placement(t, o.gpus, in.num_logical,
                                     &in.weight[static_cast<size_t>(l) * in.num_logical]));
    if (o.replicas > 0 && out.back().num_slots() != o.replicas)
      throw UsageError("--replicas " + std::to_string(o.replicas) + " does not match --topology " +
                       o.topology + ", which places " + std::to_string(out.back().num_slots()) +
                       " slots");
  }
  return out;
}

void print_table(const std::vector<Placement>& ps, const PlanOptions& o, const EplbInput& in,
                 const std::string& label) {
  std::printf("wideep plan: policy %s, %d layers, %d experts -> %d slots on %d GPUs (%d nodes, %d groups)\n",
              label.c_str(), in.num_layers, in.num_logical, ps[0].num_slots(), o.gpus, o.nodes, o.groups);
  std::printf("%5s %14s %14s %12s\n", "layer", "max_gpu_load", "mean_gpu_load", "balancedness");
  double bal_sum = 0;
  for (size_t l = 0; l < ps.size(); ++l) {
    const std::vector<double> gl = plan_gpu_loads(ps[l], &in.weight[l * in.num_logical]);
    double sum = 0;
    for (double x : gl) sum += x;
    const double b = plan_balancedness(gl);
    bal_sum += b;
    std::printf("%5zu %14.2f %14.2f %12.4f\n", l, *std::max_element(gl.begin(), gl.end()),
                sum / gl.size(), b);
  }
  std::printf("mean balancedness %.4f\n", bal_sum / ps.size());
  for (size_t l = 0; l < ps.size(); ++l) {
    const Placement& p = ps[l];
    const std::vector<double> gl = plan_gpu_loads(p, &in.weight[l * in.num_logical]);
    std::printf("layer %zu\n%5s %12s  %s\n", l, "gpu", "load", "experts (slot order)");
    for (int r = 0; r < p.num_ranks; ++r) {
      std::string experts;
      for (int i = 0; i < p.slots_per_rank; ++i)
        experts += (i ? " " : "") + std::to_string(p.phy2log[r * p.slots_per_rank + i]);
      std::printf("%5d %12.2f  %s\n", r, gl[r], experts.c_str());
    }
  }
}

}  // namespace

int plan_main(int argc, char** argv) {
  PlanOptions o;
  CLI::App app{"wideep plan: offline EPLB placement from a load matrix (docs/usage-plan.md)"};
  app.name("wideep plan");
  app.add_option("--loads", o.loads_path, "JSON file {\"loads\": [[...], ...]} (layers x logical experts), or an SGLang `stat` dump "
                 "{\"logical_count\": [steps][layers][experts]} as `wideep run --dump-counts` writes it")->required();
  app.add_option("--replicas", o.replicas, "physical slots per layer (required without --topology)");
  app.add_option("--groups", o.groups, "expert groups (hierarchical EPLB when groups % nodes == 0)");
  app.add_option("--nodes", o.nodes, "server nodes");
  app.add_option("--gpus", o.gpus, "GPUs (ranks); replicas % gpus == 0")->required();
  app.add_option("--policy", o.policy, "EPLB policy: deepseek | wideep");
  app.add_option("--topology", o.topology, "LPLB layout instead of EPLB: ring|cube|hypercube|torus:MxN|full|file:PATH");
  app.add_flag("--json", o.json, "print one line of JSON");
  app.add_option("--format", o.format,
                 "wideep (the table, or wideep's JSON with --json) | sglang (JSON for SGLang's "
                 "--init-expert-location) | vllm (vLLM's EPLB tensor names)")
      ->capture_default_str();
  if (!parse_cli(app, argc, argv)) return 0;
  if (o.format != "wideep" && o.format != "sglang" && o.format != "vllm")
    throw UsageError("--format '" + o.format + "': unknown format (wideep, sglang, vllm)");
  const EplbPolicy policy = parse_eplb_policy(o.policy, "--policy");  // checked even with --topology
  (void)policy;
  EplbInput in;
  in.weight = read_loads(o.loads_path, in.num_layers, in.num_logical);
  if (o.topology.empty() && o.replicas <= 0)
    throw UsageError("--replicas is required (a positive slot count) unless --topology is given");
  if (o.gpus <= 0) throw UsageError("--gpus must be positive");
  if (o.nodes <= 0 || o.gpus % o.nodes != 0)
    throw UsageError("--nodes " + std::to_string(o.nodes) + " must be positive and divide --gpus " +
                     std::to_string(o.gpus));
  in.num_replicas = o.replicas;
  in.num_groups = o.groups;
  in.num_nodes = o.nodes;
  in.num_gpus = o.gpus;
  std::string label;
  const std::vector<Placement> ps = plan_placements(o, in, label);
  if (o.format != "wideep") {
    std::printf("%s\n", placement_json(ps, o.format).dump().c_str());
  } else if (o.json) {
    std::printf("%s\n", plan_json(ps, PlanMeta{label, o.gpus, o.nodes, o.groups}, in.weight.data()).dump().c_str());
  } else {
    print_table(ps, o, in, label);
  }
  return 0;
}

}  // namespace wideep
