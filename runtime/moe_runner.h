// One rank's mock MoE layers: owns every buffer of the step (allocated once at
// the worst case), the placement and weights of each layer, and runs the
// phases route -> count -> balance -> layout -> dispatch -> expert -> combine
// of DESIGN.md, timing each. Collective: every rank calls run_layer() for the
// same (step, layer) in the same order.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "balance/placement.h"
#include "comm/communicator.h"
#include "kernels/dispatch_layout.h"
#include "kernels/expert_cpu.h"
#include "runtime/config.h"
#include "runtime/expert_store.h"
#include "runtime/inject.h"
#include "runtime/token_router.h"
#include "runtime/workload.h"

namespace wideep {

enum Phase : int { kRoute, kBalance, kLayout, kDispatch, kExpert, kCombine, kNumPhases };
const char* phase_name(int phase);

struct LayerStats {
  std::array<int64_t, kNumPhases> phase_ns{};
  int64_t load_pairs = 0;       // (token, expert) pairs processed on this rank
  int64_t expected_load = -1;   // from the balancer's global solution, -1 unknown
  int64_t dispatch_bytes_remote = 0;  // payload bytes sent to other ranks
  int64_t combine_bytes_remote = 0;
  int64_t baseline_ns = 0;      // raw all-to-allv of the same two byte matrices
  int64_t local_counts_max = 0;
};

class MoeRunner {
 public:
  MoeRunner(const RunConfig& cfg, Communicator& comm, std::shared_ptr<const Workload> workload,
            std::vector<Fault> faults, std::vector<Placement> initial);

  // Runs one layer of one step; `out` receives this rank's T x H outputs.
  void run_layer(int step, int layer, LayerStats* st);

  const float* input() const { return x_.data(); }
  const float* output() const { return out_.data(); }
  const int32_t* topk_ids() const { return ids_.data(); }
  const float* gate_weights() const { return gate_w_.data(); }
  const std::vector<int64_t>& local_counts() const { return local_counts_; }

  std::vector<Placement>& placements() { return placement_; }
  ExpertStore& store() { return store_; }
  ExpertStore& spare_store() { return spare_store_; }

 private:
  void route(int step, int layer);
  void balance(int layer, LayerStats* st);
  void layout(int step, int layer, LayerStats* st);
  void dispatch(LayerStats* st);
  void expert(int layer, LayerStats* st);
  void combine(LayerStats* st);
  void baseline(LayerStats* st);
  void inject_dispatch_fault(int step, int layer);

  const RunConfig& cfg_;
  Communicator& comm_;
  std::shared_ptr<const Workload> workload_;
  std::vector<Fault> faults_;
  int R_, rank_, T_, K_, P_, H_, E_;

  std::vector<Placement> placement_;
  ExpertStore store_, spare_store_;
  TokenRouter router_;
  RouteArrays route_;
  BalanceInfo info_;
  DispatchLayout layout_;
  ExpertBatches batches_;
  std::vector<const float*> w1_, w2_;

  std::vector<float> x_, out_, gate_w_;
  std::vector<int32_t> ids_;
  std::vector<int64_t> local_counts_, rank_counts_;
  std::vector<unsigned char> send_buf_, recv_buf_;
  std::vector<float> expert_rows_, returned_rows_;
  std::vector<int64_t> send_rows_, recv_rows_;
  std::vector<int64_t> send_bytes_, send_off_, recv_bytes_, recv_off_;
  std::vector<int64_t> back_send_bytes_, back_send_off_, back_recv_bytes_, back_recv_off_;
  int64_t recv_total_rows_ = 0;
  std::vector<unsigned char> baseline_send_, baseline_recv_;
};

}  // namespace wideep
