// The one step pipeline of `wideep run` (DESIGN.md "Runner"): route -> balance
// -> layout -> dispatch -> expert -> combine of one MoE layer on one rank, over
// the Communicator (MPI or NCCL) and a kernel backend (host or CUDA,
// kernels/kernel_backend.h). Everything between kernel launches and
// communication calls is host code here, shared by both backends: routing,
// the balancer, sizes and offsets of every exchange, per-slot offsets, the
// GEMM problem list, receive capacity, fault injection, phase timing.
// run_layer() is collective: every rank calls it for the same (step, layer).
#pragma once

#include <memory>
#include <vector>

#include "balance/placement.h"
#include "comm/communicator.h"
#include "kernels/gemm_problems.h"
#include "kernels/kernel_backend.h"
#include "runtime/config.h"
#include "runtime/exchange_plan.h"
#include "runtime/inject.h"
#include "runtime/layer_runner.h"
#include "runtime/memory_plan.h"
#include "runtime/row_faults.h"
#include "runtime/token_router.h"
#include "runtime/workload.h"

namespace wideep {

// The wire and compute dtype of a run on `backend` (mpi | nccl): --dtype
// fp32|bf16 where given; with --dtype auto, fp32 on the host and, on the
// device, WIDEEP_DEVICE_DTYPE=fp32|bf16 where set, else bf16.
DType run_dtype(const RunConfig& cfg, const std::string& backend);

// The largest relative error --check accepts for a dtype (of the output's
// scale): fp32 1e-4; bf16 the bound of kernels' rounding (docs/gpu.md).
double check_limit(DType dtype);

class MoePipeline final : public LayerRunner {
 public:
  // Takes the backend and the stores it runs with (same memory kind); `spare`
  // (EPLB staging) may be null without eplb.
  MoePipeline(const RunConfig& cfg, Communicator& comm, std::shared_ptr<const Workload> workload,
              std::vector<Fault> faults, std::vector<Placement> initial, std::unique_ptr<KernelBackend> kernels,
              std::unique_ptr<ExpertStore> store, std::unique_ptr<ExpertStore> spare);

  void run_layer(int step, int layer, LayerStats* st) override;

  const float* input() override { return kernels_->input_host(); }
  const float* output() override { return kernels_->output_host(); }
  const int32_t* topk_ids() override { return ids_.data(); }
  const float* gate_weights() override { return gate_w_.data(); }
  const std::vector<int64_t>& local_counts() override { return local_counts_; }

  std::vector<Placement>& placements() override { return placement_; }
  ExpertStore& store() override { return *store_; }
  ExpertStore& spare_store() override { return *spare_; }
  void memory(int64_t* host_bytes, int64_t* device_bytes) override;
  const LpStats& lp_stats() const override { return router_.lp_stats(); }

  KernelBackend& kernels() { return *kernels_; }

 private:
  void route(int step, int layer);
  void balance(int layer, LayerStats* st);
  void layout(int step, int layer, LayerStats* st);
  void dispatch(LayerStats* st);
  void expert(int layer, LayerStats* st);
  void combine(LayerStats* st);
  void baseline(LayerStats* st);
  int64_t grow(int64_t rows, int64_t pairs, LayerStats* st);

  const RunConfig& cfg_;
  Communicator& comm_;
  std::shared_ptr<const Workload> workload_;
  std::vector<Fault> faults_;
  int R_, rank_, T_, K_, P_, H_, E_, S_;
  int rpn_;  // ranks per node (--gpus-per-node): node of rank r = r / rpn_
  std::vector<Placement> placement_;
  std::unique_ptr<KernelBackend> kernels_;
  std::unique_ptr<ExpertStore> store_, spare_;
  RowFaultShape fault_shape_;
  TokenRouter router_;
  RouteArrays route_;
  BalanceInfo info_;
  ExchangePlan xp_;
  FfnProblems problems_;

  std::vector<int32_t> ids_;                // [T x K]
  std::vector<float> gate_w_;               // [T x K]
  std::vector<int64_t> local_counts_;       // [E]
  std::vector<int32_t> rank_row_offset_;    // [R+1] this rank's send rows by destination
  std::vector<int64_t> rank_pairs_, msg_, recv_msg_;  // [R] the counts round
  std::vector<int32_t> slot_pairs_, slot_offset_;     // [S], [S+1]
  std::vector<const void*> w1_, w2_;        // [S] GEMM operands of the layer's slots
  std::vector<unsigned char> fault_row_;    // one wire row, for fault injection
  int64_t grown_ns_[kNumPhases] = {};
};

// The pipeline for `comm` (MPI: host kernels and stores; NCCL: CUDA kernels
// and device stores on the communicator's stream), allocated by `plan`.
std::unique_ptr<LayerRunner> make_pipeline(const RunConfig& cfg, Communicator& comm,
                                           std::shared_ptr<const Workload> workload, std::vector<Fault> faults,
                                           std::vector<Placement> initial, DType dtype, const MemoryPlan& plan);

}  // namespace wideep
