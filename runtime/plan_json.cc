// The JSON forms of a plan (wideep's, SGLang's, vLLM's); the one copy that both
// `wideep plan` and the Python package's converters use.
#include "runtime/plan_json.h"

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

nlohmann::json plan_json(const std::vector<Placement>& ps, const PlanMeta& meta, const double* weight) {
  const int experts = ps.empty() ? 0 : ps[0].num_logical;
  int width = 0;
  for (const Placement& p : ps) width = std::max(width, p.max_copies);
  nlohmann::json phy2log = nlohmann::json::array(), log2phy = nlohmann::json::array(),
                 logcnt = nlohmann::json::array(), loads = nlohmann::json::array(),
                 peaks = nlohmann::json::array(), bal = nlohmann::json::array();
  double bal_sum = 0, bal_min = 1;
  for (size_t l = 0; l < ps.size(); ++l) {
    const Placement& p = ps[l];
    phy2log.push_back(p.phy2log);
    logcnt.push_back(p.logcnt);
    nlohmann::json rows = nlohmann::json::array();
    for (int e = 0; e < p.num_logical; ++e) {
      std::vector<int> row(p.copies(e), p.copies(e) + p.max_copies);
      row.resize(width, -1);
      rows.push_back(row);
    }
    log2phy.push_back(rows);
    const std::vector<double> gl = plan_gpu_loads(p, weight + l * experts);
    loads.push_back(gl);
    peaks.push_back(*std::max_element(gl.begin(), gl.end()));
    const double b = plan_balancedness(gl);
    bal.push_back(b);
    bal_sum += b;
    bal_min = std::min(bal_min, b);
  }
  nlohmann::json j;
  j["policy"] = meta.policy;
  j["layers"] = ps.size();
  j["experts"] = experts;
  j["replicas"] = ps.empty() ? 0 : ps[0].num_slots();
  j["gpus"] = meta.gpus;
  j["nodes"] = meta.nodes;
  j["groups"] = meta.groups;
  j["phy2log"] = phy2log;
  j["log2phy"] = log2phy;
  j["logcnt"] = logcnt;
  j["gpu_loads"] = loads;
  j["max_gpu_load"] = peaks;
  j["balancedness"] = {{"per_layer", bal}, {"mean", bal_sum / ps.size()}, {"min", bal_min}};
  return j;
}

// Slot ids are global: GPU r owns slots [r*P/G, (r+1)*P/G), as in both programs.
nlohmann::json plan_foreign_json(const std::vector<Placement>& ps, const std::string& format) {
  nlohmann::json p2l = nlohmann::json::array();
  for (const Placement& p : ps) p2l.push_back(p.phy2log);
  nlohmann::json j;
  j["physical_to_logical_map"] = p2l;
  if (format == "sglang") return j;
  // vLLM pads logical_to_physical_map to num_redundant_experts + 1 entries.
  nlohmann::json l2p = nlohmann::json::array(), cnt = nlohmann::json::array();
  for (const Placement& p : ps) {
    const int width = p.num_slots() - p.num_logical + 1;
    nlohmann::json rows = nlohmann::json::array();
    for (int e = 0; e < p.num_logical; ++e) {
      std::vector<int> row(p.copies(e), p.copies(e) + p.logcnt[e]);
      row.resize(width, -1);
      rows.push_back(row);
    }
    l2p.push_back(rows);
    cnt.push_back(p.logcnt);
  }
  j["logical_to_physical_map"] = l2p;
  j["logical_replica_count"] = cnt;
  return j;
}

}  // namespace wideep
