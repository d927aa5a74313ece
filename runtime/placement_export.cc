// Writers of wideep's, SGLang's and vLLM's placement JSON.
#include "runtime/placement_export.h"

#include <algorithm>
#include <fstream>

#include "common/check.h"

namespace wideep {
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

void write_placement_file(const std::string& path, const std::string& option, const std::vector<Placement>& ps,
                          const std::string& format) {
  std::ofstream out(path, std::ios::trunc);
  out << placement_json(ps, format).dump() << "\n";
  if (!out) throw Error(ErrorCategory::kSystem, option + " " + path + ": write failed");
}

}  // namespace wideep
