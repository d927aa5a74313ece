// One layer's inputs and outputs as JSON (runtime/check/layer_dump.h).
#include "runtime/check/layer_dump.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/check.h"

namespace wideep {

void probe_dump_layer(const RunConfig& cfg) {
  if (cfg.dump_layer.empty()) return;
  if (!cfg.check) throw UsageError("--dump-layer needs --check (it writes the reference's inputs and output)");
  std::ofstream probe(cfg.dump_layer, std::ios::app);
  if (!probe) throw UsageError("--dump-layer " + cfg.dump_layer + ": cannot open for writing");
}

void write_layer_dump(const RunConfig& cfg, DType compute, DType dispatch, DType combine, int step, int layer,
                      const Reference& ref, const float* out) {
  const size_t n = static_cast<size_t>(cfg.tokens) * cfg.hidden;
  nlohmann::json j = {{"tokens", cfg.tokens},
                      {"hidden", cfg.hidden},
                      {"ffn", cfg.ffn},
                      {"experts", cfg.experts},
                      {"shared_experts", cfg.shared_experts},
                      {"topk", cfg.topk},
                      {"seed", cfg.seed},
                      {"step", step},
                      {"layer", layer},
                      {"dtype", dtype_name(compute)},
                      {"dispatch_dtype", dtype_name(dispatch)},
                      {"combine_dtype", dtype_name(combine)},
                      {"x", ref.input()},
                      {"topk_ids", ref.topk_ids()},
                      {"gate_weights", ref.gate_weights()},
                      {"reference", ref.output()},
                      {"output", std::vector<float>(out, out + n)}};
  std::ofstream f(cfg.dump_layer, std::ios::trunc);
  f << j.dump() << "\n";
  if (!f) throw Error(ErrorCategory::kSystem, "--dump-layer " + cfg.dump_layer + ": write failed");
}

}  // namespace wideep
