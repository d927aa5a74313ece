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
#include "runtime/node_spread.h"

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

DType dispatch_dtype(const RunConfig& cfg, DType run) {
  return resolve_wire_dtype(cfg.dispatch_dtype, run, "--dispatch-dtype", true);
}

DType combine_dtype(const RunConfig& cfg, DType run) {
  return resolve_wire_dtype(cfg.combine_dtype, run, "--combine-dtype", false);
}

double check_limit(DType compute, DType dispatch, DType combine) {
  (void)dispatch;
  (void)combine;
  // The wire dtypes cost nothing here: the reference applies the very same
  // rounding (bf16) or quantization (fp8, bit-identical) to its input, and
  // with fp32 compute it allows each output the bound of its bf16 combine
  // rows' rounding (runtime/reference.h), so only the summation order differs.
  // bf16 compute: x, W1, h, SiLU(h), W2, y and the combine row are each rounded
  // once (relative error <= 2^-8 each); errors of the terms of a sum add up to
  // a few times that of the output's scale. 2^-5 = 3.1e-2 bounds it with
  // margin (measured: docs/gpu.md, "bf16 check"; docs/usage.md "Wire dtypes").
  return compute == DType::kF32 ? 1e-4 : 1.0 / 32;
}

MoePipeline::MoePipeline(const RunConfig& cfg, Communicator& comm, std::shared_ptr<const Workload> workload,
                         std::vector<Fault> faults, std::vector<Placement> initial,
                         std::vector<std::unique_ptr<KernelBackend>> kernels, std::unique_ptr<ExpertStore> store,
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
      store_(std::move(store)),
      spare_(std::move(spare)),
      batches_(kernels.size()) {
  WIDEEP_ASSERT(kernels.size() == 1 || kernels.size() == 2, "one micro-batch, or two with --overlap tbo");
  store_->fill(placement_, rank_);
  int first = 0;
  for (size_t i = 0; i < batches_.size(); ++i) {
    Batch& b = batches_[i];
    b.kernels = std::move(kernels[i]);
    b.first = first;
    b.T = b.kernels->shape().tokens;
    first += b.T;
    b.router.init(R_, rank_, b.T, K_, cfg.shared_experts, E_, cfg.balancers.lplb, cfg.balancers.waterfill,
                  cfg.ranks_per_node());
    const size_t TP = static_cast<size_t>(b.T) * P_, TK = static_cast<size_t>(b.T) * K_;
    b.route.pair_dest_rank.assign(TP, 0);
    b.route.pair_local_slot.assign(TP, 0);
    b.route.pair_weight.assign(TP, 0.0f);
    b.ids.assign(TK, 0);
    b.gate_w.assign(TK, 0.0f);
    b.local_counts.assign(E_, 0);
    b.rank_row_offset.assign(R_ + 1, 0);
    b.rank_pairs.assign(R_, 0);
    b.msg.assign(R_, 0);
    b.recv_msg.assign(R_, 0);
    b.xp.init(R_);
    b.slot_pairs.assign(S_, 0);
    b.slot_offset.assign(S_ + 1, 0);
    b.w1.assign(S_, nullptr);
    b.w2.assign(S_, nullptr);
    b.problems.up.reserve(S_);
    b.problems.down.reserve(S_);
    b.piece.up.reserve(S_);
    b.piece.down.reserve(S_);
    b.fault_row.assign(b.kernels->wire().row_bytes, 0);
  }
  WIDEEP_ASSERT(first == T_, "the micro-batches do not add up to --tokens");
  fault_shape_.wire = batches_[0].kernels->wire();
  fault_shape_.dtype = batches_[0].kernels->shape().dtype;
  fault_shape_.hidden = H_;
  fault_shape_.pairs = P_;
  fault_shape_.slots = S_;
  if (tbo()) {
    joined_in_.assign(static_cast<size_t>(T_) * H_, 0.0f);
    joined_out_.assign(static_cast<size_t>(T_) * H_, 0.0f);
    joined_ids_.assign(static_cast<size_t>(T_) * K_, 0);
    joined_w_.assign(static_cast<size_t>(T_) * K_, 0.0f);
    joined_counts_.assign(E_, 0);
  }
}

// With two micro-batches the host views are joined in token order (a copy:
// only --check, the JSON checksums and EPLB's counts read them).
const float* MoePipeline::input() {
  if (!tbo()) return batches_[0].kernels->input_host();
  for (Batch& b : batches_)
    std::copy_n(b.kernels->input_host(), static_cast<size_t>(b.T) * H_, &joined_in_[static_cast<size_t>(b.first) * H_]);
  return joined_in_.data();
}
const float* MoePipeline::output() {
  if (!tbo()) return batches_[0].kernels->output_host();
  for (Batch& b : batches_)
    std::copy_n(b.kernels->output_host(), static_cast<size_t>(b.T) * H_,
                &joined_out_[static_cast<size_t>(b.first) * H_]);
  return joined_out_.data();
}
const int32_t* MoePipeline::topk_ids() {
  if (!tbo()) return batches_[0].ids.data();
  for (Batch& b : batches_) std::copy(b.ids.begin(), b.ids.end(), &joined_ids_[static_cast<size_t>(b.first) * K_]);
  return joined_ids_.data();
}
const float* MoePipeline::gate_weights() {
  if (!tbo()) return batches_[0].gate_w.data();
  for (Batch& b : batches_) std::copy(b.gate_w.begin(), b.gate_w.end(), &joined_w_[static_cast<size_t>(b.first) * K_]);
  return joined_w_.data();
}
const std::vector<int64_t>& MoePipeline::local_counts() {
  if (!tbo()) return batches_[0].local_counts;
  for (int e = 0; e < E_; ++e) joined_counts_[e] = batches_[0].local_counts[e] + batches_[1].local_counts[e];
  return joined_counts_;
}

void MoePipeline::memory(int64_t* host_bytes, int64_t* device_bytes) {
  *host_bytes = *device_bytes = 0;
  auto v = [](const auto& x) { return static_cast<int64_t>(x.capacity() * sizeof(x[0])); };
  for (Batch& b : batches_) {
    int64_t h = 0, d = 0;
    b.kernels->allocated_bytes(&h, &d);
    *host_bytes += h;
    *device_bytes += d;
    *host_bytes += v(b.ids) + v(b.gate_w) + v(b.route.pair_dest_rank) + v(b.route.pair_local_slot) +
                   v(b.route.pair_weight) + v(b.local_counts) + v(b.rank_row_offset) + v(b.rank_pairs) +
                   v(b.msg) + v(b.recv_msg) + v(b.slot_pairs) + v(b.slot_offset) + v(b.w1) + v(b.w2) +
                   v(b.fault_row) +
                   static_cast<int64_t>((b.problems.up.capacity() + b.problems.down.capacity() +
                                         b.piece.up.capacity() + b.piece.down.capacity()) *
                                        sizeof(GemmProblem));
    for (const auto* x : {&b.xp.send_rows, &b.xp.send_row_offset, &b.xp.recv_rows, &b.xp.recv_row_offset,
                          &b.xp.send_bytes, &b.xp.send_offset, &b.xp.recv_bytes, &b.xp.recv_offset,
                          &b.xp.back_send_bytes, &b.xp.back_send_offset, &b.xp.back_recv_bytes,
                          &b.xp.back_recv_offset})
      *host_bytes += v(*x);
  }
  *host_bytes += v(joined_in_) + v(joined_out_) + v(joined_ids_) + v(joined_w_) + v(joined_counts_);
  for (ExpertStore* s : {store_.get(), spare_.get()})
    if (s) (batches_[0].kernels->device_memory() ? *device_bytes : *host_bytes) += s->held_bytes();
}

int64_t MoePipeline::grow(Batch& b, int64_t rows, int64_t pairs, LayerStats* st) {
  const int64_t t0 = now_ns();
  const int64_t added = b.kernels->reserve_receive(rows, pairs);
  st->grown_bytes += added;
  return added > 0 ? now_ns() - t0 : 0;
}

void MoePipeline::route(Batch& b, int step, int layer) {
  const int64_t first = static_cast<int64_t>(rank_) * T_ + b.first;
  workload_->route(step, layer, first, b.T, b.ids.data(), b.gate_w.data());
  b.kernels->activations(step, layer, first);
  std::fill(b.local_counts.begin(), b.local_counts.end(), 0);
  for (int i = 0; i < b.T * K_; ++i) ++b.local_counts[b.ids[i]];
}

void MoePipeline::balance(Batch& b, int layer, LayerStats* st) {
  b.router.balance(comm_, placement_[layer], b.ids.data(), b.gate_w.data(), b.local_counts.data(), &b.route, &b.info);
  // Each micro-batch is balanced on its own: the layer's expected load is
  // their sum, unknown (-1) where either is.
  const bool known = b.info.expected_load >= 0 && (&b == &batches_[0] || st->expected_load >= 0);
  st->expected_load = known ? (&b == &batches_[0] ? 0 : st->expected_load) + b.info.expected_load : -1;
}

void MoePipeline::layout(Batch& b, int step, int layer, LayerStats* st) {
  KernelBackend& k = *b.kernels;
  k.layout(b.route.pair_dest_rank.data(), b.route.pair_local_slot.data(), b.route.pair_weight.data(),
           b.rank_row_offset.data());
  rank_pair_counts(b.route.pair_dest_rank.data(), b.T, P_, R_, b.rank_pairs.data());
  st->nodes_per_token.merge(node_spread(b.route.pair_dest_rank.data(), b.T, P_, rpn_));
  if (layer == 0 && b.first == 0 && b.rank_row_offset[R_] > 0 && has_row_fault(faults_, rank_, step)) {
    k.read_send_row(0, b.fault_row.data());
    if (apply_row_faults(faults_, rank_, step, fault_shape_, b.fault_row.data())) k.write_send_row(0, b.fault_row.data());
  }
  const int64_t rb = static_cast<int64_t>(k.wire().row_bytes);
  for (int r = 0; r < R_; ++r) {
    if (r == rank_) continue;
    const int64_t bytes = (b.rank_row_offset[r + 1] - b.rank_row_offset[r]) * rb;
    st->dispatch_bytes_remote += bytes;
    if (r / rpn_ != rank_ / rpn_) st->dispatch_bytes_cross_node += bytes;
  }
}

void MoePipeline::dispatch_start(Batch& b, LayerStats* st) {
  KernelBackend& k = *b.kernels;
  counts_message(b.rank_row_offset.data(), b.rank_pairs.data(), R_, b.msg.data());
  comm_.alltoall_int64(b.msg.data(), b.recv_msg.data());
  plan_exchange(b.rank_row_offset.data(), b.recv_msg.data(), R_, b.T, P_, static_cast<int64_t>(k.wire().row_bytes),
                static_cast<int64_t>(return_row_bytes(H_, k.shape().combine_dtype)), &b.xp);
  b.grown_ns[kDispatch] += grow(b, b.xp.recv_total_rows, b.xp.recv_total_pairs, st);
  WIDEEP_ASSERT(b.xp.recv_total_rows <= k.recv_rows_capacity(), "the receive buffer is smaller than announced");
  const SendRowsView send = k.send_rows();
  k.before_exchange();
  b.exchange_done_marked = false;
  if (send.packed) {
    b.exchange = comm_.start_alltoallv_bytes(send.packed, b.xp.send_bytes.data(), b.xp.send_offset.data(),
                                             k.recv_rows(), b.xp.recv_bytes.data(), b.xp.recv_offset.data());
  } else {
    RowGather rows;
    rows.segments_per_row = 2;
    rows.seg = send.segments;
    rows.seg_bytes = send.segment_bytes;
    b.exchange = comm_.start_alltoallv_rows(rows, b.xp.send_rows.data(), b.xp.send_row_offset.data(), k.recv_rows(),
                                            b.xp.recv_bytes.data(), b.xp.recv_offset.data());
  }
  k.exchange_started();
}

// Advances b's exchange; on the host, the first time it is seen complete is
// its phase's end (the exchange was in flight until then, not until the wait).
void MoePipeline::progress(Batch& b, int end_boundary) {
  if (b.exchange < 0 || b.exchange_done_marked || b.kernels->device_memory()) return;
  if (comm_.progress(b.exchange)) {
    b.kernels->mark(end_boundary);
    b.exchange_done_marked = true;
  }
}

void MoePipeline::dispatch_wait(Batch& b) {
  comm_.wait_exchange(b.exchange);
  b.exchange = -1;
  b.kernels->after_exchange();
  if (tbo() && !b.exchange_done_marked) b.kernels->mark(2 * kDispatch + 1);
}

void MoePipeline::expert(Batch& b, int layer, LayerStats* st, Batch* other) {
  KernelBackend& k = *b.kernels;
  const int rows = static_cast<int>(b.xp.recv_total_rows);
  int32_t bad_row = -1;
  k.count_slots(rows, b.slot_pairs.data(), &bad_row);
  if (bad_row >= 0)
    fail_call(ErrorCategory::kRemote, "dispatch", bad_row,
              "received row " + std::to_string(bad_row) + " names a local slot outside [0, " + std::to_string(S_) + ")",
              "count_slots", __FILE__, __LINE__);
  // Pairs as received (a faulty peer may carry more than it announced).
  b.grown_ns[kExpert] += grow(b, rows, slot_offsets(b.slot_pairs.data(), S_, b.slot_offset.data()), st);
  WIDEEP_ASSERT(b.slot_offset[S_] <= k.pairs_capacity(), "the grouped buffers are smaller than the pairs");
  k.group_by_slot(rows, b.slot_offset.data());
  for (int s = 0; s < S_; ++s) {
    b.w1[s] = store_->w1(layer, s);
    b.w2[s] = store_->w2(layer, s);
  }
  k.after_exchange();  // the weights (and their bf16 mirrors) are ordered on the communicator's stream
  if (other == nullptr || k.device_memory()) {
    build_ffn_problems(b.slot_offset.data(), S_, H_, cfg_.ffn, k.grouped_elem_bytes(), b.w1.data(), b.w2.data(),
                       k.grouped_x(), k.grouped_h(), k.grouped_y(), &b.problems);
    k.run_ffn(b.problems);
  } else {
    // Host overlap: MPI moves the other micro-batch's rows only inside MPI
    // calls, so its exchange is progressed between GEMM pieces of about
    // kPieces equal shares of the pairs (a piece is a run of whole slots).
    constexpr int kPieces = 8;
    const int other_end = other->exchange_done_marked ? -1 : (other == &batches_[0] ? 2 * kCombine + 1 : 2 * kDispatch + 1);
    const int64_t total = b.slot_offset[S_];
    int s0 = 0;
    while (s0 < S_) {
      int s1 = s0 + 1;
      const int64_t target = b.slot_offset[s0] + (total + kPieces - 1) / kPieces;
      while (s1 < S_ && b.slot_offset[s1] < target) ++s1;
      build_ffn_problems(b.slot_offset.data() + s0, s1 - s0, H_, cfg_.ffn, k.grouped_elem_bytes(), b.w1.data() + s0,
                         b.w2.data() + s0, k.grouped_x(), k.grouped_h(), k.grouped_y(), &b.piece);
      b.piece.first_pair = b.slot_offset[s0];
      if (!b.piece.up.empty()) k.run_ffn(b.piece);
      if (other_end >= 0) progress(*other, other_end);
      s0 = s1;
    }
  }
  k.partial_combine(rows);
  st->load_pairs += b.slot_offset[S_];
}

void MoePipeline::combine_start(Batch& b, LayerStats* st) {
  KernelBackend& k = *b.kernels;
  ExchangePlan& xp = b.xp;
  for (int r = 0; r < R_; ++r) {
    if (r == rank_) continue;
    st->combine_bytes_remote += xp.back_send_bytes[r];
    if (r / rpn_ != rank_ / rpn_) st->combine_bytes_cross_node += xp.back_send_bytes[r];
  }
  // This rank's own rows are summed where its experts wrote them: no copy
  // through the exchange (the --baseline all-to-allv still moves them); the
  // plan's own entries are zeroed for the exchange and restored at the wait.
  k.before_exchange();
  b.exchange_done_marked = false;
  b.own_back[0] = xp.back_send_bytes[rank_];
  b.own_back[1] = xp.back_recv_bytes[rank_];
  xp.back_send_bytes[rank_] = xp.back_recv_bytes[rank_] = 0;
  b.exchange = comm_.start_alltoallv_bytes(k.expert_rows(), xp.back_send_bytes.data(), xp.back_send_offset.data(),
                                           k.returned_rows(), xp.back_recv_bytes.data(), xp.back_recv_offset.data());
  k.exchange_started();
}

void MoePipeline::combine_wait(Batch& b) {
  comm_.wait_exchange(b.exchange);
  b.exchange = -1;
  b.xp.back_send_bytes[rank_] = b.own_back[0];
  b.xp.back_recv_bytes[rank_] = b.own_back[1];
  b.kernels->after_exchange();
  b.kernels->final_combine(b.rank_row_offset[rank_], b.rank_row_offset[rank_ + 1], b.xp.recv_row_offset[rank_]);
  if (tbo() && !b.exchange_done_marked) b.kernels->mark(2 * kCombine + 1);
}

void MoePipeline::baseline(Batch& b, LayerStats* st) {
  // The very same byte matrices (dispatch, then the combine's), after the real
  // exchange; the buffers receive identical bytes, so nothing is disturbed.
  // The host backend packs its rows first, outside the timing.
  KernelBackend& k = *b.kernels;
  const void* packed = k.packed_send_rows();
  comm_.barrier();
  const int64_t t0 = now_ns();
  comm_.raw_alltoallv_bytes(packed, b.xp.send_bytes.data(), b.xp.send_offset.data(), k.recv_rows(),
                            b.xp.recv_bytes.data(), b.xp.recv_offset.data());
  comm_.raw_alltoallv_bytes(k.expert_rows(), b.xp.back_send_bytes.data(), b.xp.back_send_offset.data(),
                            k.returned_rows(), b.xp.back_recv_bytes.data(), b.xp.back_recv_offset.data());
  st->baseline_ns = now_ns() - t0;
}

void MoePipeline::run_layer(int step, int layer, LayerStats* st) {
  *st = LayerStats{};
  st->expected_load = -1;
  for (Batch& b : batches_) std::fill(std::begin(b.grown_ns), std::end(b.grown_ns), 0);
  if (layer == 0) {
    if (const Fault* f = find_fault(faults_, Fault::Kind::kSlow, rank_, step))
      std::this_thread::sleep_for(std::chrono::microseconds(f->slow_us));
  }
  if (tbo()) {
    run_layer_tbo(step, layer, st);
    return;
  }
  Batch& b = batches_[0];
  KernelBackend& k = *b.kernels;
  CommContext ctx{step, layer, "route"};
  auto begin_phase = [&](int phase) {
    ctx.phase = phase_name(phase);
    comm_.set_context(ctx);
    k.mark(phase);
  };
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
  route(b, step, layer);
  begin_phase(kBalance);
  balance(b, layer, st);
  begin_phase(kLayout);
  layout(b, step, layer, st);
  barrier_after(kLayout);
  begin_phase(kDispatch);
  dispatch_start(b, st);
  dispatch_wait(b);
  begin_phase(kExpert);
  expert(b, layer, st, nullptr);
  barrier_after(kExpert);
  begin_phase(kCombine);
  combine_start(b, st);
  combine_wait(b);
  k.mark(kNumPhases);
  k.finish("combine");
  for (int p = 0; p < kNumPhases; ++p)
    st->phase_ns[p] = std::max<int64_t>(0, k.elapsed_ns(p, p + 1) - waited_ns[p] - b.grown_ns[p]);
  if (cfg_.baseline) {
    ctx.phase = "baseline";
    comm_.set_context(ctx);
    baseline(b, st);
  }
}

// Two-batch overlap (SGLang's TBO): micro-batch B's dispatch is in flight
// while A's experts run, and A's combine while B's experts run. Each phase of
// each micro-batch is timed from its start to its end (boundaries 2p, 2p+1 of
// its backend's clock); an exchange ends when it is first seen complete.
void MoePipeline::run_layer_tbo(int step, int layer, LayerStats* st) {
  Batch& A = batches_[0];
  Batch& B = batches_[1];
  CommContext ctx{step, layer, "route"};
  auto begin = [&](Batch& b, int p) {
    ctx.phase = phase_name(p);
    comm_.set_context(ctx);
    b.kernels->mark(2 * p);
  };
  auto end = [&](Batch& b, int p) { b.kernels->mark(2 * p + 1); };
  for (Batch* b : {&A, &B}) {
    if (b == &B) {
      begin(A, kDispatch);
      dispatch_start(A, st);
    }
    begin(*b, kRoute);
    route(*b, step, layer);
    end(*b, kRoute);
    progress(A, 2 * kDispatch + 1);
    begin(*b, kBalance);
    balance(*b, layer, st);
    end(*b, kBalance);
    progress(A, 2 * kDispatch + 1);
    begin(*b, kLayout);
    layout(*b, step, layer, st);
    end(*b, kLayout);
  }
  dispatch_wait(A);
  begin(B, kDispatch);
  dispatch_start(B, st);
  begin(A, kExpert);
  expert(A, layer, st, &B);
  end(A, kExpert);
  begin(A, kCombine);
  combine_start(A, st);
  dispatch_wait(B);
  begin(B, kExpert);
  expert(B, layer, st, &A);
  end(B, kExpert);
  combine_wait(A);
  begin(B, kCombine);
  combine_start(B, st);
  combine_wait(B);
  for (Batch* b : {&A, &B}) {
    b->kernels->before_exchange();  // the communicator's stream (EPLB moves) after this layer's GEMMs
    b->kernels->finish("combine");
    for (int p = 0; p < kNumPhases; ++p)
      st->phase_ns[p] += std::max<int64_t>(0, b->kernels->elapsed_ns(2 * p, 2 * p + 1) - b->grown_ns[p]);
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
  shape.dispatch_dtype = dispatch_dtype(cfg, dtype);
  shape.combine_dtype = combine_dtype(cfg, dtype);
  shape.seed = cfg.seed;
  shape.timeout_s = cfg.timeout_s;
  shape.recv_rows_capacity = plan.recv_rows_capacity;
  shape.pairs_capacity = plan.pairs_capacity;
  shape.baseline = cfg.baseline;
  const int S = cfg.slots_per_rank, shared = cfg.shared_experts;
  // One backend per micro-batch (--overlap tbo: two, of tbo_first_tokens()
  // and the rest), each with the plan's receive capacity.
  std::vector<KernelShape> shapes(cfg.overlap == "tbo" ? 2 : 1, shape);
  if (shapes.size() == 2) {
    shapes[0].tokens = cfg.tbo_first_tokens();
    shapes[1].tokens = cfg.tokens - shapes[0].tokens;
  }
  std::vector<std::unique_ptr<KernelBackend>> kernels;
  std::unique_ptr<ExpertStore> store, spare;
  if (auto* dc = dynamic_cast<DeviceCommunicator*>(&comm)) {
    for (const KernelShape& s : shapes) kernels.push_back(make_cuda_kernels(s, dc->stream(), shapes.size() == 2));
    store = make_device_expert_store(cfg.layers, S, shared, cfg.hidden, cfg.ffn, cfg.seed, dtype, dc->stream(),
                                     cfg.timeout_s);
    // Staging of an EPLB exchange: fp32 only (GEMMs never read it).
    if (cfg.balancers.eplb)
      spare = make_device_expert_store(cfg.layers, S, shared, cfg.hidden, cfg.ffn, cfg.seed, DType::kF32,
                                       dc->stream(), cfg.timeout_s);
  } else {
    cpu_kernels_init();
    for (const KernelShape& s : shapes) kernels.push_back(std::make_unique<HostKernels>(s));
    store = std::make_unique<HostExpertStore>(cfg.layers, S, shared, cfg.hidden, cfg.ffn, cfg.seed, dtype);
    if (cfg.balancers.eplb)
      spare = std::make_unique<HostExpertStore>(cfg.layers, S, shared, cfg.hidden, cfg.ffn, cfg.seed, DType::kF32);
  }
  return std::make_unique<MoePipeline>(cfg, comm, std::move(workload), std::move(faults), std::move(initial),
                                       std::move(kernels), std::move(store), std::move(spare));
}

}  // namespace wideep
