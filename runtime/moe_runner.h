// The host LayerRunner (MPI backend, OpenBLAS experts): owns every buffer of
// the step (allocated once at the worst case), the placement and weights of
// each layer, and runs route -> count -> balance -> layout -> dispatch ->
// expert -> combine of DESIGN.md, timing each. run_layer() is collective.
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
#include "kernels/expert_store.h"
#include "runtime/inject.h"
#include "runtime/layer_runner.h"
#include "runtime/token_router.h"
#include "runtime/workload.h"

namespace wideep {

class MoeRunner final : public LayerRunner {
 public:
  MoeRunner(const RunConfig& cfg, Communicator& comm, std::shared_ptr<const Workload> workload,
            std::vector<Fault> faults, std::vector<Placement> initial);

  // Runs one layer of one step; `out` receives this rank's T x H outputs.
  void run_layer(int step, int layer, LayerStats* st) override;

  const float* input() override { return x_.data(); }
  const float* output() override { return out_.data(); }
  const int32_t* topk_ids() override { return ids_.data(); }
  const float* gate_weights() override { return gate_w_.data(); }
  const std::vector<int64_t>& local_counts() override { return local_counts_; }

  std::vector<Placement>& placements() override { return placement_; }
  ExpertStore& store() override { return *store_; }
  ExpertStore& spare_store() override { return *spare_store_; }

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
  std::unique_ptr<HostExpertStore> store_, spare_store_;
  TokenRouter router_;
  RouteArrays route_;
  BalanceInfo info_;
  DispatchLayout layout_;
  ExpertBatches batches_;
  std::vector<const float*> w1_, w2_;

  std::vector<float> x_, out_, gate_w_;
  std::vector<int32_t> ids_;
  std::vector<int64_t> local_counts_;
  // Dispatch sends each row from where it lies: x_ for the activations, meta_buf_
  // for | slot[P] | w[P] | (RowGather segments); send_buf_ holds packed rows only
  // for --baseline (packed outside its timing) and fault_row_ a corrupted copy.
  std::vector<unsigned char> meta_buf_, send_buf_, recv_buf_;
  std::vector<const void*> row_segments_;  // [rows * 2]
  int64_t segment_bytes_[2] = {0, 0};
  std::vector<float> fault_row_;
  std::vector<float> expert_rows_, returned_rows_;
  std::vector<const float*> combine_blocks_;  // [R] where each rank's returned rows lie
  std::vector<int64_t> send_rows_, send_row_off_, recv_rows_;
  std::vector<int64_t> send_bytes_, send_off_, recv_bytes_, recv_off_;
  std::vector<int64_t> back_send_bytes_, back_send_off_, back_recv_bytes_, back_recv_off_;
  int64_t recv_total_rows_ = 0;
};

}  // namespace wideep
