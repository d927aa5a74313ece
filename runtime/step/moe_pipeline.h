// runtime/step/: one MoE layer's step on one rank, for both kernel backends
// (pipeline, balance phase, exchange and memory plans). Includes io/, check/, machine/.
//
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
#include "runtime/io/config.h"
#include "runtime/step/exchange_plan.h"
#include "runtime/check/inject.h"
#include "runtime/step/layer_runner.h"
#include "runtime/step/ll_plan.h"
#include "runtime/step/memory_plan.h"
#include "runtime/step/row_faults.h"
#include "runtime/step/token_router.h"
#include "runtime/io/workload.h"

namespace wideep {

// The compute dtype of a run on `backend` (mpi | nccl), and its wire dtype
// where --dispatch-dtype / --combine-dtype say auto: --dtype fp32|bf16 where
// given; with --dtype auto, fp32 on the host and, on the device,
// WIDEEP_DEVICE_DTYPE=fp32|bf16 where set, else bf16.
DType run_dtype(const RunConfig& cfg, const std::string& backend);
// The dispatch rows' dtype (fp32 | bf16 | fp8) and the combine rows' (fp32 |
// bf16) of a run whose compute dtype is `run`.
DType dispatch_dtype(const RunConfig& cfg, DType run);
DType combine_dtype(const RunConfig& cfg, DType run);

// The largest relative error --check accepts (of the output's scale) for a
// compute dtype and the wire dtypes; docs/usage.md "Wire dtypes" states why.
double check_limit(DType compute, DType dispatch, DType combine);
inline double check_limit(DType dtype) { return check_limit(dtype, dtype, dtype); }

class MoePipeline final : public LayerRunner {
 public:
  // Takes the backends (one per micro-batch: two with --overlap tbo) and the
  // stores they run with (same memory kind); `spare` (EPLB staging) may be
  // null without eplb. --dispatch-mode hierarchical: `kernels` run stage 1
  // and `forwarders` (one per micro-batch, KernelShape::forwarder) stage 2
  // and the experts; empty otherwise.
  MoePipeline(const RunConfig& cfg, Communicator& comm, std::shared_ptr<const Workload> workload,
              std::vector<Fault> faults, std::vector<Placement> initial,
              std::vector<std::unique_ptr<KernelBackend>> kernels, std::unique_ptr<ExpertStore> store,
              std::unique_ptr<ExpertStore> spare, std::vector<std::unique_ptr<KernelBackend>> forwarders = {});

  void run_layer(int step, int layer, LayerStats* st) override;

  const float* input() override;
  const float* output() override;
  const int32_t* topk_ids() override;
  const float* gate_weights() override;
  const std::vector<int64_t>& local_counts() override;

  std::vector<Placement>& placements() override { return placement_; }
  ExpertStore& store() override { return *store_; }
  ExpertStore& spare_store() override { return *spare_; }
  void memory(int64_t* host_bytes, int64_t* device_bytes) override;
  const LpStats& lp_stats() const override { return batches_[0].router.lp_stats(); }
  void expect_lplb(int layer, const Placement& p, const double* popularity, RebalanceRecord* rec) override;

  KernelBackend& kernels() { return *batches_[0].kernels; }

 private:
  // One micro-batch: tokens [first, first + T) of this rank's --tokens, with
  // its own kernel backend, routing and exchange state. One without overlap;
  // two with --overlap tbo, whose phases interleave (run_layer_tbo).
  struct Batch {
    int first = 0, T = 0;
    std::unique_ptr<KernelBackend> kernels;
    TokenRouter router;
    RouteArrays route;
    BalanceInfo info;
    ExchangePlan xp;
    FfnProblems problems, piece;
    std::vector<int32_t> ids;                // [T x K]
    std::vector<float> gate_w;               // [T x K]
    std::vector<int64_t> local_counts;       // [E]
    std::vector<int32_t> rank_row_offset;    // [R+1] send rows by destination
    std::vector<int64_t> rank_pairs, msg, recv_msg;  // [R] the counts round
    std::vector<int32_t> slot_pairs, slot_offset;     // [S], [S+1]
    std::vector<const void*> w1, w2;         // [S] GEMM operands of the layer's slots
    std::vector<unsigned char> fault_row;    // one wire row, for fault injection
    int64_t grown_ns[kNumPhases] = {};
    int exchange = -1;                       // the overlapped exchange in flight
    int64_t own_back[2] = {0, 0};            // the combine plan's own entries, zeroed while in flight
    bool exchange_done_marked = false;
    std::vector<const void*> in_place;       // [R] rows_in_place of the last combine exchange
    std::vector<char> by_reference;          // [R] by_reference of the last dispatch exchange
    // --dispatch-mode hierarchical (runtime/step/hier_plan.h): `kernels` sends
    // stage 1 and sums the node's rows; `fwd` forwards stage 2 and runs the
    // experts, with its own layout and plan.
    std::unique_ptr<KernelBackend> fwd;
    ExchangePlan xp2;
    std::vector<int32_t> dest1, code1;                 // [T x P] stage-1 pair arrays
    std::vector<int32_t> meta_slot, dest2, slot2;      // [forwarded tokens x P] stage 2
    std::vector<float> meta_w;
    std::vector<int32_t> rank_row_offset2;             // [R+1]
    std::vector<int64_t> rank_pairs2, msg2, recv_msg2;  // [R]
    // --dispatch-mode low-latency (runtime/step/ll_plan.h)
    std::vector<int64_t> ll_counts;                    // [R x S] rows into each (destination, slot)
    LlExchange llx;
    std::vector<unsigned char> ll_headers;             // [R x row] one header row per destination
    std::vector<const void*> ll_segments;              // [(send rows + R) x 2] the gather with headers
    std::vector<int64_t> ll_header_rows;               // [R] as received
  };
  enum class Mode { kFlat, kHierarchical, kLowLatency };

  void route(Batch& b, int step, int layer);
  void balance(Batch& b, int layer, LayerStats* st);
  void layout(Batch& b, int step, int layer, LayerStats* st);
  void dispatch_start(Batch& b, LayerStats* st);
  void dispatch_wait(Batch& b, LayerStats* st);
  // other: the batch whose exchange is in flight meanwhile (progressed between
  // GEMM pieces on the host), or null.
  void expert(Batch& b, int layer, LayerStats* st, Batch* other);
  void combine_start(Batch& b, LayerStats* st);
  void combine_wait(Batch& b);
  void baseline(Batch& b, LayerStats* st);
  const void* const* rows_in_place(Batch& b);
  int64_t grow(KernelBackend& k, int64_t rows, int64_t pairs, LayerStats* st);
  // The backend and plan of the experts: stage 2's in hierarchical mode.
  KernelBackend& expert_kernels(Batch& b) { return b.fwd ? *b.fwd : *b.kernels; }
  ExchangePlan& expert_plan(Batch& b) { return b.fwd ? b.xp2 : b.xp; }
  void forward(Batch& b, LayerStats* st);
  void ll_received(Batch& b);
  [[noreturn]] void ll_overflow(const Batch& b, int64_t at, int step, int layer) const;
  void progress(Batch& b, int end_boundary);
  void run_layer_tbo(int step, int layer, LayerStats* st);
  bool tbo() const { return batches_.size() == 2; }

  const RunConfig& cfg_;
  Communicator& comm_;
  std::shared_ptr<const Workload> workload_;
  std::vector<Fault> faults_;
  int R_, rank_, T_, K_, P_, H_, E_, S_;
  int rpn_;  // ranks per node (--gpus-per-node): node of rank r = r / rpn_
  Mode mode_ = Mode::kFlat;
  bool ll_no_counts_ = false;   // low-latency with header rows (host, MPI transport)
  int64_t ll_capacity_ = 0;     // low-latency rows per local slot (--ll-max-tokens; T x R)
  std::vector<Placement> placement_;
  std::unique_ptr<ExpertStore> store_, spare_;
  RowFaultShape fault_shape_;
  std::vector<Batch> batches_;
  // --overlap tbo: the two micro-batches' host views joined ([T x H], [T x K], [E]).
  std::vector<float> joined_in_, joined_out_, joined_w_;
  std::vector<int32_t> joined_ids_;
  std::vector<unsigned char> baseline_scratch_[4];  // --baseline with shm: private buffers
  std::vector<int64_t> joined_counts_;
};

// Hierarchical mode: the stage-2 backend of a micro-batch whose stage-1
// backend has shape `stage1` (up to its tokens from each node; the plan's
// forwarder capacities).
KernelShape forwarder_shape(const KernelShape& stage1, const RunConfig& cfg, const MemoryPlan& plan);

// The kernel backend's shape of one rank's whole step (a micro-batch changes
// its tokens): the run's sizes, dtypes as run (--dtype `dtype`, the wire
// dtypes after `auto`) and the plan's initial receive capacity.
KernelShape kernel_shape(const RunConfig& cfg, int ranks, int rank, DType dtype, const MemoryPlan& plan);

// The pipeline for `comm` (MPI: host kernels and stores; NCCL: CUDA kernels
// and device stores on the communicator's stream), allocated by `plan`.
std::unique_ptr<LayerRunner> make_pipeline(const RunConfig& cfg, Communicator& comm,
                                           std::shared_ptr<const Workload> workload, std::vector<Fault> faults,
                                           std::vector<Placement> initial, DType dtype, const MemoryPlan& plan);

}  // namespace wideep
