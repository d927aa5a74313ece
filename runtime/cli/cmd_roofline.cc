// wideep roofline: one layer on one rank (no MPI), the device's memory-bound
// kernels against a copy of the same bytes and its grouped GEMM against one
// dense GEMM of the same FLOPs (kernels/roofline_bench.h), for each --tokens;
// a table, and JSON lines with --json. launch/roofline.py turns them into the
// stage's summary lines.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/check.h"
#include "common/exit_status.h"
#include "kernels/roofline_bench.h"
#include "runtime/cli/commands.h"
#include "runtime/io/config.h"

namespace wideep {

namespace {
std::vector<int> parse_tokens(const std::string& text) {
  std::vector<int> v;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    size_t used = 0;
    int t = 0;
    try {
      t = std::stoi(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != part.size() || part.empty() || t < 1 || t > (1 << 20))
      throw UsageError("--tokens '" + text + "': a comma list of token counts in [1, 2^20]");
    v.push_back(t);
  }
  if (v.empty()) throw UsageError("--tokens: empty list");
  return v;
}
}  // namespace

int roofline_main(int argc, char** argv) {
  std::string backend = "cuda", tokens_text = "128,4096", dtype = "bf16", dispatch = "fp8", combine = "bf16", json_path;
  RooflineConfig cfg;
  RooflineShape& s = cfg.shape;
  s.hidden = 7168, s.ffn = 2048, s.slots = 256, s.topk = 8;
  CLI::App app{"wideep roofline: one layer's kernels on one rank against the chip's copy and dense-GEMM speed"};
  app.name("wideep roofline");
  app.add_option("--backend", backend, "cuda | host (host: the rehearsal, OpenBLAS and memcpy)")->capture_default_str();
  app.add_option("--tokens", tokens_text, "tokens of the rank, a comma list: one measurement each")->capture_default_str();
  app.add_option("--hidden", s.hidden, "H")->capture_default_str();
  app.add_option("--ffn", s.ffn, "F")->capture_default_str();
  app.add_option("--experts", s.slots, "experts, all on this rank")->capture_default_str();
  app.add_option("--topk", s.topk, "K")->capture_default_str();
  app.add_option("--dtype", dtype, "compute dtype: bf16 | fp32")->capture_default_str();
  app.add_option("--dispatch-dtype", dispatch, "fp32 | bf16 | fp8")->capture_default_str();
  app.add_option("--combine-dtype", combine, "fp32 | bf16")->capture_default_str();
  app.add_option("--warmup", cfg.warmup, "untimed runs of each measurement")->capture_default_str();
  app.add_option("--iters", cfg.iters, "timed runs of each measurement (the median is reported)")->capture_default_str();
  app.add_option("--seed", cfg.seed, "routing, activations and weights")->capture_default_str();
  app.add_option("--timeout-s", cfg.timeout_s, "any wait for the device longer than this ends the run")->capture_default_str();
  app.add_option("--json", json_path, "write JSON lines (kernel, gemm, layer) here");
  if (!parse_cli(app, argc, argv)) return kExitOk;
  if (backend != "cuda" && backend != "host") throw UsageError("--backend '" + backend + "': cuda or host");
  const std::vector<int> tokens = parse_tokens(tokens_text);
  if (s.hidden < 1 || s.ffn < 1 || s.slots < 1) throw UsageError("--hidden, --ffn and --experts must be positive");
  if (s.topk < 1 || s.topk > s.slots) throw UsageError("--topk must be in [1, --experts]");
  if (cfg.warmup < 0 || cfg.iters < 1) throw UsageError("--warmup must be >= 0 and --iters >= 1");
  if (!(cfg.timeout_s > 0)) throw UsageError("--timeout-s must be positive");
  s.compute = parse_dtype(dtype, "--dtype");
  s.dispatch = parse_dtype(dispatch, "--dispatch-dtype", true);
  s.combine = parse_dtype(combine, "--combine-dtype");
  if (backend == "host" && (s.compute != DType::kBF16 || s.combine != DType::kBF16))
    throw UsageError("--backend host: the rehearsal runs --dtype bf16 --combine-dtype bf16");
  std::ofstream json;
  if (!json_path.empty()) {
    json.open(json_path, std::ios::trunc);
    if (!json) throw UsageError("--json " + json_path + ": cannot open for writing");
  }
  bool header = false;
  for (int T : tokens) {
    s.tokens = T;
    const RooflineResult r = backend == "cuda" ? measure_roofline_device(cfg) : measure_roofline_host(cfg);
    if (!header) {
      fmt::print("# wideep roofline: {} ({}), H {}, F {}, experts {}, top-{}, compute {}, dispatch {}, combine {}, "
                 "median of {} after {}\n",
                 r.backend, r.device, s.hidden, s.ffn, s.slots, s.topk, dtype_name(s.compute),
                 dtype_name(s.dispatch), dtype_name(s.combine), cfg.iters, cfg.warmup);
      fmt::print("{:>6} {:<18} {:>12} {:>10} {:>10} {:>9} {:>9} {:>6}\n", "tokens", "kernel", "bytes", "kernel_us",
                 "copy_us", "GB/s", "copy_GB/s", "ratio");
      header = true;
    }
    for (const KernelTiming& k : r.kernels) {
      const double gbs = k.bytes.moved() / (k.kernel_us * 1e3), copy_gbs = k.bytes.moved() / (k.copy_us * 1e3);
      fmt::print("{:>6} {:<18} {:>12} {:>10.2f} {:>10.2f} {:>9.1f} {:>9.1f} {:>6.2f}\n", T, k.bytes.name,
                 k.bytes.moved(), k.kernel_us, k.copy_us, gbs, copy_gbs, k.copy_us / k.kernel_us);
      if (json.is_open())
        json << nlohmann::json{{"type", "kernel"}, {"backend", r.backend}, {"device", r.device}, {"tokens", T},
                               {"name", k.bytes.name}, {"bytes_read", k.bytes.read},
                               {"bytes_written", k.bytes.written}, {"bytes", k.bytes.moved()},
                               {"kernel_us", k.kernel_us}, {"copy_us", k.copy_us}, {"gbps", gbs},
                               {"copy_gbps", copy_gbs}, {"ratio", k.copy_us / k.kernel_us}}
                    .dump()
             << "\n";
    }
    for (const GemmTiming& g : r.gemm) {
      const double tf = r.flops / (g.grouped_us * 1e6), dense_tf = r.flops / (g.dense_us * 1e6);
      fmt::print("{:>6} gemm {:<13} {:>12.4g} {:>10.1f} {:>10.1f} {:>7.1f}TF {:>7.1f}TF {:>6.2f}  (FLOPs; grouped us, "
                 "dense us)\n",
                 T, g.mode, r.flops, g.grouped_us, g.dense_us, tf, dense_tf, g.dense_us / g.grouped_us);
      if (json.is_open())
        json << nlohmann::json{{"type", "gemm"}, {"backend", r.backend}, {"tokens", T}, {"mode", g.mode},
                               {"flops", r.flops}, {"grouped_us", g.grouped_us}, {"dense_us", g.dense_us},
                               {"tflops", tf}, {"dense_tflops", dense_tf}, {"ratio", g.dense_us / g.grouped_us}}
                    .dump()
             << "\n";
    }
    fmt::print("{:>6} {:<18} {:>12} {:>10.1f}  (the layer's kernels back to back, no host wait)\n", T, "layer_kernels",
               "", r.layer_kernels_us);
    if (json.is_open())
      json << nlohmann::json{{"type", "layer"}, {"backend", r.backend}, {"tokens", T},
                             {"layer_kernels_us", r.layer_kernels_us}}
                  .dump()
           << "\n";
    std::fflush(stdout);
  }
  return kExitOk;
}

}  // namespace wideep
