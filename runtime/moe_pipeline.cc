// The phases of one MoE layer step on one rank (DESIGN.md, "One step"), for
// both kernel backends. Host round trips per layer on the device backend: the
// layout's offsets (layout), the counts round (dispatch), the pairs per slot
// (expert) and the phase clock (end of combine); see docs/gpu.md.
#include "runtime/moe_pipeline.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "comm/device_communicator.h"
#include "common/check.h"
#include "common/clock.h"
#include "kernels/cuda_kernels.h"
#include "kernels/dispatch_layout.h"
#include "kernels/expert_cpu.h"
#include "kernels/host_kernels.h"

namespace wideep {

const char* phase_name(int phase) {
  static const char* names[kNumPhases] = {"route", "balance", "layout", "dispatch", "expert", "combine"};
  return names[phase];
}

DType run_dtype(const RunConfig& cfg, const std::string& backend) {
  if (cfg.dtype != "auto") return parse_dtype(cfg.dtype, "--dtype");
  if (backend != "nccl") return DType::kF32;
  const char* env = std::getenv("WIDEEP_DEVICE_DTYPE");
  if (env && *env) return parse_dtype(env, "WIDEEP_DEVICE_DTYPE");
  return DType::kBF16;
}

double check_limit(DType dtype) {
  // bf16: x, W1, h, SiLU(h), W2, y and the combine row are each rounded once
  // (relative error <= 2^-9 each); errors of the terms of a sum add up to a
  // few times that of the output's scale. 2^-5 = 3.1e-2 bounds it with margin
  // (measured: docs/gpu.md, "bf16 check").
  return dtype == DType::kF32 ? 1e-4 : 1.0 / 32;
}

MoePipeline::MoePipeline(const RunConfig& cfg, Communicator& comm, std::shared_ptr<const Workload> workload,
                         std::vector<Fault> faults, std::vector<Placement> initial,
                         std::unique_ptr<KernelBackend> kernels, std::unique_ptr<ExpertStore> store,
                         std::unique_ptr<ExpertStore> spare)
    : cfg_(cfg),
      comm_(comm),
      workload_(std::move(workload)),
      faults_(std::move(faults)),
      R_(comm.size()),
      rank_(comm.rank()),
      T_(cfg.tokens),
      K_(cfg.topk),
      P_(cfg.pairs_per_token()),
      H_(cfg.hidden),
      E_(cfg.experts),
      S_(cfg.slots_per_rank + cfg.shared_experts),
      rpn_(cfg.ranks_per_node()),
      placement_(std::move(initial)),
      kernels_(std::move(kernels)),
      store_(std::move(store)),
      spare_(std::move(spare)) {
  store_->fill(placement_, rank_);
  fault_shape_.wire = kernels_->wire();
  fault_shape_.dtype = kernels_->shape().dtype;
  fault_shape_.hidden = H_;
  fault_shape_.pairs = P_;
  fault_shape_.slots = S_;
  router_.init(R_, rank_, T_, K_, cfg.shared_experts, E_, cfg.balancers.lplb, cfg.balancers.waterfill,
               cfg.ranks_per_node());
  const size_t TP = static_cast<size_t>(T_) * P_, TK = static_cast<size_t>(T_) * K_;
  route_.pair_dest_rank.assign(TP, 0);
  route_.pair_local_slot.assign(TP, 0);
  route_.pair_weight.assign(TP, 0.0f);
  ids_.assign(TK, 0);
  gate_w_.assign(TK, 0.0f);
  local_counts_.assign(E_, 0);
  rank_row_offset_.assign(R_ + 1, 0);
  rank_pairs_.assign(R_, 0);
  msg_.assign(R_, 0);
  recv_msg_.assign(R_, 0);
  xp_.init(R_);
  slot_pairs_.assign(S_, 0);
  slot_offset_.assign(S_ + 1, 0);
  w1_.assign(S_, nullptr);
  w2_.assign(S_, nullptr);
  problems_.up.reserve(S_);
  problems_.down.reserve(S_);
  fault_row_.assign(kernels_->wire().row_bytes, 0);
}

void MoePipeline::memory(int64_t* host_bytes, int64_t* device_bytes) {
  kernels_->allocated_bytes(host_bytes, device_bytes);
  auto v = [](const auto& x) { return static_cast<int64_t>(x.capacity() * sizeof(x[0])); };
  *host_bytes += v(ids_) + v(gate_w_) + v(route_.pair_dest_rank) + v(route_.pair_local_slot) + v(route_.pair_weight) +
                 v(local_counts_) + v(rank_row_offset_) + v(rank_pairs_) + v(msg_) + v(recv_msg_) + v(slot_pairs_) +
                 v(slot_offset_) + v(w1_) + v(w2_) + v(fault_row_) +
                 static_cast<int64_t>((problems_.up.capacity() + problems_.down.capacity()) * sizeof(GemmProblem));
  for (const auto* x : {&xp_.send_rows, &xp_.send_row_offset, &xp_.recv_rows, &xp_.recv_row_offset, &xp_.send_bytes,
                        &xp_.send_offset, &xp_.recv_bytes, &xp_.recv_offset, &xp_.back_send_bytes,
                        &xp_.back_send_offset, &xp_.back_recv_bytes, &xp_.back_recv_offset})
    *host_bytes += v(*x);
  for (ExpertStore* s : {store_.get(), spare_.get()})
    if (s) (kernels_->device_memory() ? *device_bytes : *host_bytes) += s->held_bytes();
}

int64_t MoePipeline::grow(int64_t rows, int64_t pairs, LayerStats* st) {
  const int64_t t0 = now_ns();
  const int64_t added = kernels_->reserve_receive(rows, pairs);
  st->grown_bytes += added;
  return added > 0 ? now_ns() - t0 : 0;
}

void MoePipeline::route(int step, int layer) {
  const int64_t first = static_cast<int64_t>(rank_) * T_;
  workload_->route(step, layer, first, T_, ids_.data(), gate_w_.data());
  kernels_->activations(step, layer, first);
  std::fill(local_counts_.begin(), local_counts_.end(), 0);
  for (int i = 0; i < T_ * K_; ++i) ++local_counts_[ids_[i]];
}

void MoePipeline::balance(int layer, LayerStats* st) {
  router_.balance(comm_, placement_[layer], ids_.data(), gate_w_.data(), local_counts_.data(), &route_, &info_);
  st->expected_load = info_.expected_load;
}

void MoePipeline::layout(int step, int layer, LayerStats* st) {
  kernels_->layout(route_.pair_dest_rank.data(), route_.pair_local_slot.data(), route_.pair_weight.data(),
                   rank_row_offset_.data());
  rank_pair_counts(route_.pair_dest_rank.data(), T_, P_, R_, rank_pairs_.data());
  if (layer == 0 && rank_row_offset_[R_] > 0 && has_row_fault(faults_, rank_, step)) {
    kernels_->read_send_row(0, fault_row_.data());
    if (apply_row_faults(faults_, rank_, step, fault_shape_, fault_row_.data()))
      kernels_->write_send_row(0, fault_row_.data());
  }
  const int64_t rb = static_cast<int64_t>(kernels_->wire().row_bytes);
  for (int r = 0; r < R_; ++r) {
    if (r == rank_) continue;
    const int64_t bytes = (rank_row_offset_[r + 1] - rank_row_offset_[r]) * rb;
    st->dispatch_bytes_remote += bytes;
    if (r / rpn_ != rank_ / rpn_) st->dispatch_bytes_cross_node += bytes;
  }
}

void MoePipeline::dispatch(LayerStats* st) {
  counts_message(rank_row_offset_.data(), rank_pairs_.data(), R_, msg_.data());
  comm_.alltoall_int64(msg_.data(), recv_msg_.data());
  plan_exchange(rank_row_offset_.data(), recv_msg_.data(), R_, T_, P_,
                static_cast<int64_t>(kernels_->wire().row_bytes),
                static_cast<int64_t>(return_row_bytes(H_, kernels_->shape().dtype)), &xp_);
  grown_ns_[kDispatch] += grow(xp_.recv_total_rows, xp_.recv_total_pairs, st);
  WIDEEP_ASSERT(xp_.recv_total_rows <= kernels_->recv_rows_capacity(), "the receive buffer is smaller than announced");
  const SendRowsView send = kernels_->send_rows();
  if (send.packed) {
    comm_.alltoallv_bytes(send.packed, xp_.send_bytes.data(), xp_.send_offset.data(), kernels_->recv_rows(),
                          xp_.recv_bytes.data(), xp_.recv_offset.data());
  } else {
    RowGather rows;
    rows.segments_per_row = 2;
    rows.seg = send.segments;
    rows.seg_bytes = send.segment_bytes;
    comm_.alltoallv_rows(rows, xp_.send_rows.data(), xp_.send_row_offset.data(), kernels_->recv_rows(),
                         xp_.recv_bytes.data(), xp_.recv_offset.data());
  }
}

void MoePipeline::expert(int layer, LayerStats* st) {
  const int rows = static_cast<int>(xp_.recv_total_rows);
  int32_t bad_row = -1;
  kernels_->count_slots(rows, slot_pairs_.data(), &bad_row);
  if (bad_row >= 0)
    fail_call(ErrorCategory::kRemote, "dispatch", bad_row,
              "received row " + std::to_string(bad_row) + " names a local slot outside [0, " + std::to_string(S_) + ")",
              "count_slots", __FILE__, __LINE__);
  // Pairs as received (a faulty peer may carry more than it announced).
  grown_ns_[kExpert] += grow(rows, slot_offsets(slot_pairs_.data(), S_, slot_offset_.data()), st);
  WIDEEP_ASSERT(slot_offset_[S_] <= kernels_->pairs_capacity(), "the grouped buffers are smaller than the pairs");
  kernels_->group_by_slot(rows, slot_offset_.data());
  for (int s = 0; s < S_; ++s) {
    w1_[s] = store_->w1(layer, s);
    w2_[s] = store_->w2(layer, s);
  }
  build_ffn_problems(slot_offset_.data(), S_, H_, cfg_.ffn, kernels_->grouped_elem_bytes(), w1_.data(), w2_.data(),
                     kernels_->grouped_x(), kernels_->grouped_h(), kernels_->grouped_y(), &problems_);
  kernels_->run_ffn(problems_);
  kernels_->partial_combine(rows);
  st->load_pairs = slot_offset_[S_];
}

void MoePipeline::combine(LayerStats* st) {
  for (int r = 0; r < R_; ++r) {
    if (r == rank_) continue;
    st->combine_bytes_remote += xp_.back_send_bytes[r];
    if (r / rpn_ != rank_ / rpn_) st->combine_bytes_cross_node += xp_.back_send_bytes[r];
  }
  // This rank's own rows are summed where its experts wrote them: no copy
  // through the exchange (the --baseline all-to-allv still moves them).
  const int64_t own_send = xp_.back_send_bytes[rank_], own_recv = xp_.back_recv_bytes[rank_];
  xp_.back_send_bytes[rank_] = xp_.back_recv_bytes[rank_] = 0;
  comm_.alltoallv_bytes(kernels_->expert_rows(), xp_.back_send_bytes.data(), xp_.back_send_offset.data(),
                        kernels_->returned_rows(), xp_.back_recv_bytes.data(), xp_.back_recv_offset.data());
  xp_.back_send_bytes[rank_] = own_send;
  xp_.back_recv_bytes[rank_] = own_recv;
  kernels_->final_combine(rank_row_offset_[rank_], rank_row_offset_[rank_ + 1], xp_.recv_row_offset[rank_]);
}

void MoePipeline::baseline(LayerStats* st) {
  // The very same byte matrices (dispatch, then the combine's), after the real
  // exchange; the buffers receive identical bytes, so nothing is disturbed.
  // The host backend packs its rows first, outside the timing.
  const void* packed = kernels_->packed_send_rows();
  comm_.barrier();
  const int64_t t0 = now_ns();
  comm_.raw_alltoallv_bytes(packed, xp_.send_bytes.data(), xp_.send_offset.data(), kernels_->recv_rows(),
                            xp_.recv_bytes.data(), xp_.recv_offset.data());
  comm_.raw_alltoallv_bytes(kernels_->expert_rows(), xp_.back_send_bytes.data(), xp_.back_send_offset.data(),
                            kernels_->returned_rows(), xp_.back_recv_bytes.data(), xp_.back_recv_offset.data());
  st->baseline_ns = now_ns() - t0;
}

void MoePipeline::run_layer(int step, int layer, LayerStats* st) {
  *st = LayerStats{};
  std::fill(std::begin(grown_ns_), std::end(grown_ns_), 0);
  CommContext ctx{step, layer, "route"};
  auto begin_phase = [&](int phase) {
    ctx.phase = phase_name(phase);
    comm_.set_context(ctx);
    kernels_->mark(phase);
  };
  if (layer == 0) {
    if (const Fault* f = find_fault(faults_, Fault::Kind::kSlow, rank_, step))
      std::this_thread::sleep_for(std::chrono::microseconds(f->slow_us));
  }
  // --phase-barrier: the wait for the slowest rank is kept out of the phases;
  // it lies between a phase's end and the next one's start, and is subtracted.
  int64_t waited_ns[kNumPhases] = {};
  auto barrier_after = [&](int phase) {
    if (!cfg_.phase_barrier) return;
    const int64_t t0 = now_ns();
    comm_.barrier();
    waited_ns[phase] = now_ns() - t0;
    st->wait_ns += waited_ns[phase];
  };
  begin_phase(kRoute);
  route(step, layer);
  begin_phase(kBalance);
  balance(layer, st);
  begin_phase(kLayout);
  layout(step, layer, st);
  barrier_after(kLayout);
  begin_phase(kDispatch);
  dispatch(st);
  begin_phase(kExpert);
  expert(layer, st);
  barrier_after(kExpert);
  begin_phase(kCombine);
  combine(st);
  kernels_->mark(kNumPhases);
  kernels_->finish("combine");
  for (int p = 0; p < kNumPhases; ++p)
    st->phase_ns[p] = std::max<int64_t>(0, kernels_->elapsed_ns(p, p + 1) - waited_ns[p] - grown_ns_[p]);
  if (cfg_.baseline) {
    ctx.phase = "baseline";
    comm_.set_context(ctx);
    baseline(st);
  }
}

std::unique_ptr<LayerRunner> make_pipeline(const RunConfig& cfg, Communicator& comm,
                                           std::shared_ptr<const Workload> workload, std::vector<Fault> faults,
                                           std::vector<Placement> initial, DType dtype, const MemoryPlan& plan) {
  KernelShape shape;
  shape.ranks = comm.size();
  shape.rank = comm.rank();
  shape.tokens = cfg.tokens;
  shape.topk = cfg.topk;
  shape.pairs = cfg.pairs_per_token();
  shape.hidden = cfg.hidden;
  shape.ffn = cfg.ffn;
  shape.slots = cfg.slots_per_rank + cfg.shared_experts;
  shape.dtype = dtype;
  shape.seed = cfg.seed;
  shape.timeout_s = cfg.timeout_s;
  shape.recv_rows_capacity = plan.recv_rows_capacity;
  shape.pairs_capacity = plan.pairs_capacity;
  shape.baseline = cfg.baseline;
  const int S = cfg.slots_per_rank, shared = cfg.shared_experts;
  std::unique_ptr<KernelBackend> kernels;
  std::unique_ptr<ExpertStore> store, spare;
  if (auto* dc = dynamic_cast<DeviceCommunicator*>(&comm)) {
    kernels = make_cuda_kernels(shape, dc->stream());
    store = make_device_expert_store(cfg.layers, S, shared, cfg.hidden, cfg.ffn, cfg.seed, dtype, dc->stream(),
                                     cfg.timeout_s);
    // Staging of an EPLB exchange: fp32 only (GEMMs never read it).
    if (cfg.balancers.eplb)
      spare = make_device_expert_store(cfg.layers, S, shared, cfg.hidden, cfg.ffn, cfg.seed, DType::kF32,
                                       dc->stream(), cfg.timeout_s);
  } else {
    cpu_kernels_init();
    kernels = std::make_unique<HostKernels>(shape);
    store = std::make_unique<HostExpertStore>(cfg.layers, S, shared, cfg.hidden, cfg.ffn, cfg.seed, dtype);
    if (cfg.balancers.eplb)
      spare = std::make_unique<HostExpertStore>(cfg.layers, S, shared, cfg.hidden, cfg.ffn, cfg.seed, DType::kF32);
  }
  return std::make_unique<MoePipeline>(cfg, comm, std::move(workload), std::move(faults), std::move(initial),
                                       std::move(kernels), std::move(store), std::move(spare));
}

}  // namespace wideep
