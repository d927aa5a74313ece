// The JSON forms of a plan (wideep's, SGLang's, vLLM's); the one copy that
// `wideep plan`, `--dump-placement` and the Python package's converters use.
#include "runtime/io/plan_json.h"

#include <algorithm>

namespace wideep {

std::vector<double> plan_gpu_loads(const Placement& p, const double* w) {
  std::vector<double> load(p.num_ranks, 0.0);
  for (int s = 0; s < p.num_slots(); ++s) load[p.rank_of_slot(s)] += w[p.phy2log[s]] / p.logcnt[p.phy2log[s]];
  return load;
}

double plan_balancedness(const std::vector<double>& load) {
  const double peak = *std::max_element(load.begin(), load.end());
  double sum = 0;
  for (double x : load) sum += x;
  return peak > 0 ? sum / load.size() / peak : 1.0;
}

namespace {
// [L][E][width]: each expert's slots ascending, padded with -1.
nlohmann::json log2phy(const std::vector<Placement>& ps, bool vllm_width) {
  int most = 0;
  for (const Placement& p : ps) most = std::max(most, p.max_copies);
  nlohmann::json out = nlohmann::json::array();
  for (const Placement& p : ps) {
    // vLLM pads logical_to_physical_map to num_redundant_experts + 1 entries.
    const int width = vllm_width ? p.num_slots() - p.num_logical + 1 : most;
    nlohmann::json rows = nlohmann::json::array();
    for (int e = 0; e < p.num_logical; ++e) {
      std::vector<int> row(p.copies(e), p.copies(e) + p.logcnt[e]);
      row.resize(width, -1);
      rows.push_back(row);
    }
    out.push_back(rows);
  }
  return out;
}
}  // namespace

nlohmann::json placement_json(const std::vector<Placement>& ps, const std::string& format) {
  nlohmann::json p2l = nlohmann::json::array(), cnt = nlohmann::json::array();
  for (const Placement& p : ps) {
    p2l.push_back(p.phy2log);
    cnt.push_back(p.logcnt);
  }
  nlohmann::json j;
  if (format == "wideep") {
    j["phy2log"] = p2l;
    j["log2phy"] = log2phy(ps, false);
    j["logcnt"] = cnt;
    return j;
  }
  j["physical_to_logical_map"] = p2l;
  if (format == "sglang") return j;
  j["logical_to_physical_map"] = log2phy(ps, true);
  j["logical_replica_count"] = cnt;
  return j;
}

nlohmann::json plan_json(const std::vector<Placement>& ps, const PlanMeta& meta, const double* weight) {
  const int experts = ps.empty() ? 0 : ps[0].num_logical;
  nlohmann::json j = placement_json(ps, "wideep");
  nlohmann::json loads = nlohmann::json::array(), peaks = nlohmann::json::array(), bal = nlohmann::json::array();
  double bal_sum = 0, bal_min = 1;
  for (size_t l = 0; l < ps.size(); ++l) {
    const std::vector<double> gl = plan_gpu_loads(ps[l], weight + l * experts);
    loads.push_back(gl);
    peaks.push_back(*std::max_element(gl.begin(), gl.end()));
    const double b = plan_balancedness(gl);
    bal.push_back(b);
    bal_sum += b;
    bal_min = std::min(bal_min, b);
  }
  j["policy"] = meta.policy;
  j["layers"] = ps.size();
  j["experts"] = experts;
  j["replicas"] = ps.empty() ? 0 : ps[0].num_slots();
  j["gpus"] = meta.gpus;
  j["nodes"] = meta.nodes;
  j["groups"] = meta.groups;
  j["gpu_loads"] = loads;
  j["max_gpu_load"] = peaks;
  j["balancedness"] = {{"per_layer", bal}, {"mean", bal_sum / ps.size()}, {"min", bal_min}};
  return j;
}

}  // namespace wideep
