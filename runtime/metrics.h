// Per-step records (already reduced over ranks: the slowest rank's times, the
// global balancedness), EPLB rebalance events, the JSON lines of the DESIGN.md
// contract and the readable table. Rank 0 owns the output.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/config.h"
#include "runtime/layer_runner.h"

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
  int64_t load_mismatches = 0;                // ranks whose realised load != the balancer's plan
  double max_abs_err = -1;                    // with --check
  double rel_err = -1;
};

struct RebalanceRecord {
  int step = 0;
  double plan_us = 0;
  double transfer_us = 0;
  int64_t bytes = 0;       // weight bytes the plan moves between ranks (all ranks)
  int64_t sent_bytes = 0;  // bytes actually posted by all ranks' sends
  double baseline_us = 0;  // --baseline: raw all-to-allv of the same per-peer bytes
  int64_t transfers = 0;
  int64_t naive_transfers = 0;
  int64_t local_copies = 0;
  double gbps() const { return transfer_us > 0 ? bytes * 8e-3 / transfer_us : 0; }
};

double percentile(std::vector<double> v, double q);

class RunMetrics {
 public:
  explicit RunMetrics(const RunConfig& cfg, const char* backend) : cfg_(cfg), backend_(backend) {}

  void add_step(const StepRecord& r) { steps_.push_back(r); }
  void add_rebalance(const RebalanceRecord& r) { rebalances_.push_back(r); }

  nlohmann::json step_json(const StepRecord& r) const;
  nlohmann::json rebalance_json(const RebalanceRecord& r) const;
  nlohmann::json summary_json() const;
  void print_table() const;

  const std::vector<StepRecord>& steps() const { return steps_; }

 private:
  const RunConfig& cfg_;
  std::string backend_;
  std::vector<StepRecord> steps_;
  std::vector<RebalanceRecord> rebalances_;
};

}  // namespace wideep
