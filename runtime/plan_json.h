// The JSON forms of a plan, shared by `wideep plan` and the Python package
// (python/): wideep's own (--json, docs/usage-plan.md) and SGLang's and vLLM's
// (--format sglang|vllm). Pure: builds JSON values, does no I/O.
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

// `wideep plan --format sglang|vllm` (format is one of the two).
nlohmann::json plan_foreign_json(const std::vector<Placement>& ps, const std::string& format);

}  // namespace wideep
