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
#include "runtime/config.h"
#include "runtime/metrics.h"
#include "runtime/placement_io.h"
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
  out->profile = read_profile(sim.profile);
  std::shared_ptr<const Trace> trace;
  if (cfg.workload.kind == WorkloadSpec::Kind::kTrace)
    trace = std::make_shared<Trace>(load_trace(cfg.workload.file, cfg.experts, cfg.topk, cfg.layers, cfg.total_steps()));
  out->workload = std::make_shared<Workload>(cfg.workload, cfg.experts, cfg.topk, cfg.layers, cfg.seed, trace,
                                             static_cast<int64_t>(cfg.tokens) * sim.ranks);
  out->topology = load_topology(cfg, sim.ranks);
  out->placement = initial_placement(cfg, out->topology.get());
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
  try {
    if (!prepare(argc, argv, cfg, sim, &setup)) return kExitOk;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "wideep sim: error: %s\n", e.what());
    return kExitUsage;
  }
  RunMetrics metrics(cfg, "sim");
  std::ofstream json;
  if (!cfg.json_path.empty()) json.open(cfg.json_path, std::ios::trunc);
  SimEngine engine(cfg, setup.profile, setup.workload, std::move(setup.placement), setup.topology.get());
  SimTotals totals;
  engine.run(&metrics, json.is_open() ? &json : nullptr, &totals);
  const double n = std::max<size_t>(metrics.steps().size(), 1);
  nlohmann::json s = metrics.summary_json();
  s["simulated"] = true;
  s["profile"] = setup.profile.name;
  s["gpus_per_node"] = cfg.ranks_per_node();
  s["nodes"] = cfg.num_ranks / cfg.ranks_per_node();
  s["dispatch_bytes_cross_node"] = static_cast<int64_t>(totals.dispatch_bytes_cross / n);
  s["combine_bytes_cross_node"] = static_cast<int64_t>(totals.combine_bytes_cross / n);
  s["solve_us"] = {{"p50", percentile(totals.solve_us, 0.5)}, {"max", percentile(totals.solve_us, 1.0)}};
  s["sim_wall_s"] = totals.wall_s;
  // Extension (lplb): share of LP component solves whose warm start was kept.
  if (totals.lp_warm_tried > 0) s["lp_warm_kept"] = static_cast<double>(totals.lp_warm_kept) / totals.lp_warm_tried;
  if (json.is_open()) json << s.dump() << "\n";
  if (!cfg.quiet) {
    fmt::print("# wideep sim: {} virtual ranks ({} nodes x {}), profile {}, simulated in {:.2f} s\n",
               cfg.num_ranks, cfg.num_ranks / cfg.ranks_per_node(), cfg.ranks_per_node(),
               setup.profile.name, totals.wall_s);
    metrics.print_table();
    fmt::print("cross-node dispatch {:.3f} MB/step  combine {:.3f} MB/step;  balancer solve p50 {:.1f} us/layer (measured)\n",
               totals.dispatch_bytes_cross / n / 1e6, totals.combine_bytes_cross / n / 1e6,
               percentile(totals.solve_us, 0.5));
  }
  std::fflush(stdout);
  return kExitOk;
}

}  // namespace wideep
