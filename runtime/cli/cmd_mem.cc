// wideep mem: the per-rank memory plan of a run (runtime/step/memory_plan.h),
// buffer by buffer, for the run options given, --ranks R and --backend, as a
// table or with --json; without running anything (no MPI, no GPU needed).
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/check.h"
#include "common/exit_status.h"
#include "runtime/cli/commands.h"
#include "runtime/io/config.h"
#include "runtime/step/memory_plan.h"
#include "runtime/step/moe_pipeline.h"

namespace wideep {

int mem_main(int argc, char** argv) {
  RunConfig cfg;
  int ranks = 1;
  bool as_json = false;
  CLI::App app{"wideep mem: the per-rank memory plan of `wideep run` with the same options"};
  app.name("wideep mem");
  add_run_options(app, cfg);
  app.remove_option(app.get_option("--json"));
  app.add_option("--ranks", ranks, "ranks of the run")->capture_default_str();
  app.add_flag("--json", as_json, "print the plan as one JSON object");
  if (!parse_cli(app, argc, argv)) return kExitOk;
  if (ranks < 1 || ranks > (1 << 20)) throw UsageError("--ranks must be in [1, 2^20]");
  const std::string backend = cfg.backend.empty() ? "mpi" : cfg.backend;
  if (backend != "mpi" && backend != "nccl") throw UsageError("--backend '" + backend + "': unknown backend (mpi, nccl)");
  validate(cfg, ranks);
  const DType dtype = run_dtype(cfg, backend);
  const MemoryPlan plan = plan_memory(cfg, ranks, backend == "nccl", dtype);
  if (as_json) {
    nlohmann::json buffers = nlohmann::json::object();
    for (const PlannedBuffer& b : plan.buffers) buffers[b.name] = b.bytes;
    nlohmann::json j = {{"ranks", ranks},
                        {"backend", backend},
                        {"dtype", dtype_name(dtype)},
                        {"host_bytes", plan.host_bytes()},
                        {"device_bytes", plan.device_bytes()},
                        {"pipeline_host_bytes", plan.pipeline_bytes(false)},
                        {"pipeline_device_bytes", plan.pipeline_bytes(true)},
                        {"recv_rows_capacity", plan.recv_rows_capacity},
                        {"pairs_capacity", plan.pairs_capacity},
                        {"buffers", buffers}};
    fmt::print("{}\n", j.dump());
    return kExitOk;
  }
  fmt::print("# wideep mem: {} ranks, backend {}, dtype {}, per rank\n", ranks, backend, dtype_name(dtype));
  fmt::print("# receive capacity: {} rows, {} pairs (grown by a step that receives more)\n", plan.recv_rows_capacity,
             plan.pairs_capacity);
  fmt::print("{:<64} {:>6} {:>14}\n", "buffer", "memory", "bytes");
  for (const PlannedBuffer& b : plan.buffers)
    fmt::print("{:<64} {:>6} {:>14}  {}\n", b.name, b.device ? "device" : "host", b.bytes, format_bytes(b.bytes));
  fmt::print("{:<64} {:>6} {:>14}  {}\n", "total", "host", plan.host_bytes(), format_bytes(plan.host_bytes()));
  fmt::print("{:<64} {:>6} {:>14}  {}\n", "total", "device", plan.device_bytes(), format_bytes(plan.device_bytes()));
  return kExitOk;
}

}  // namespace wideep
