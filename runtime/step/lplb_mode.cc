// --lplb-scope / --lplb-auto for the run's router.
#include "runtime/step/lplb_mode.h"

#include <string>

namespace wideep {

namespace {
// Wire bytes per channel of a dtype (fp8: one fp32 scale per 128 channels).
double channel_bytes(const std::string& dtype, const std::string& run_dtype) {
  const std::string d = dtype == "auto" ? run_dtype : dtype;
  if (d == "fp8") return 1.0 + 4.0 / 128;
  if (d == "bf16") return 2.0;
  return 4.0;
}
}  // namespace

LplbCostModel lplb_cost_for_run(const RunConfig& cfg) {
  const std::string run_dtype = cfg.dtype == "bf16" ? "bf16" : "fp32";
  const double row = cfg.hidden * (channel_bytes(cfg.dispatch_dtype, run_dtype) +
                                   channel_bytes(cfg.combine_dtype, run_dtype));
  return default_lplb_cost(cfg.hidden, cfg.ffn, static_cast<int64_t>(row * rows_per_pair(cfg.num_ranks, cfg.topk)));
}

void configure_lplb(const RunConfig& cfg, TokenRouter* router) {
  if (!cfg.balancers.lplb) return;
  const LplbCostModel cost = lplb_cost_for_run(cfg);
  router->set_lplb_mode(cfg.lplb_node_scope(), cfg.lplb_automatic() ? &cost : nullptr, cfg.layers);
}

}  // namespace wideep
