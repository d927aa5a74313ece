// Reading placement (wideep, SGLang, vLLM) and topology files, and the initial placement of a run.
#include "runtime/io/placement_io.h"

#include <climits>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "common/check.h"
#include "runtime/io/json_file.h"

namespace wideep {
namespace {
nlohmann::json read_json(const std::string& path, const std::string& option) {
  return read_json_file(path, option + " " + path);
}

// A matrix of whole numbers that fit an int. nlohmann's get<std::vector<int>>
// would truncate 1.5 silently and cast 1e300 with undefined behaviour
// (docs/reliability.md, bad input); every entry is checked here instead.
std::vector<std::vector<int>> int_matrix(const nlohmann::json& j, const std::string& what) {
  if (!j.is_array()) throw UsageError(what + " must be a list of lists");
  std::vector<std::vector<int>> rows;
  rows.reserve(j.size());
  for (size_t r = 0; r < j.size(); ++r) {
    if (!j[r].is_array()) throw UsageError(what + " row " + std::to_string(r) + " is not a list");
    std::vector<int> row;
    row.reserve(j[r].size());
    for (const nlohmann::json& v : j[r]) {
      const bool fits = v.is_number_integer() && (v.is_number_unsigned() ? v.get<uint64_t>() <= INT32_MAX
                                                                          : v.get<int64_t>() >= INT32_MIN &&
                                                                                v.get<int64_t>() <= INT32_MAX);
      if (!fits)
        throw UsageError(what + " row " + std::to_string(r) + ": " + v.dump() + " is not a whole number of int range");
      row.push_back(static_cast<int>(v.get<int64_t>()));
    }
    rows.push_back(std::move(row));
  }
  return rows;
}
}  // namespace

std::unique_ptr<Topology> load_topology(const RunConfig& cfg, int num_ranks) {
  if (cfg.topology.empty()) return nullptr;
  Topology t;
  if (cfg.topology.rfind("file:", 0) == 0) {
    const std::string path = cfg.topology.substr(5);
    const nlohmann::json j = read_json(path, "--topology file:");
    if (!j.is_object() || !j.contains("r2o"))
      throw UsageError("--topology file:" + path + ": needs \"r2o\": a matrix of ints");
    const std::vector<std::vector<int>> r2o = int_matrix(j["r2o"], "--topology file:" + path + ": \"r2o\"");
    t = topology_from_r2o(r2o, num_ranks, "--topology file:" + path);
  } else {
    t = make_topology(cfg.topology, num_ranks);
  }
  // A topology's layout gives every rank E / R experts of its own beside its
  // copies: it has none where the experts do not divide among the ranks.
  if (cfg.experts % num_ranks != 0)
    throw UsageError("--topology " + cfg.topology + ": its copy layout gives every rank experts / ranks experts of "
                     "its own beside its copies: " + std::to_string(cfg.experts) + " experts do not divide among " +
                     std::to_string(num_ranks) + " ranks (lplb without --topology balances any placement)");
  const int want = cfg.experts / num_ranks + t.redundant_per_rank;
  if (cfg.slots_per_rank != want)
    throw UsageError("--topology " + cfg.topology + " puts " + std::to_string(t.redundant_per_rank) +
                     " redundant slot(s) on each rank: it needs --redundant " +
                     std::to_string(t.redundant_per_rank * num_ranks) + " (got " +
                     std::to_string(cfg.redundant) + ")");
  return std::make_unique<Topology>(t);
}

std::vector<Placement> read_placement_file(const std::string& path, const std::string& option,
                                           int layers, int num_ranks, int num_logical,
                                           int slots_per_rank, std::string* format) {
  const nlohmann::json j = read_json(path, option);
  // wideep's own key first; SGLang's and vLLM's share physical_to_logical_map.
  const char* key = j.is_object() && j.contains("phy2log")                   ? "phy2log"
                    : j.is_object() && j.contains("physical_to_logical_map") ? "physical_to_logical_map"
                                                                             : nullptr;
  if (!key)
    throw UsageError(option + " " + path + ": needs \"phy2log\" (wideep plan) or \"physical_to_logical_map\" "
                     "(SGLang, vLLM): one list of slots per layer");
  const bool vllm = std::string(key) != "phy2log" && j.contains("logical_replica_count");
  if (format) *format = std::string(key) == "phy2log" ? "wideep" : vllm ? "vllm" : "sglang";
  const std::vector<std::vector<int>> rows = int_matrix(j[key], option + " " + path + ": \"" + key + "\"");
  if (static_cast<int>(rows.size()) < layers)
    throw UsageError(option + " " + path + ": has " + std::to_string(rows.size()) +
                     " layers, the run has " + std::to_string(layers));
  std::vector<Placement> out;
  for (int l = 0; l < layers; ++l) {
    const int want = num_ranks * slots_per_rank;
    if (static_cast<int>(rows[l].size()) != want)
      throw UsageError(option + " " + path + ": layer " + std::to_string(l) + " has " +
                       std::to_string(rows[l].size()) + " slots, the run has " + std::to_string(want) +
                       " (ranks x (experts + redundant) / ranks)");
    out.push_back(Placement::from_phy2log(num_ranks, num_logical, rows[l],
                                          option + " " + path + " layer " + std::to_string(l)));
  }
  if (vllm) {
    // vLLM keeps the copy counts beside the map: a file where they disagree is corrupt.
    const std::vector<std::vector<int>> cnt =
        int_matrix(j["logical_replica_count"], option + " " + path + ": \"logical_replica_count\"");
    for (int l = 0; l < layers; ++l)
      if (l >= static_cast<int>(cnt.size()) || cnt[l] != out[l].logcnt)
        throw UsageError(option + " " + path + ": layer " + std::to_string(l) +
                         ": \"logical_replica_count\" disagrees with \"physical_to_logical_map\"");
  }
  return out;
}

std::vector<Placement> initial_placement(const RunConfig& cfg, const Topology* topology, std::string* source) {
  const int R = cfg.num_ranks;
  if (!cfg.init_placement.empty()) {
    std::string format;
    std::vector<Placement> p = read_placement_file(cfg.init_placement, "--init-placement", cfg.layers, R,
                                                   cfg.experts, cfg.slots_per_rank, &format);
    if (source) *source = cfg.init_placement + " (" + format + ")";
    return p;
  }
  std::vector<Placement> out;
  const std::vector<double> uniform(cfg.experts, 1.0);
  for (int l = 0; l < cfg.layers; ++l)
    out.push_back(topology ? topology_placement(*topology, R, cfg.experts, uniform.data())
                           : Placement::initial(R, cfg.experts, cfg.slots_per_rank));
  return out;
}

}  // namespace wideep
