// The JSON forms of a plan, shared by `wideep plan`, `--dump-placement` of
// `wideep run`/`sim` and the Python package (python/): wideep's own (--json,
// docs/usage-plan.md) and SGLang's and vLLM's. Pure: builds JSON values, no I/O.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "balance/placement.h"

namespace wideep {

// What the wideep JSON names besides the placements.
struct PlanMeta {
  std::string policy;  // "wideep" | "deepseek" | "topology:SPEC"
  int gpus = 0;
  int nodes = 1;
  int groups = 1;
};

// Sum over each GPU's slots of weight[e] / logcnt[e] (the EPLB model of load).
std::vector<double> plan_gpu_loads(const Placement& p, const double* weight);

// mean / max of GPU loads; all-zero loads count as balanced (1).
double plan_balancedness(const std::vector<double>& load);

// `wideep plan --json`: weight is [layers * experts], one row per placement.
nlohmann::json plan_json(const std::vector<Placement>& ps, const PlanMeta& meta, const double* weight);

// The placements alone, format wideep | sglang | vllm (slot ids global: rank
// r owns slots [r*P/R, (r+1)*P/R), as in both programs):
//   wideep: {"phy2log" [L][P], "log2phy" [L][E][X] (-1 padded, X the most copies), "logcnt" [L][E]}
//   sglang: {"physical_to_logical_map" [L][P]}             SGLang --init-expert-location
//   vllm:   {"physical_to_logical_map", "logical_to_physical_map" [L][E][P-E+1] (-1 padded),
//            "logical_replica_count" [L][E]}                vLLM EplbState's tensors
nlohmann::json placement_json(const std::vector<Placement>& ps, const std::string& format);

}  // namespace wideep
