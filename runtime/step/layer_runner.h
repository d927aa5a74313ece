// The interface of one rank's MoE layer execution: the step pipeline
// (runtime/step/moe_pipeline.h) over either kernel backend. It runs the phases of
// DESIGN.md "One step" and reports LayerStats, so that the step loop, the
// EPLB manager and --check see one kind of runner.
// run_layer() is collective: every rank calls it for the same (step, layer).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "balance/lp.h"
#include "balance/placement.h"
#include "kernels/expert_store.h"
#include "runtime/machine/node_spread.h"

namespace wideep {

struct RebalanceRecord;  // runtime/io/metrics.h

enum Phase : int { kRoute, kBalance, kLayout, kDispatch, kExpert, kCombine, kNumPhases };
const char* phase_name(int phase);

struct LayerStats {
  std::array<int64_t, kNumPhases> phase_ns{};
  int64_t load_pairs = 0;             // (token, expert) pairs processed on this rank
  int64_t expected_load = -1;         // from the balancer's global solution, -1 unknown
  int64_t lplb_skipped = 0;           // micro-batches whose LP the automatic mode skipped (--lplb-auto)
  int64_t dispatch_bytes_remote = 0;  // payload bytes sent to other ranks
  int64_t combine_bytes_remote = 0;
  int64_t dispatch_bytes_cross_node = 0;  // the part of the remote bytes to ranks of other nodes
  int64_t combine_bytes_cross_node = 0;
  int64_t baseline_ns = 0;            // raw all-to-allv of the same two byte matrices
  int64_t wait_ns = 0;                // --phase-barrier: waiting for the slowest rank
  int64_t grown_bytes = 0;            // receive buffers grown this layer (outside the phase times)
  NodeSpread nodes_per_token;         // distinct nodes each token's pairs go to
};

class LayerRunner {
 public:
  virtual ~LayerRunner() = default;

  virtual void run_layer(int step, int layer, LayerStats* st) = 0;

  // Host views of the layer last run: inputs [T x H], outputs [T x H], routing
  // [T x K] and this rank's per-expert counts [E]. The device backend copies back.
  virtual const float* input() = 0;
  virtual const float* output() = 0;
  virtual const int32_t* topk_ids() = 0;
  virtual const float* gate_weights() = 0;
  virtual const std::vector<int64_t>& local_counts() = 0;

  virtual std::vector<Placement>& placements() = 0;
  virtual ExpertStore& store() = 0;
  virtual ExpertStore& spare_store() = 0;  // staging of a weight exchange
  // Bytes the runner holds now (buffers and weights): host, device.
  virtual void memory(int64_t* host_bytes, int64_t* device_bytes) = 0;
  // This rank's LP solver counters (lplb): how often a warm start was kept.
  virtual const LpStats& lp_stats() const = 0;
  // After an EPLB re-plan: the automatic LPLB's forecast of `layer` on p, the
  // placement that will serve it, from popularity [E], the window EPLB planned
  // from (RouterCore::expect_lplb, per micro-batch router).
  // Counts each router's verdict in rec.
  virtual void expect_lplb(int layer, const Placement& p, const double* popularity, RebalanceRecord* rec) = 0;
};

}  // namespace wideep
