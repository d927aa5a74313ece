// Reading and validating a `wideep sim` profile: every number must be present
// with the right sign; "source" fields are documentation and are not read.
#include "runtime/sim/sim_profile.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/check.h"
#include "runtime/io/json_file.h"

namespace wideep {
namespace {

struct Reader {
  const nlohmann::json& root;
  std::string where;  // "--profile PATH"

  [[noreturn]] void bad(const std::string& key, const std::string& why) const {
    throw UsageError(where + ": \"" + key + "\" " + why);
  }
  const nlohmann::json& at(const nlohmann::json& obj, const std::string& section, const char* key) const {
    const std::string name = section.empty() ? key : section + "." + key;
    if (!obj.is_object() || !obj.contains(key)) bad(name, "is missing");
    return obj.at(key);
  }
  double number(const nlohmann::json& obj, const std::string& section, const char* key, bool positive) const {
    const nlohmann::json& v = at(obj, section, key);
    const std::string name = section.empty() ? key : section + "." + key;
    if (!v.is_number()) bad(name, "must be a number");
    const double d = v.get<double>();
    if (positive ? !(d > 0) : !(d >= 0)) bad(name, positive ? "must be positive" : "must be >= 0");
    return d;
  }
  double optional(const nlohmann::json& obj, const std::string& section, const char* key, double dflt) const {
    if (!obj.is_object() || !obj.contains(key)) return dflt;
    return number(obj, section, key, false);
  }
  int integer(const nlohmann::json& obj, const std::string& section, const char* key, int lo) const {
    const double d = number(obj, section, key, false);
    const std::string name = section.empty() ? key : section + "." + key;
    if (d != static_cast<int>(d) || d < lo) bad(name, "must be an integer >= " + std::to_string(lo));
    return static_cast<int>(d);
  }
  LinkClass link(const char* key) const {
    const nlohmann::json& l = at(at(root, "", "links"), "links", key);
    const std::string s = std::string("links.") + key;
    return {number(l, s, "latency_us", false), number(l, s, "gbps", true)};
  }
};

}  // namespace

SimProfile read_profile(const std::string& path) {
  const std::string where = "--profile " + path;
  if (path.empty()) throw UsageError("--profile is required (e.g. launch/profiles/h100_nvlink_8x.json)");
  const nlohmann::json j = read_json_file(path, where);
  if (!j.is_object()) throw UsageError(where + ": must be a JSON object");
  const Reader r{j, where};
  SimProfile p;
  p.name = j.value("name", path);
  p.same_node = r.link("same_node");
  p.cross_node = r.link("cross_node");
  const nlohmann::json& rounds = r.at(j, "", "rounds");
  p.dispatch_rounds = r.integer(rounds, "rounds", "dispatch", 0);
  p.combine_rounds = r.integer(rounds, "rounds", "combine", 0);
  p.gather_rounds = r.integer(rounds, "rounds", "gather", 0);
  // Optional (profiles before the dispatch modes): one counts round.
  p.counts_rounds = rounds.contains("counts") ? r.integer(rounds, "rounds", "counts", 0)
                                              : std::min(1, p.dispatch_rounds);
  if (p.counts_rounds > p.dispatch_rounds)
    r.bad("rounds.counts", "must be <= rounds.dispatch (the dispatch's rounds include the counts round)");
  // Optional (profiles before the pipelined hierarchical model): no pipeline.
  if (j.contains("pipeline"))
    p.pipeline_chunk_bytes = r.number(r.at(j, "", "pipeline"), "pipeline", "chunk_bytes", false);
  const nlohmann::json& ex = r.at(j, "", "expert");
  p.expert_launch_us = r.number(ex, "expert", "launch_us", false);
  p.tile_tokens = r.integer(ex, "expert", "tile_tokens", 1);
  p.expert_tflops = r.number(ex, "expert", "tflops", true);
  p.mem_gbps = r.number(ex, "expert", "mem_gbps", false);
  p.weight_bytes_per_param = r.number(ex, "expert", "weight_bytes_per_param", true);
  p.expert_ns_per_pair = r.number(ex, "expert", "ns_per_pair", false);
  const nlohmann::json& host = r.at(j, "", "host");
  p.route_ns_per_token = r.number(host, "host", "route_ns_per_token", false);
  p.layout_ns_per_pair = r.number(host, "host", "layout_ns_per_pair", false);
  p.combine_ns_per_row = r.number(host, "host", "combine_ns_per_row", false);
  p.phase_fixed_us = r.number(host, "host", "phase_fixed_us", false);
  p.cores_per_node = static_cast<int>(r.optional(host, "host", "cores_per_node", 0));
  p.balance_time_scale = r.optional(host, "host", "balance_time_scale", 1.0);
  return p;
}

}  // namespace wideep
