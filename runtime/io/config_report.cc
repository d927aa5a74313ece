// Options of `wideep run` and `wideep sim` that choose the EPLB policy, make
// re-plans move-aware, and add per-rank and placement output (issue 29):
// their CLI11 binding and their checks, kept apart from config.cc.
#include <CLI/CLI.hpp>
#include <fstream>
#include <string>

#include "common/check.h"
#include "runtime/io/config.h"

namespace wideep {

void add_report_options(CLI::App& app, RunConfig& c) {
  app.add_option("--eplb-policy", c.eplb_policy,
                 "EPLB placement policy: auto (the candidate with the better predicted balancedness on the "
                 "window: wideep, and DeepSeek's hierarchical where --groups divide over the nodes; ties to "
                 "hierarchical) | deepseek (DeepSeek's rule: hierarchical when --groups divide over the "
                 "nodes, else global) | wideep")
      ->capture_default_str();
  app.add_option("--eplb-keep-within", c.eplb_keep_within,
                 "move-aware re-plan: a layer keeps its placement (moves nothing) when the re-plan's "
                 "predicted balancedness exceeds the current one's by less than this (0: always adopt)")
      ->capture_default_str();
  app.add_option("--eplb-max-moves", c.eplb_max_moves,
                 "cap on the experts a re-plan moves (slots whose expert changes, all layers together; 0: no "
                 "cap): of a larger re-plan, the moves that raise the predicted balancedness most, one at a "
                 "time (balance/eplb_move_cap.h); the rest of the slots stay as they are")
      ->capture_default_str();
  app.add_flag("--per-rank", c.per_rank, "step lines add each rank's expert load and sent bytes (per_rank)");
  app.add_option("--dump-placement", c.dump_placement,
                 "write the placement in force at the end to FILE (format: --dump-placement-format)");
  app.add_option("--dump-placement-format", c.dump_placement_format,
                 "wideep ({phy2log, log2phy, logcnt}, as `wideep plan --json`) | sglang | vllm "
                 "(as `wideep plan --format`)")
      ->capture_default_str();
}

void validate_report_options(const RunConfig& c) {
  if (c.eplb_policy != "auto" && c.eplb_policy != "deepseek" && c.eplb_policy != "wideep")
    throw UsageError("--eplb-policy '" + c.eplb_policy + "': unknown policy (auto, deepseek, wideep)");
  if (!(c.eplb_keep_within >= 0 && c.eplb_keep_within <= 1))
    throw UsageError("--eplb-keep-within must be in [0, 1]");
  if (c.eplb_max_moves < 0)
    throw UsageError("--eplb-max-moves must be >= 0 (0: no cap), not " + std::to_string(c.eplb_max_moves));
  if (c.dump_placement_format != "wideep" && c.dump_placement_format != "sglang" &&
      c.dump_placement_format != "vllm")
    throw UsageError("--dump-placement-format '" + c.dump_placement_format + "': unknown format (wideep, sglang, vllm)");
}

std::vector<std::string> config_warnings(const RunConfig& c) {
  std::vector<std::string> w;
  // LPLB chooses among an expert's copies; without redundant slots every
  // expert has one and the run equals --balancer none bit for bit. A warning,
  // not an error: scripts run lplb over a range of --redundant that starts at 0.
  if (c.balancers.lplb && c.redundant == 0)
    w.push_back("--balancer " + c.balancers.text + " with --redundant 0: every expert has one copy, so LPLB "
                "has nothing to choose and routes as --balancer none; give --redundant N (a multiple of the "
                "ranks) for copies");
  return w;
}

void probe_dump_placement(const RunConfig& c) {
  if (c.dump_placement.empty()) return;
  std::ofstream probe(c.dump_placement, std::ios::app);
  if (!probe) throw UsageError("--dump-placement " + c.dump_placement + ": cannot open for writing");
}

}  // namespace wideep
