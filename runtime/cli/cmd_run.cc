// wideep run: validates everything before any communication, then runs the
// step loop of MoeRunner on every rank, reduces each step's figures over ranks
// (the slowest rank's times, global balancedness), checks, rebalances, and
// writes the table and JSON lines on rank 0.
#include <fmt/core.h>

#include <array>
#include <cmath>
#include <limits>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "comm/backend.h"
#include "comm/communicator.h"
#include "comm/device_communicator.h"
#include "comm/mpi_env.h"
#include "common/check.h"
#include "common/clock.h"
#include "common/hash.h"
#include "common/exit_status.h"
#include "kernels/gpu_info.h"
#include "kernels/host_wait_log.h"
#include "runtime/cli/commands.h"
#include "runtime/io/config.h"
#include "runtime/io/counts_dump.h"
#include "runtime/eplb/eplb_manager.h"
#include "runtime/eplb/eplb_planner.h"
#include "runtime/machine/hwloc_topology.h"
#include "runtime/check/inject.h"
#include "runtime/check/layer_dump.h"
#include "runtime/io/metrics.h"
#include "runtime/step/memory_plan.h"
#include "runtime/step/moe_pipeline.h"
#include "runtime/io/placement_export.h"
#include "runtime/io/placement_io.h"
#include "runtime/check/reference.h"

namespace wideep {
namespace {

// Checksums of the step JSON (repeatability, tests/compare_runs.py): common/hash.h.
std::string hex64(uint64_t h) { return fmt::format("{:016x}", h); }

// This rank's host waits for the device over the measured steps
// (kernels/host_wait_log.h), per layer: [{what, per_layer, us_per_layer}].
nlohmann::json host_waits_json(int measured_layers) {
  nlohmann::json a = nlohmann::json::array();
  const double n = std::max(measured_layers, 1);
  for (const HostWait& w : host_waits())
    a.push_back({{"what", w.what}, {"per_layer", w.count / n}, {"us_per_layer", w.ns / 1e3 / n}});
  return a;
}

// This process's resident set in KiB from /proc/self/status: [0] VmRSS (all),
// [1] RssAnon (private memory: heap, stacks; without the file-backed pages of
// libraries and of Open MPI's shared-memory segments). 0 where unknown.
std::array<double, 2> rss_kb() {
  std::ifstream in("/proc/self/status");
  std::string key;
  std::array<double, 2> kb{0, 0};
  while (in >> key) {
    int64_t v = 0;
    if (key == "VmRSS:" && in >> v) kb[0] = static_cast<double>(v);
    if (key == "RssAnon:" && in >> v) kb[1] = static_cast<double>(v);
    in.ignore(1 << 12, '\n');
  }
  return kb;
}

// Everything a run needs that can be wrong in the input, checked on every rank
// alike before the first message is sent.
struct Prepared {
  std::shared_ptr<const Workload> workload;
  std::vector<Fault> faults;
  std::vector<Placement> placement;
  std::unique_ptr<Topology> topology;
  std::string backend;
  DType dtype = DType::kF32;  // wire and compute dtype, as run
  MemoryPlan memory;           // what the pipeline allocates (runtime/step/memory_plan.h)
  std::string init_source;     // --init-placement "FILE (FORMAT)", else empty
  std::vector<std::string> warnings;  // config_warnings(): options that do nothing as given
};

// Ranks of this job on this node (the launcher's count; 1 where unknown): they
// share the node's host memory, and its GPUs.
int ranks_on_this_node(int num_ranks) {
  for (const char* v : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"})
    if (const char* s = std::getenv(v)) {
      const int n = std::atoi(s);
      if (n > 0) return std::min(n, num_ranks);
    }
  return 1;
}

Prepared prepare(RunConfig& cfg, int num_ranks) {
  validate(cfg, num_ranks);
  Prepared p;
  const bool gpu = visible_gpu_count() > 0;
  p.backend = cfg.backend.empty() ? (gpu && nccl_backend_available() ? "nccl" : "mpi") : cfg.backend;
  if (p.backend == "nccl" && !gpu)
    throw UsageError("--backend nccl: no GPU is visible to this process (use --backend mpi)");
  if (p.backend == "nccl" && !nccl_backend_available())
    throw UsageError("--backend nccl: this build has no NCCL backend (configure with WIDEEP_CUDA=ON)");
  if (cfg.transport == "shm" && p.backend != "mpi")
    throw UsageError("--transport shm moves host rows through MPI-3 shared memory: it needs --backend mpi, not " +
                     p.backend);
  // Here, not in validate(): the backend is known only once it is resolved.
  p.dtype = run_dtype(cfg, p.backend);
  // Check the plan against the memory this node has before anything is
  // allocated: same options, same plan on every rank.
  const bool device = p.backend == "nccl";
  p.memory = plan_memory(cfg, num_ranks, device, p.dtype);
  check_plan_fits(p.memory, false, ranks_on_this_node(num_ranks), host_memory_available());
  if (device) {
    const int gpus = std::max(visible_gpu_count(), 1);
    const int per_gpu = (ranks_on_this_node(num_ranks) + gpus - 1) / gpus;
    check_plan_fits(p.memory, true, per_gpu, gpu_free_bytes(local_device_guess(gpus)));
  }
  std::shared_ptr<const Trace> trace;
  if (cfg.workload.kind == WorkloadSpec::Kind::kTrace)
    trace = std::make_shared<Trace>(load_trace(cfg.workload.file, cfg.experts, cfg.topk, cfg.layers, cfg.total_steps()));
  p.workload = std::make_shared<Workload>(cfg.workload, cfg.experts, cfg.topk, cfg.layers, cfg.seed, trace,
                                          static_cast<int64_t>(cfg.tokens) * num_ranks, cfg.groups, cfg.topk_groups);
  p.faults = parse_faults(cfg.inject, num_ranks);
  check_fault_context(p.faults, cfg.eplb_async, p.backend);
  p.topology = load_topology(cfg, num_ranks);
  p.placement = initial_placement(cfg, p.topology.get(), &p.init_source);
  p.warnings = config_warnings(cfg);
  probe_dump_placement(cfg);
  if (!cfg.json_path.empty()) {
    std::ofstream probe(cfg.json_path, std::ios::app);
    if (!probe) throw UsageError("--json " + cfg.json_path + ": cannot open for writing");
  }
  probe_dump_counts(cfg);
  probe_dump_layer(cfg);
  return p;
}

void apply_process_faults(const std::vector<Fault>& faults, int rank, int step) {
  if (find_fault(faults, Fault::Kind::kDie, rank, step)) {
    std::fprintf(stderr, "wideep run: rank %d: injected fault: exiting abruptly at step %d\n", rank, step);
    std::fflush(stderr);
    std::_Exit(kExitFailure);
  }
  if (find_fault(faults, Fault::Kind::kHang, rank, step)) {
    std::fprintf(stderr, "wideep run: rank %d: injected fault: hanging at step %d\n", rank, step);
    std::fflush(stderr);
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(3600));
  }
}

// Stats one rank contributes for one step (allgathered): see fields below.
enum StatField : int { kStepNs, kPhase0, kBaselineNs = kPhase0 + kNumPhases, kWaitNs,
                       kDispatchBytes, kCombineBytes, kDispatchCross, kCombineCross, kHiddenNs, kMismatch, kOutputHash, kPlacementHash,
                       kLplbSkipped, kPlanned, kLoad0 };

int run_loop(const RunConfig& cfg, Communicator& comm, Prepared& prep) {
  const int R = comm.size(), me = comm.rank(), L = cfg.layers;
  std::unique_ptr<LayerRunner> runner_ptr =
      make_pipeline(cfg, comm, prep.workload, prep.faults, prep.placement, prep.dtype, prep.memory);
  LayerRunner& runner = *runner_ptr;
  std::unique_ptr<EplbManager> eplb;
  if (cfg.balancers.eplb)
    eplb = std::make_unique<EplbManager>(cfg, comm, runner, prep.faults, prep.topology.get());
  std::unique_ptr<Reference> ref;
  if (cfg.check) ref = std::make_unique<Reference>(cfg, *prep.workload, prep.dtype);
  RunMetrics metrics(cfg, prep.backend.c_str());
  CountsDump counts_dump(cfg);  // --dump-counts
  metrics.set_dtype(dtype_name(prep.dtype));
  metrics.set_init_placement(prep.init_source);
  metrics.set_policy_description(policy_description(cfg, prep.topology != nullptr));
  for (const std::string& w : prep.warnings) {
    metrics.add_warning(w);
    if (me == 0) std::fprintf(stderr, "wideep run: warning: %s\n", w.c_str());
  }
  const DType dispatch = dispatch_dtype(cfg, prep.dtype), combine = combine_dtype(cfg, prep.dtype);
  metrics.set_wire_dtypes(dtype_name(dispatch), dtype_name(combine));
  const double limit = check_limit(prep.dtype, dispatch, combine);
  std::ofstream json;
  if (me == 0 && !cfg.json_path.empty()) json.open(cfg.json_path, std::ios::trunc);

  const int nstat = kLoad0 + L;
  std::vector<int64_t> mine(nstat), all(static_cast<size_t>(nstat) * R);
  std::vector<LayerStats> ls(L);
  bool check_failed = false, dumped = false;
  int64_t grown_bytes = 0;  // receive buffers grown by steps that received more than planned
  comm.barrier();  // connect before the first timed step
  const bool checksums = !cfg.json_path.empty();  // only the JSON lines show them
  std::array<double, 2> rss_after_first_kb{};  // largest over ranks, after step 0 (all buffers exist)
  std::array<double, 2> rss_tenth_kb{};        // the same after a tenth of the steps (first rebalances done)
  const int tenth_step = cfg.total_steps() / 10;
  int64_t prev_done_ns = now_ns();
  NodeSpread spread;  // nodes per token over the measured steps, this rank's tokens
  for (int step = 0; step < cfg.total_steps(); ++step) {
    if (step == cfg.warmup) reset_host_waits();  // the summary's host_waits: measured steps only
    apply_process_faults(prep.faults, me, step);
    std::fill(mine.begin(), mine.end(), 0);
    uint64_t out_hash = 0, place_hash = 0;
    const bool check_step = ref && step % cfg.check_every == 0;
    double err[2] = {0, 0};  // max abs error, max relative error
    for (int l = 0; l < L; ++l) {
      const int64_t t0 = now_ns();
      runner.run_layer(step, l, &ls[l]);
      const int64_t layer_ns = now_ns() - t0 - ls[l].baseline_ns;
      mine[kStepNs] += layer_ns;
      // What overlap hid on this rank: its phases (and --phase-barrier waits,
      // which the phases exclude) summed, less the layer's time.
      mine[kHiddenNs] += ls[l].wait_ns - layer_ns;
      for (int p = 0; p < kNumPhases; ++p) {
        mine[kPhase0 + p] += ls[l].phase_ns[p];
        mine[kHiddenNs] += ls[l].phase_ns[p];
      }
      mine[kBaselineNs] += ls[l].baseline_ns;
      mine[kWaitNs] += ls[l].wait_ns;
      mine[kDispatchBytes] += ls[l].dispatch_bytes_remote;
      mine[kCombineBytes] += ls[l].combine_bytes_remote;
      mine[kDispatchCross] += ls[l].dispatch_bytes_cross_node;
      mine[kCombineCross] += ls[l].combine_bytes_cross_node;
      mine[kMismatch] += ls[l].expected_load >= 0 && ls[l].expected_load != ls[l].load_pairs;
      mine[kPlanned] += ls[l].expected_load >= 0;
      // A node's (or, global scope, the job's) decision counts once: its first rank reports it.
      if (me % (cfg.lplb_node_scope() ? cfg.ranks_per_node() : R) == 0) mine[kLplbSkipped] += ls[l].lplb_skipped;
      mine[kLoad0 + l] = ls[l].load_pairs;
      grown_bytes += ls[l].grown_bytes;
      if (step >= cfg.warmup) spread.merge(ls[l].nodes_per_token);
      if (eplb) eplb->record(step, l, runner.local_counts());
      counts_dump.record(step, l, runner.local_counts());
      if (checksums) {
        out_hash = hash_bytes(out_hash, runner.output(), sizeof(float) * static_cast<size_t>(cfg.tokens) * cfg.hidden);
        const std::vector<int>& p2l = runner.placements()[l].phy2log;
        place_hash = hash_bytes(place_hash, p2l.data(), sizeof(int) * p2l.size());
      }
      if (check_step) {
        const CheckResult c = ref->compare(step, l, static_cast<int64_t>(me) * cfg.tokens, runner.output());
        // A NaN anywhere fails: it compares false with everything, so it is made infinite.
        const double rel_raw = c.max_abs_err / std::max(c.scale, 1e-30);
        const double rel = std::isnan(rel_raw) ? std::numeric_limits<double>::infinity() : rel_raw;
        if (!(rel <= limit) && !check_failed) {
          std::fprintf(stderr,
                       "wideep run: rank %d: check failed at step %d layer %d token %d (global %lld): "
                       "max abs err %.3g, output scale %.3g\n",
                       me, step, l, c.worst_token, static_cast<long long>(me) * cfg.tokens + c.worst_token,
                       c.max_abs_err, c.scale);
          check_failed = true;
        }
        if (me == 0 && l == 0 && !dumped && !cfg.dump_layer.empty()) {
          write_layer_dump(cfg, prep.dtype, dispatch, combine, step, l, *ref, runner.output());
          dumped = true;
        }
        err[0] = std::max(err[0], c.max_abs_err);
        err[1] = std::max(err[1], rel);
      }
    }
    mine[kOutputHash] = static_cast<int64_t>(out_hash);
    mine[kPlacementHash] = static_cast<int64_t>(place_hash);
    comm.set_context({step, -1, "metrics"});
    comm.allgather_int64(mine.data(), nstat, all.data());
    if (check_step) comm.allreduce_max_double(err, 2);
    if (step == 0 || step == tenth_step) {
      std::array<double, 2> kb = rss_kb();
      comm.allreduce_max_double(kb.data(), 2);
      (step == 0 ? rss_after_first_kb : rss_tenth_kb) = kb;
    }
    RebalanceRecord rec;
    const bool rebalanced = eplb && eplb->maybe_rebalance(step, &rec);
    if (rebalanced) {
      metrics.add_rebalance(rec);
      if (json.is_open()) json << metrics.rebalance_json(rec).dump() << "\n";
    }
    // Every rank leaves the step's collectives (and any rebalance) together: the
    // gap since the previous completion is the stall a user would see.
    const int64_t done_ns = now_ns();
    const double stall_us = (done_ns - prev_done_ns) * 1e-3;
    prev_done_ns = done_ns;
    if (step < cfg.warmup) continue;
    StepRecord& r = metrics.next_step();
    r.step = step;
    r.stall_us = stall_us;
    for (int q = 0; q < R; ++q) {
      const int64_t* s = &all[static_cast<size_t>(q) * nstat];
      r.step_us = std::max(r.step_us, s[kStepNs] / 1e3);
      for (int p = 0; p < kNumPhases; ++p) r.phases_us[p] = std::max(r.phases_us[p], s[kPhase0 + p] / 1e3);
      r.baseline_us = std::max(r.baseline_us, s[kBaselineNs] / 1e3);
      r.wait_us = std::max(r.wait_us, s[kWaitNs] / 1e3);
      r.dispatch_bytes += s[kDispatchBytes];
      r.combine_bytes += s[kCombineBytes];
      r.dispatch_bytes_cross_node += s[kDispatchCross];
      r.combine_bytes_cross_node += s[kCombineCross];
      r.overlap_hidden_us += s[kHiddenNs] / 1e3 / R;
      r.load_mismatches += s[kMismatch];
      if (cfg.per_rank) {
        r.rank_dispatch_bytes[q] = s[kDispatchBytes];
        r.rank_combine_bytes[q] = s[kCombineBytes];
        for (int l = 0; l < L; ++l) r.rank_load[q] += s[kLoad0 + l];
      }
      r.load_planned += s[kPlanned];
      r.lplb_skipped += s[kLplbSkipped];
    }
    for (int l = 0; l < L; ++l) {
      int64_t mx = 0, sum = 0;
      for (int q = 0; q < R; ++q) {
        const int64_t v = all[static_cast<size_t>(q) * nstat + kLoad0 + l];
        mx = std::max(mx, v);
        sum += v;
      }
      const double b = mx > 0 ? static_cast<double>(sum) / R / mx : 1.0;
      r.layer_balancedness[static_cast<size_t>(l)] = b;
      r.balancedness += b / L;
      r.max_rank_load += mx;
    }
    if (check_step) {
      r.max_abs_err = err[0];
      r.rel_err = err[1];
    }
    if (json.is_open()) {
      // Every rank's outputs, and every rank's placement and realised loads (the
      // LP split), folded in rank order: equal on two runs with the same seed.
      uint64_t oh = 0, ph = 0;
      for (int q = 0; q < R; ++q) {
        const int64_t* s = &all[static_cast<size_t>(q) * nstat];
        oh = mix64(oh, static_cast<uint64_t>(s[kOutputHash]));
        ph = mix64(ph, static_cast<uint64_t>(s[kPlacementHash]));
        ph = hash_bytes(ph, s + kLoad0, sizeof(int64_t) * L);
      }
      nlohmann::json j = metrics.step_json(r);
      j["output_checksum"] = hex64(oh);
      j["placement_checksum"] = hex64(ph);
      json << j.dump() << "\n";
    }
  }
  if (eplb) eplb->drain();  // --eplb-async: nothing left in flight at the end
  // Memory growth over the run (the soak benchmark reads it from the summary).
  std::array<double, 2> rss_end = rss_kb();
  comm.set_context({cfg.total_steps(), -1, "summary"});
  comm.allreduce_max_double(rss_end.data(), 2);
  // What the pipeline holds (largest over ranks), to compare with `wideep mem`.
  std::array<double, 3> held{0, 0, static_cast<double>(grown_bytes)};
  {
    int64_t host = 0, device = 0;
    runner.memory(&host, &device);
    held[0] = static_cast<double>(host);
    held[1] = static_cast<double>(device);
  }
  comm.allreduce_max_double(held.data(), 3);
  // The LP's warm starts (lplb), over all ranks: the share kept, as `wideep sim` reports it.
  std::array<double, 2> warm{static_cast<double>(runner.lp_stats().warm_tried),
                             static_cast<double>(runner.lp_stats().warm_kept)};
  comm.allreduce_sum_double(warm.data(), 2);
  std::array<double, 2> spread_sum{static_cast<double>(spread.tokens), static_cast<double>(spread.node_sum)};
  comm.allreduce_sum_double(spread_sum.data(), 2);
  double spread_max = spread.max_nodes;
  comm.allreduce_max_double(&spread_max, 1);
  counts_dump.write(comm);
  // Every rank holds the same placements: rank 0 writes them.
  if (me == 0 && !cfg.dump_placement.empty())
    write_placement_file(cfg.dump_placement, "--dump-placement", runner.placements(), cfg.dump_placement_format);
  double worst_rel = 0;
  for (const StepRecord& r : metrics.steps()) worst_rel = std::max(worst_rel, r.rel_err);
  if (me == 0) {
    if (json.is_open()) {
      nlohmann::json j = metrics.summary_json();
      // Max over ranks; anon_*: private memory only (see rss_kb()).
      auto kib = [](double v) { return static_cast<int64_t>(v); };
      j["rss_kb"] = {{"after_step0", kib(rss_after_first_kb[0])}, {"after_tenth", kib(rss_tenth_kb[0])},
                     {"end", kib(rss_end[0])}, {"tenth_step", tenth_step},
                     {"anon_after_step0", kib(rss_after_first_kb[1])}, {"anon_after_tenth", kib(rss_tenth_kb[1])},
                     {"anon_end", kib(rss_end[1])}};
      j["host_bytes"] = static_cast<int64_t>(held[0]);
      j["device_bytes"] = static_cast<int64_t>(held[1]);
      j["grown_bytes"] = static_cast<int64_t>(held[2]);
      if (warm[0] > 0) j["lp_warm_kept"] = warm[1] / warm[0];
      if (spread_sum[0] > 0)
        j["nodes_per_token"] = {{"mean", spread_sum[1] / spread_sum[0]}, {"max", static_cast<int>(spread_max)}};
      j["host_waits"] = host_waits_json(cfg.steps * L);
      j["planned_host_bytes"] = prep.memory.pipeline_bytes(false);
      j["planned_device_bytes"] = prep.memory.pipeline_bytes(true);
      json << j.dump() << "\n";
    }
    if (!cfg.quiet) metrics.print_table();
    if (cfg.check)
      fmt::print("check: {} (max relative error {:.3g}, limit {:.3g} for {})\n", worst_rel <= limit ? "passed" : "FAILED",
                 worst_rel, limit, dtype_name(prep.dtype));
    std::fflush(stdout);
  }
  return (cfg.check && !(worst_rel <= limit)) || check_failed ? kExitCheckFailed : kExitOk;
}

}  // namespace

int run_main(int argc, char** argv) {
  MpiWorld world = mpi_init(&argc, &argv);
  RunConfig cfg;
  Prepared prep;
  cfg.argv.push_back("wideep");
  cfg.argv.insert(cfg.argv.end(), argv, argv + argc);
  try {
    if (!parse_run_args(argc, argv, cfg, "run")) {
      mpi_finalize();
      return kExitOk;
    }
    prep = prepare(cfg, world.size);
  } catch (const UsageError& e) {
    // Every rank reaches the same verdict from the same input; one prints it.
    if (world.rank == 0) std::fprintf(stderr, "wideep run: error: %s\n", e.what());
    mpi_finalize();
    return kExitUsage;
  }
  // The timeout applies from the communicator's creation (NCCL's init waits for every rank);
  // a failed creation ends the job with one message instead of std::terminate.
  std::unique_ptr<Communicator> comm;
  try {
    comm = make_communicator(prep.backend, cfg.timeout_s, cfg.eplb_async);
    const std::string planned = planned_transport(cfg, prep.backend);
    if (!comm->set_transport(cfg.transport, cfg.ranks_per_node()))  // collective, before the first step
      throw Error(ErrorCategory::kInternal, "--transport " + cfg.transport + ": not offered by --backend " + prep.backend);
    // From here on cfg names what runs (auto resolved): the pipeline, the
    // header and the summary's `transport` follow it. Where auto resolved
    // otherwise than planned (ranks spread one per machine), the plan follows
    // too: a low-latency run's buffers depend on it.
    cfg.transport = comm->transport_name();
    if (cfg.transport != planned) prep.memory = plan_memory(cfg, world.size, prep.backend == "nccl", prep.dtype);
  } catch (const Error& e) {
    std::fprintf(stderr, "wideep run: %s\n", e.what());
    mpi_abort(e.category() == ErrorCategory::kTimeout           ? kExitTimeout
              : e.category() == ErrorCategory::kInvalidArgument ? kExitUsage
                                                                : kExitFailure);
  }
  if (auto* dev = dynamic_cast<DeviceCommunicator*>(comm.get())) {
    // The rank's cores go next to its GPU (the host work of every step: routing,
    // the LP, staging) unless the launcher bound it already.
    const std::string how = bind_near_device(gpu_pci_bus_id(dev->device()));
    if (!cfg.quiet && world.rank == 0) std::fprintf(stderr, "wideep run: rank 0: %s\n", how.c_str());
  }
  int status = kExitOk;
  try {
    status = run_loop(cfg, *comm, prep);
  } catch (const Error& e) {
    std::fprintf(stderr, "wideep run: %s\n", e.what());
    std::fflush(stderr);
    status = e.category() == ErrorCategory::kTimeout ? kExitTimeout
             : e.category() == ErrorCategory::kCheckFailed || e.category() == ErrorCategory::kRemote ? kExitCheckFailed
                                                                                                    : kExitFailure;
    // The other ranks waiting for the same missing peer time out within
    // moments of this one: give them a second to print their own line before
    // the abort kills them (mpirun may drop what they print after it).
    if (status == kExitTimeout) std::this_thread::sleep_for(std::chrono::seconds(1));
    comm->abort(status);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wideep run: rank %d: %s\n", world.rank, e.what());
    std::fflush(stderr);
    comm->abort(kExitFailure);
  }
  comm.reset();
  mpi_finalize();
  return status;
}

}  // namespace wideep
