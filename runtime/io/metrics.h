// Per-step records (already reduced over ranks: the slowest rank's times, the
// global balancedness), EPLB rebalance events, the JSON lines of the DESIGN.md
// contract and the readable table. Rank 0 owns the output.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "balance/lplb_forecast.h"
#include "runtime/io/config.h"
#include "runtime/step/layer_runner.h"

namespace wideep {

struct StepRecord {
  int step = 0;
  double step_us = 0;                         // slowest rank
  std::array<double, kNumPhases> phases_us{};  // each phase: slowest rank, summed over layers
  double baseline_us = 0;                     // raw all-to-allv of both matrices, slowest rank
  double wait_us = 0;                         // --phase-barrier waits, slowest rank
  double balancedness = 0;                    // mean over layers of mean/max rank load
  std::vector<double> layer_balancedness;
  int64_t max_rank_load = 0;                  // summed over layers
  int64_t dispatch_bytes = 0;                 // to other ranks, all ranks and layers
  int64_t combine_bytes = 0;
  int64_t dispatch_bytes_cross_node = 0;      // the part of them that crosses a node boundary
  int64_t combine_bytes_cross_node = 0;
  int64_t load_mismatches = 0;                // ranks whose realised load != the balancer's plan
  int64_t load_planned = 0;                   // (rank, layer)s whose load the balancer planned (checked above)
  int64_t lplb_skipped = 0;                   // layer-steps (per node with --lplb-scope node) LPLB skipped
  double max_abs_err = -1;                    // with --check
  double rel_err = -1;
  double overlap_hidden_us = 0;               // mean over ranks of (its phases summed - its step time)
  double stall_us = 0;                        // since the previous step's completion, rebalances included
  // --per-rank ([ranks] each, else empty): expert-token pairs processed (summed
  // over layers) and bytes sent to other ranks by dispatch and combine.
  std::vector<int64_t> rank_load, rank_dispatch_bytes, rank_combine_bytes;

  // Back to the zeroed record of `layers` layers (and `ranks` per-rank entries,
  // 0: none), keeping the vectors' storage: no allocation once they held that many.
  void reset(int layers, int ranks = 0) {
    std::vector<double> keep = std::move(layer_balancedness);
    std::vector<int64_t> a = std::move(rank_load), b = std::move(rank_dispatch_bytes), c = std::move(rank_combine_bytes);
    *this = StepRecord{};
    keep.assign(static_cast<size_t>(layers), 0.0);
    layer_balancedness = std::move(keep);
    for (std::vector<int64_t>* v : {&a, &b, &c}) v->assign(static_cast<size_t>(ranks), 0);
    rank_load = std::move(a);
    rank_dispatch_bytes = std::move(b);
    rank_combine_bytes = std::move(c);
  }
};

struct RebalanceRecord {
  int step = 0;
  double plan_us = 0;
  // The automatic LPLB's forecast on the placement that will serve (of plan_us),
  // and its verdicts per (layer, micro-batch): plan, probe, quiet (LplbForecast).
  double lplb_forecast_us = 0;
  int64_t lplb_forecast[3] = {0, 0, 0};
  void count_forecast(LplbForecast f) {
    if (f != LplbForecast::kNone) ++lplb_forecast[static_cast<int>(f) - 1];
  }
  double transfer_us = 0;
  int64_t bytes = 0;       // weight bytes the plan moves between ranks (all ranks)
  int64_t sent_bytes = 0;  // bytes actually posted by all ranks' sends
  double baseline_us = 0;  // --baseline: raw all-to-allv of the same per-peer bytes
  int64_t transfers = 0;
  int64_t naive_transfers = 0;
  int64_t local_copies = 0;
  std::string mode = "sync";      // sync | chunked (--eplb-layers-per-chunk)
  int steps_to_complete = 1;      // step boundaries its moves took (0: skipped)
  bool skipped = false;           // --eplb-min-gain: predicted gain too small, nothing moved
  double predicted_before = 0;    // balancedness of the placement in force on the window (static rule)
  double predicted_after = 0;     // the same for the re-plan
  std::string policy;             // the placement policy that planned it (--eplb-policy, resolved)
  int kept_layers = 0;            // layers that kept their placement (--eplb-keep-within, --eplb-max-moves)
  int64_t experts_moved = 0;      // slots (all layers) whose expert the re-plan changes
  double gbps() const { return transfer_us > 0 ? bytes * 8e-3 / transfer_us : 0; }
};

double percentile(std::vector<double> v, double q);

// The recorded steps, in order: a view of the preallocated records.
struct StepRecords {
  const StepRecord* first;
  size_t count;
  const StepRecord* begin() const { return first; }
  const StepRecord* end() const { return first + count; }
  size_t size() const { return count; }
  bool empty() const { return count == 0; }
};

class RunMetrics {
 public:
  // Every step's record is allocated and touched here, before the step loop:
  // the loop then neither allocates nor grows the resident set (the soak
  // benchmark's RSS figures rely on it).
  RunMetrics(const RunConfig& cfg, const char* backend);

  // The next step's record, zeroed (layer_balancedness sized to the layers).
  StepRecord& next_step();
  // A completed (not skipped) re-plan starts the steady state at the step after it.
  void add_rebalance(const RebalanceRecord& r);
  // The initial placement's source (--init-placement FILE and its format), for
  // the header and summary; empty: the default placement.
  void set_init_placement(const std::string& text) { init_placement_ = text; }
  // A warning the run printed (e.g. an option that does nothing): the summary lists them.
  void add_warning(const std::string& text) { warnings_.push_back(text); }
  // The placement policy as resolved for the header (eplb_planner.h policy_description).
  void set_policy_description(const std::string& text) { policy_description_ = text; }
  // The first measured step of the steady state (-1: no re-placement completed).
  int steady_from() const { return steady_from_; }
  // The activations' dtype as run (`wideep run`); the summary names it where set.
  void set_dtype(const std::string& dtype) { dtype_ = dtype; }
  // The wire dtypes as run (--dispatch-dtype, --combine-dtype after `auto`).
  void set_wire_dtypes(const std::string& dispatch, const std::string& combine) {
    dispatch_dtype_ = dispatch;
    combine_dtype_ = combine;
  }

  nlohmann::json step_json(const StepRecord& r) const;
  nlohmann::json rebalance_json(const RebalanceRecord& r) const;
  nlohmann::json summary_json() const;
  void print_table() const;

  StepRecords steps() const { return {steps_.data(), used_}; }
  // The summary's "steady" object (null when no re-placement completed).
  nlohmann::json steady_json() const;

 private:
  void add_report_fields(nlohmann::json& j) const;
  const RunConfig& cfg_;
  std::string backend_;
  std::string dtype_, dispatch_dtype_, combine_dtype_;
  std::vector<StepRecord> steps_;  // cfg.steps records, the first used_ filled
  size_t used_ = 0;
  std::vector<RebalanceRecord> rebalances_;
  int steady_from_ = -1;
  std::string init_placement_, policy_description_;
  std::vector<std::string> warnings_;
};

}  // namespace wideep
