// runtime/sim/: `wideep sim`, the same step for R virtual ranks at once.
// Includes step/, eplb/, io/, machine/.
//
// The step loop of `wideep sim`: R virtual ranks in one process run the real
// routing (Workload::route), balancers (ClusterRouter, plan_placement for EPLB),
// the rows of the dispatch mode (sim_modes.h) and weight-move planning; the
// cost model turns each rank's traffic and work into phase times, with
// two-batch overlap and sync / chunked / asynchronous EPLB moves as the run
// does them. Feeds the RunMetrics of `wideep run`.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <ostream>
#include <vector>

#include "balance/placement.h"
#include "balance/topology.h"
#include "runtime/io/config.h"
#include "runtime/io/metrics.h"
#include "runtime/machine/node_spread.h"
#include "runtime/sim/sim_cost_model.h"
#include "runtime/sim/sim_modes.h"
#include "runtime/sim/sim_profile.h"
#include "runtime/sim/sim_progress.h"
#include "runtime/sim/sim_router.h"
#include "runtime/io/workload.h"

namespace wideep {

// Figures of a simulation beyond RunMetrics (over measured steps).
struct SimTotals {
  std::vector<double> solve_us;  // per layer-step, measured
  std::vector<double> comm_us, compute_us;  // per step: critical-path communication / compute (overlap_efficiency)
  int64_t lp_warm_tried = 0, lp_warm_kept = 0;  // LP components started from the previous critical set / kept it
  NodeSpread nodes_per_token;  // distinct destination nodes of each token's pairs, measured steps
  double wall_s = 0;
};

class SimEngine {
 public:
  // Throws UsageError when a low-latency receive buffer would overflow
  // (--ll-max-tokens), naming the expert, as the run fails.
  SimEngine(const RunConfig& cfg, const SimProfile& profile, std::shared_ptr<const Workload> workload,
            std::vector<Placement> initial, const Topology* topology);

  // Runs warm-up and measured steps; step, rebalance lines go to json when given.
  void run(RunMetrics* metrics, std::ostream* json, SimTotals* totals);

  // A progress line to update before every layer-step (cmd_sim.cc; none: null).
  void set_progress(SimProgress* progress) { progress_ = progress; }

  // The placement in force (after run(): at the end, for --dump-placement).
  const std::vector<Placement>& placement() const { return placement_; }

 private:
  struct LayerCost {
    double layer_us = 0;    // critical path of the layer (BSP; with tbo the two micro-batches' schedule)
    double comm_us = 0;     // critical-path dispatch + combine, micro-batches summed
    double compute_us = 0;  // critical-path route + balance + layout + expert
    double hidden_us = 0;   // comm + compute - layer (0 without overlap)
  };
  void route(int step, int layer);  // every micro-batch's tokens; the EPLB window
  void simulate_layer(int step, int layer, StepRecord* rec, LayerCost* cost, double* solve_us,
                      NodeSpread* spread);
  void check_ll_capacity(int step, int layer, const ModeTraffic& t) const;
  // EPLB, as EplbManager::maybe_rebalance: `stall_us` gets what the step
  // boundary stalls (the plan, and synchronous moves).
  bool maybe_rebalance(int step, RebalanceRecord* rec, double* stall_us);
  double move_chunk(int step);  // synchronous: the chunk's transfer time
  void start_async_chunk();
  bool async_switch(int step);
  void cost_moves(const std::vector<Placement>& from, const std::vector<Placement>& to,
                  std::vector<RankTraffic>* per_rank);
  int chunk_layers() const { return cfg_.eplb_layers_per_chunk > 0 ? cfg_.eplb_layers_per_chunk : L_; }
  LinkKind link(int a, int b) const { return a / rpn_ == b / rpn_ ? kSameNode : kCrossNode; }

  const RunConfig& cfg_;
  const SimProfile& prof_;
  std::shared_ptr<const Workload> workload_;
  std::vector<Placement> placement_;
  const Topology* topology_;
  int R_, T_, K_, P_, E_, L_, rpn_, S_;  // S_: local slots (routed + shared)
  LinkSet links_;
  double scale_;  // compute_scale
  DispatchMode mode_;
  WireSizes wire_;
  int ll_capacity_;       // low-latency rows per local slot

  // One router per micro-batch: the run balances each on its own (moe_pipeline.cc).
  struct MicroBatch {
    int first = 0, tokens = 0;           // of every rank's --tokens
    ClusterRouter router;
    ClusterRouting routing;
    std::vector<int32_t> ids;            // [R * tokens * K]
    std::vector<int64_t> rank_counts;    // [R * E]
  };
  std::array<MicroBatch, 2> mbs_;        // the first num_mbs_ used
  int num_mbs_ = 1;                      // 1, or 2 with --overlap tbo
  std::vector<float> gate_scratch_;      // [T*K]
  std::vector<int64_t> slot_pairs_;    // [R*S] of one micro-batch
  std::vector<int64_t> load_;          // [R]
  ModeTraffic mb_traffic_;             // of one micro-batch
  std::vector<RankTraffic> step_traffic_;  // [R] dispatch + combine of the step (contention with async moves)
  std::vector<std::array<double, kNumPhases>> rank_phase_us_;  // [R] summed over the step's layers
  std::vector<int64_t> window_;        // [W][L][E] global counts of the last steps

  // EPLB moves in progress (next_layer_ == L_: none).
  std::vector<Placement> pending_;     // the re-plan being moved
  int next_layer_;
  RebalanceRecord rec_;
  std::vector<Placement> staged_;      // async: the placement once the chunk in flight switches
  int async_end_ = 0;
  std::vector<RankTraffic> background_;  // async: [R] bytes of the chunk in flight still to move
  SimProgress* progress_ = nullptr;
};

}  // namespace wideep
