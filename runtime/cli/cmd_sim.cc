// wideep sim: validates the run options plus --ranks and --profile, runs the
// real routing, balancers and layout for R virtual ranks in this process with
// the cost model of the profile, and writes `wideep run`'s table and JSON lines
// (plus "simulated": true). No MPI: one process, one core.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <memory>

#include "common/check.h"
#include "common/exit_status.h"
#include "runtime/cli/commands.h"
#include "runtime/io/config.h"
#include "runtime/eplb/eplb_planner.h"
#include "runtime/io/metrics.h"
#include "runtime/io/placement_export.h"
#include "runtime/io/placement_io.h"
#include "runtime/sim/sim_config.h"
#include "runtime/sim/sim_engine.h"
#include "runtime/sim/sim_profile.h"

namespace wideep {
namespace {

struct SimSetup {
  SimProfile profile;
  std::shared_ptr<const Workload> workload;
  std::unique_ptr<Topology> topology;
  std::vector<Placement> placement;
  std::string init_source;  // --init-placement "FILE (FORMAT)", else empty
};

// Parses and checks everything; throws UsageError. Returns false after --help.
bool prepare(int argc, char** argv, RunConfig& cfg, SimOptions& sim, SimSetup* out) {
  CLI::App app{"wideep sim: cluster-scale simulation of `wideep run` with a cost model"};
  app.name("wideep sim");
  add_run_options(app, cfg, /*for_sim=*/true);
  add_sim_options(app, sim);
  if (!parse_cli(app, argc, argv)) return false;
  // Bound (so that they parse) but hidden from the help: name them, exit 2.
  for (int i = 0; i < kNumRunOnlyOptions; ++i)
    if (app.count(kRunOnlyOptions[i]) > 0)
      throw UsageError(std::string(kRunOnlyOptions[i]) + " has no meaning for wideep sim (an option of wideep run; "
                       "`wideep sim --help` lists what the simulator honours)");
  validate_sim(cfg, sim);
  // The summary's `transport`: what `wideep run` of these options would use
  // on the host with --gpus-per-node ranks per machine (the bytes per link
  // class, which the simulator models, are the same on every transport).
  cfg.transport = planned_transport(cfg, "mpi");
  out->profile = read_profile(sim.profile);
  std::shared_ptr<const Trace> trace;
  if (cfg.workload.kind == WorkloadSpec::Kind::kTrace)
    trace = std::make_shared<Trace>(load_trace(cfg.workload.file, cfg.experts, cfg.topk, cfg.layers, cfg.total_steps()));
  out->workload = std::make_shared<Workload>(cfg.workload, cfg.experts, cfg.topk, cfg.layers, cfg.seed, trace,
                                             static_cast<int64_t>(cfg.tokens) * sim.ranks, cfg.groups,
                                             cfg.topk_groups);
  out->topology = load_topology(cfg, sim.ranks);
  out->placement = initial_placement(cfg, out->topology.get(), &out->init_source);
  probe_dump_placement(cfg);
  if (!cfg.json_path.empty()) {
    std::ofstream probe(cfg.json_path, std::ios::app);
    if (!probe) throw UsageError("--json " + cfg.json_path + ": cannot open for writing");
  }
  return true;
}

}  // namespace

int sim_main(int argc, char** argv) {
  RunConfig cfg;
  SimOptions sim;
  SimSetup setup;
  cfg.argv.push_back("wideep");
  cfg.argv.insert(cfg.argv.end(), argv, argv + argc);
  try {
    if (!prepare(argc, argv, cfg, sim, &setup)) return kExitOk;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "wideep sim: error: %s\n", e.what());
    return kExitUsage;
  }
  RunMetrics metrics(cfg, "sim");
  metrics.set_init_placement(setup.init_source);
  metrics.set_policy_description(policy_description(cfg, setup.topology != nullptr));
  for (const std::string& w : config_warnings(cfg)) {
    metrics.add_warning(w);
    std::fprintf(stderr, "wideep sim: warning: %s\n", w.c_str());
  }
  std::ofstream json;
  if (!cfg.json_path.empty()) json.open(cfg.json_path, std::ios::trunc);
  SimTotals totals;
  std::string dispatch_dtype, combine_dtype;
  try {
    SimEngine engine(cfg, setup.profile, setup.workload, std::move(setup.placement), setup.topology.get());
    // Stderr only, where it is a terminal: the table and JSON stay as they are.
    SimProgress progress(stderr, SimProgress::wanted(cfg.quiet), cfg.total_steps());
    engine.set_progress(&progress);
    // `auto` wire dtypes are the host path's fp32 (the sim has no --dtype).
    dispatch_dtype = cfg.dispatch_dtype == "auto" ? "fp32" : cfg.dispatch_dtype;
    combine_dtype = cfg.combine_dtype == "auto" ? "fp32" : cfg.combine_dtype;
    metrics.set_wire_dtypes(dispatch_dtype, combine_dtype);
    engine.run(&metrics, json.is_open() ? &json : nullptr, &totals);
    progress.finish();
    if (!cfg.dump_placement.empty())
      write_placement_file(cfg.dump_placement, "--dump-placement", engine.placement(), cfg.dump_placement_format);
  } catch (const UsageError& e) {  // a low-latency buffer overflows (--ll-max-tokens), as the run would
    std::fprintf(stderr, "wideep sim: error: %s\n", e.what());
    return kExitUsage;
  }
  nlohmann::json s = metrics.summary_json();
  s["simulated"] = true;
  s["profile"] = setup.profile.name;
  s["gpus_per_node"] = cfg.ranks_per_node();
  s["nodes"] = cfg.num_ranks / cfg.ranks_per_node();
  s["solve_us"] = {{"p50", percentile(totals.solve_us, 0.5)}, {"max", percentile(totals.solve_us, 1.0)}};
  // The critical path's communication and compute (RunMetrics divides by the
  // slowest rank's phase sums, which with overlap need not lie on it).
  {
    const double hideable = std::min(percentile(totals.comm_us, 0.5), percentile(totals.compute_us, 0.5));
    const double hidden_us = s["overlap_hidden_us"].get<double>();
    s["overlap_efficiency"] = hideable > 0 ? hidden_us / hideable : 0.0;
  }
  // Distinct nodes each token's pairs go to (runtime/machine/node_spread.h), over the
  // measured steps' layers: what --topk-groups with hierarchical EPLB bounds.
  s["nodes_per_token"] = {{"mean", totals.nodes_per_token.mean()}, {"max", totals.nodes_per_token.max_nodes}};
  s["sim_wall_s"] = totals.wall_s;
  // Extension (lplb): share of LP component solves whose warm start was kept.
  if (totals.lp_warm_tried > 0) s["lp_warm_kept"] = static_cast<double>(totals.lp_warm_kept) / totals.lp_warm_tried;
  if (json.is_open()) json << s.dump() << "\n";
  if (!cfg.quiet) {
    fmt::print("# wideep sim: {} virtual ranks ({} nodes x {}), profile {}, simulated in {:.2f} s\n",
               cfg.num_ranks, cfg.num_ranks / cfg.ranks_per_node(), cfg.ranks_per_node(),
               setup.profile.name, totals.wall_s);
    metrics.print_table();
    fmt::print("dispatch {} ({} rows, {} back), overlap {}: cross-node dispatch {:.3f} MB/step  combine {:.3f} "
               "MB/step;  balancer solve p50 {:.1f} us/layer (measured)\n",
               cfg.dispatch_mode, dispatch_dtype, combine_dtype, cfg.overlap,
               s["dispatch_bytes_cross_node"].get<int64_t>() / 1e6, s["combine_bytes_cross_node"].get<int64_t>() / 1e6,
               percentile(totals.solve_us, 0.5));
    fmt::print("nodes per token mean {:.2f}  max {}\n", totals.nodes_per_token.mean(),
               totals.nodes_per_token.max_nodes);
    if (cfg.overlap != "none")
      fmt::print("overlap hidden {:.1f} us/step, efficiency {:.3f}\n", s["overlap_hidden_us"].get<double>(),
                 s["overlap_efficiency"].get<double>());
    if (cfg.balancers.eplb)
      fmt::print("stall (gap between step completions, rebalances included) max {:.1f} us  p99 {:.1f} us\n",
                 s["stall_us"]["max"].get<double>(), s["stall_us"]["p99"].get<double>());
  }
  std::fflush(stdout);
  return kExitOk;
}

}  // namespace wideep
