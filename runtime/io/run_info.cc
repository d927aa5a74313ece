// The resolved configuration as JSON and the build's commit.
#include "runtime/io/run_info.h"

#ifndef WIDEEP_GIT_COMMIT
#define WIDEEP_GIT_COMMIT "unknown"
#endif

namespace wideep {

namespace {
// An unset path or name is null in the record, not "".
nlohmann::json or_null(const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); }
}  // namespace

nlohmann::json config_json(const RunConfig& c) {
  nlohmann::json j;
  j["backend"] = c.backend.empty() ? "auto" : c.backend;
  j["dtype"] = c.dtype;
  j["experts"] = c.experts;
  j["topk"] = c.topk;
  j["hidden"] = c.hidden;
  j["ffn"] = c.ffn;
  j["tokens"] = c.tokens;
  j["layers"] = c.layers;
  j["steps"] = c.steps;
  j["warmup"] = c.warmup;
  j["seed"] = c.seed;
  j["workload"] = c.workload_text;
  j["balancer"] = c.balancers.text;
  j["shared_experts"] = c.shared_experts;
  j["redundant"] = c.redundant;
  j["slots_per_rank"] = c.slots_per_rank;
  j["topology"] = or_null(c.topology);
  j["gpus_per_node"] = c.ranks_per_node();
  j["groups"] = c.groups;
  j["topk_groups"] = c.topk_groups;
  j["eplb_policy"] = c.eplb_policy;
  j["eplb_window"] = c.eplb_window;
  j["eplb_interval"] = c.eplb_interval;
  j["eplb_layers_per_chunk"] = c.eplb_layers_per_chunk;
  j["eplb_min_gain"] = c.eplb_min_gain;
  j["eplb_keep_within"] = c.eplb_keep_within;
  j["eplb_max_moves"] = c.eplb_max_moves;
  j["eplb_async"] = c.eplb_async;
  j["init_placement"] = or_null(c.init_placement);
  j["check"] = c.check;
  j["check_every"] = c.check_every;
  j["baseline"] = c.baseline;
  j["phase_barrier"] = c.phase_barrier;
  j["timeout_s"] = c.timeout_s;
  j["inject"] = c.inject;
  j["waterfill_mode"] = c.waterfill_mode;
  j["dispatch_dtype"] = c.dispatch_dtype;
  j["combine_dtype"] = c.combine_dtype;
  j["dispatch_mode"] = c.dispatch_mode;
  j["ll_max_tokens"] = c.ll_max_tokens;
  j["transport"] = c.transport;
  j["overlap"] = c.overlap;
  j["tbo_split"] = c.tbo_split;
  j["lplb_scope"] = c.lplb_scope;
  j["lplb_auto"] = c.lplb_auto;
  j["per_rank"] = c.per_rank;
  j["dump_counts"] = or_null(c.dump_counts);
  j["dump_placement"] = or_null(c.dump_placement);
  j["dump_placement_format"] = c.dump_placement_format;
  return j;
}

const char* build_commit() { return WIDEEP_GIT_COMMIT; }

}  // namespace wideep
