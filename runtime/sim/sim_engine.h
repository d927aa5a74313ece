// The step loop of `wideep sim`: R virtual ranks in one process run the real
// routing (Workload::route), balancers (ClusterRouter, plan_placement for EPLB),
// layout (build_layout) and weight-move planning; the cost model turns each
// rank's traffic and work into phase times. Feeds the RunMetrics of `wideep run`.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <ostream>
#include <vector>

#include "balance/placement.h"
#include "balance/topology.h"
#include "kernels/dispatch_layout.h"
#include "runtime/config.h"
#include "runtime/metrics.h"
#include "runtime/sim/sim_cost_model.h"
#include "runtime/sim/sim_profile.h"
#include "runtime/sim/sim_router.h"
#include "runtime/workload.h"

namespace wideep {

// Figures of a simulation beyond RunMetrics (summed over measured steps).
struct SimTotals {
  int64_t dispatch_bytes_cross = 0, combine_bytes_cross = 0;
  std::vector<double> solve_us;  // per layer-step, measured
  int64_t lp_warm_tried = 0, lp_warm_kept = 0;  // LP components started from the previous critical set / kept it
  double wall_s = 0;
};

class SimEngine {
 public:
  SimEngine(const RunConfig& cfg, const SimProfile& profile, std::shared_ptr<const Workload> workload,
            std::vector<Placement> initial, const Topology* topology);

  // Runs warm-up and measured steps; step, rebalance lines go to json when given.
  void run(RunMetrics* metrics, std::ostream* json, SimTotals* totals);

 private:
  struct LayerCost {
    std::array<double, kNumPhases> max_us{};  // slowest rank of each phase
    double layer_us = 0;                     // BSP: pre + dispatch + expert + combine critical path
  };
  void route(int step, int layer);
  void simulate_layer(int step, int layer, StepRecord* rec, LayerCost* cost, int64_t* cross_d,
                      int64_t* cross_c, double* solve_us);
  bool maybe_rebalance(int step, RebalanceRecord* rec);
  LinkKind link(int a, int b) const { return a / rpn_ == b / rpn_ ? kSameNode : kCrossNode; }

  const RunConfig& cfg_;
  const SimProfile& prof_;
  std::shared_ptr<const Workload> workload_;
  std::vector<Placement> placement_;
  const Topology* topology_;
  int R_, T_, K_, P_, E_, L_, rpn_;
  LinkSet links_;
  double scale_;  // compute_scale

  ClusterRouter router_;
  ClusterRouting routing_;
  DispatchLayout layout_;
  std::vector<int32_t> ids_;           // [R*T*K]
  std::vector<float> gate_scratch_;    // [T*K]
  std::vector<int64_t> rank_counts_;   // [R*E]
  std::vector<int64_t> slot_pairs_;    // [R*(slots+shared)]
  std::vector<int64_t> load_;          // [R]
  std::vector<RankTraffic> disp_, comb_;
  std::vector<int64_t> rows_out_;      // [R] rows each rank sends (incl. to itself)
  std::vector<std::array<double, kNumPhases>> rank_phase_us_;  // [R] summed over the step's layers
  std::vector<int64_t> window_;        // [W][L][E] global counts of the last steps
};

}  // namespace wideep
