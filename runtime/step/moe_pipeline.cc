// The phases of one MoE layer step on one rank, for both kernel backends:
// route, balance, layout, the expert phase, the --baseline exchange and the
// one-batch schedule (run_layer). The exchange halves are in moe_exchange.cc,
// the two-batch schedule in tbo_schedule.cc, construction in
// pipeline_backends.cc. Host round trips per layer on the device backend: the
// layout's offsets (layout), the counts round (dispatch), the pairs per slot
// (expert) and the phase clock (end of combine); see docs/gpu.md.
#include "runtime/step/moe_pipeline.h"

#include <algorithm>
#include <string>
#include <thread>

#include "common/check.h"
#include "common/clock.h"
#include "kernels/dispatch_layout.h"
#include "runtime/io/metrics.h"
#include "runtime/step/hier_plan.h"
#include "runtime/step/lplb_mode.h"
#include "runtime/machine/node_spread.h"

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
  // rows' rounding (runtime/check/reference.h), so only the summation order differs.
  // bf16 compute: x, W1, h, SiLU(h), W2, y and the combine row are each rounded
  // once (relative error <= 2^-8 each); errors of the terms of a sum add up to
  // a few times that of the output's scale. 2^-5 = 3.1e-2 bounds it with
  // margin (measured: docs/gpu.md, "bf16 check"; docs/usage.md "Wire dtypes").
  return compute == DType::kF32 ? 1e-4 : 1.0 / 32;
}

MoePipeline::MoePipeline(const RunConfig& cfg, Communicator& comm, std::shared_ptr<const Workload> workload,
                         std::vector<Fault> faults, std::vector<Placement> initial,
                         std::vector<std::unique_ptr<KernelBackend>> kernels, std::unique_ptr<ExpertStore> store,
                         std::unique_ptr<ExpertStore> spare, std::vector<std::unique_ptr<KernelBackend>> forwarders)
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
  mode_ = cfg.dispatch_mode == "hierarchical" ? Mode::kHierarchical
          : cfg.dispatch_mode == "low-latency" ? Mode::kLowLatency
                                               : Mode::kFlat;
  WIDEEP_ASSERT((mode_ == Mode::kHierarchical) == !forwarders.empty() &&
                    (forwarders.empty() || forwarders.size() == kernels.size()),
                "one forwarder per micro-batch in hierarchical mode, none otherwise");
  // Header rows need receives that may be larger than the message (MPI's
  // point-to-point); shm and NCCL size each receive exactly: counts round.
  ll_no_counts_ = ll_header_rows_used(cfg, kernels[0]->device_memory());
  ll_capacity_ = cfg.ll_max_tokens > 0 ? cfg.ll_max_tokens : static_cast<int64_t>(T_) * R_;
  store_->fill(placement_, rank_);
  int first = 0;
  for (size_t i = 0; i < batches_.size(); ++i) {
    Batch& b = batches_[i];
    b.kernels = std::move(kernels[i]);
    b.first = first;
    b.T = b.kernels->shape().tokens;
    first += b.T;
    b.router.init(RouterShape{R_, b.T, K_, cfg.shared_experts, E_, cfg.ranks_per_node(), cfg.balancers.lplb,
                              cfg.balancers.waterfill},
                  rank_);
    configure_lplb(cfg, &b.router);
    const size_t TP = static_cast<size_t>(b.T) * P_, TK = static_cast<size_t>(b.T) * K_;
    b.route.pair_dest_rank.assign(TP, 0);
    b.route.pair_local_slot.assign(TP, 0);
    b.route.pair_weight.assign(TP, 0.0f);
    b.ids.assign(TK, 0);
    b.gate_w.assign(TK, 0.0f);
    b.local_counts.assign(E_, 0);
    b.rank_row_offset.assign(R_ + 1, 0);
    b.in_place.assign(R_, nullptr);
    b.by_reference.assign(R_, 0);
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
    if (mode_ == Mode::kHierarchical) {
      b.fwd = std::move(forwarders[i]);
      const size_t VP = static_cast<size_t>(b.fwd->shape().tokens) * P_;
      b.xp2.init(R_);
      b.dest1.assign(TP, 0);
      b.code1.assign(TP, 0);
      b.meta_slot.assign(VP, 0);
      b.dest2.assign(VP, 0);
      b.slot2.assign(VP, 0);
      b.meta_w.assign(VP, 0.0f);
      b.rank_row_offset2.assign(R_ + 1, 0);
      b.rank_pairs2.assign(R_, 0);
      b.msg2.assign(R_, 0);
      b.recv_msg2.assign(R_, 0);
    }
    if (mode_ == Mode::kLowLatency) {
      b.ll_counts.assign(static_cast<size_t>(R_) * S_, 0);
      if (ll_no_counts_) {
        b.llx.init(R_);
        b.ll_headers.assign(static_cast<size_t>(R_) * b.kernels->wire().row_bytes, 0);
        b.ll_segments.assign((TP + R_) * 2, nullptr);
        b.ll_header_rows.assign(R_, 0);
      }
    }
  }
  WIDEEP_ASSERT(first == T_, "the micro-batches do not add up to --tokens");
  fault_shape_.wire = batches_[0].kernels->wire();
  fault_shape_.dtype = batches_[0].kernels->shape().dtype;
  fault_shape_.hidden = H_;
  fault_shape_.pairs = batches_[0].kernels->row_pairs();
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

void MoePipeline::expect_lplb(int layer, const Placement& p, const double* popularity, RebalanceRecord* rec) {
  for (Batch& b : batches_) rec->count_forecast(b.router.expect_lplb(layer, p, popularity));
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
    for (const ExchangePlan* xp : {&b.xp, &b.xp2})
      for (const auto* x : {&xp->send_rows, &xp->send_row_offset, &xp->recv_rows, &xp->recv_row_offset,
                            &xp->send_bytes, &xp->send_offset, &xp->recv_bytes, &xp->recv_offset,
                            &xp->back_send_bytes, &xp->back_send_offset, &xp->back_recv_bytes,
                            &xp->back_recv_offset})
        *host_bytes += v(*x);
    if (b.fwd) {
      b.fwd->allocated_bytes(&h, &d);
      *host_bytes += h;
      *device_bytes += d;
    }
    *host_bytes += v(b.dest1) + v(b.code1) + v(b.meta_slot) + v(b.dest2) + v(b.slot2) + v(b.meta_w) +
                   v(b.rank_row_offset2) + v(b.rank_pairs2) + v(b.msg2) + v(b.recv_msg2) + v(b.ll_counts) +
                   v(b.ll_headers) + v(b.ll_segments) + v(b.ll_header_rows);
    for (const auto* x : {&b.llx.send_rows, &b.llx.send_row_offset, &b.llx.recv_bytes, &b.llx.recv_offset,
                          &b.llx.from_row, &b.llx.rows, &b.llx.to_row, &b.llx.recv_msg})
      *host_bytes += v(*x);
  }
  *host_bytes += v(joined_in_) + v(joined_out_) + v(joined_ids_) + v(joined_w_) + v(joined_counts_);
  for (ExpertStore* s : {store_.get(), spare_.get()})
    if (s) (batches_[0].kernels->device_memory() ? *device_bytes : *host_bytes) += s->held_bytes();
}

int64_t MoePipeline::grow(KernelBackend& k, int64_t rows, int64_t pairs, LayerStats* st) {
  const int64_t t0 = now_ns();
  const int64_t added = k.reserve_receive(rows, pairs);
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
  st->lplb_skipped = (&b == &batches_[0] ? 0 : st->lplb_skipped) + b.info.lplb_skipped;
}

void MoePipeline::layout(Batch& b, int step, int layer, LayerStats* st) {
  KernelBackend& k = *b.kernels;
  const int64_t n = static_cast<int64_t>(b.T) * P_;
  const int32_t* dest = b.route.pair_dest_rank.data();
  const int32_t* slot = b.route.pair_local_slot.data();
  if (mode_ == Mode::kHierarchical) {
    // Stage 1: to each node's forwarder, the slot field naming the rank inside it.
    hier_stage1(dest, slot, n, rank_, rpn_, S_, b.dest1.data(), b.code1.data());
    dest = b.dest1.data();
    slot = b.code1.data();
  } else if (mode_ == Mode::kLowLatency) {
    // A region that would overflow is an error before anything is sent.
    ll_slot_rows(dest, slot, n, rank_, R_, S_, b.ll_counts.data());
    const int64_t at = ll_first_overflow(b.ll_counts.data(), R_, S_, ll_region_rows(ll_capacity_, R_, b.T));
    if (at >= 0) ll_overflow(b, at, step, layer);
  }
  k.layout(dest, slot, b.route.pair_weight.data(), b.rank_row_offset.data());
  rank_pair_counts(dest, b.T, P_, R_, b.rank_pairs.data());
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

void MoePipeline::expert(Batch& b, int layer, LayerStats* st, Batch* other) {
  KernelBackend& k = expert_kernels(b);
  const int rows = static_cast<int>(expert_plan(b).recv_total_rows);
  int32_t bad_row = -1;
  k.count_slots(rows, b.slot_pairs.data(), &bad_row);
  if (bad_row >= 0)
    fail_call(ErrorCategory::kRemote, "dispatch", bad_row,
              "received row " + std::to_string(bad_row) + " names a local slot outside [0, " + std::to_string(S_) + ")",
              "count_slots", __FILE__, __LINE__);
  // Pairs as received (a faulty peer may carry more than it announced).
  b.grown_ns[kExpert] += grow(k, rows, slot_offsets(b.slot_pairs.data(), S_, b.slot_offset.data()), st);
  WIDEEP_ASSERT(b.slot_offset[S_] <= k.pairs_capacity(), "the grouped buffers are smaller than the pairs");
  k.group_by_slot(rows, b.slot_offset.data());
  const int64_t refreshes = store_->mirror_refreshes();
  for (int s = 0; s < S_; ++s) {
    b.w1[s] = store_->w1(layer, s);
    b.w2[s] = store_->w2(layer, s);
  }
  // A mirror refreshed just now was enqueued on the communicator's stream:
  // wait for it. Weights moved before the layer came before its dispatch,
  // which the batch waited for (under tbo the mirrors too: run_layer_tbo).
  if (store_->mirror_refreshes() != refreshes) k.after_exchange();
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

void MoePipeline::baseline(Batch& b, LayerStats* st) {
  // The very same byte matrices (dispatch, then the combine's), after the real
  // exchange; the buffers receive identical bytes, so nothing is disturbed.
  // The host backend packs its rows first, outside the timing.
  // Hierarchical: both stages' matrices, each way; low-latency: its rows
  // without the header rows (as a counts round would have sized them).
  KernelBackend& k = *b.kernels;
  const void* packed = k.packed_send_rows();
  const void* packed2 = b.fwd ? b.fwd->packed_send_rows() : nullptr;
  // With --transport shm the exchanged buffers are shared windows; the raw
  // all-to-allv moves the same bytes from and into private memory, as without
  // shm (Open MPI's single copy is slower into shared-file pages).
  int scratch = 0;
  // The copies below are the harness's work: not while a node peer is still in its
  // timed combine (on a node with more ranks than cores they would take the
  // core from it).
  if (comm_.exchange_memory() != nullptr) comm_.barrier();
  auto own = [&](void* buf, const int64_t* offset, const int64_t* bytes, bool copy_in) -> void* {
    if (comm_.exchange_memory() == nullptr) return buf;
    int64_t extent = 0;
    for (int r = 0; r < R_; ++r) extent = std::max(extent, offset[r] + bytes[r]);
    std::vector<unsigned char>& v = baseline_scratch_[scratch++];
    if (static_cast<int64_t>(v.size()) < extent) v.resize(static_cast<size_t>(extent));
    if (copy_in && extent > 0) std::memcpy(v.data(), buf, static_cast<size_t>(extent));
    return v.data();
  };
  void* recv1 = own(k.recv_rows(), b.xp.recv_offset.data(), b.xp.recv_bytes.data(), false);
  const void* back1 = own(k.expert_rows(), b.xp.back_send_offset.data(), b.xp.back_send_bytes.data(), true);
  void *recv2 = nullptr, *back2 = nullptr;
  if (b.fwd) {
    recv2 = own(b.fwd->recv_rows(), b.xp2.recv_offset.data(), b.xp2.recv_bytes.data(), false);
    back2 = own(b.fwd->expert_rows(), b.xp2.back_send_offset.data(), b.xp2.back_send_bytes.data(), true);
  }
  comm_.barrier();
  const int64_t t0 = now_ns();
  comm_.raw_alltoallv_bytes(packed, b.xp.send_bytes.data(), b.xp.send_offset.data(), recv1, b.xp.recv_bytes.data(),
                            b.xp.recv_offset.data());
  if (b.fwd) {
    KernelBackend& f = *b.fwd;
    comm_.raw_alltoallv_bytes(packed2, b.xp2.send_bytes.data(), b.xp2.send_offset.data(), recv2,
                              b.xp2.recv_bytes.data(), b.xp2.recv_offset.data());
    comm_.raw_alltoallv_bytes(back2, b.xp2.back_send_bytes.data(), b.xp2.back_send_offset.data(), f.returned_rows(),
                              b.xp2.back_recv_bytes.data(), b.xp2.back_recv_offset.data());
  }
  comm_.raw_alltoallv_bytes(back1, b.xp.back_send_bytes.data(), b.xp.back_send_offset.data(), k.returned_rows(),
                            b.xp.back_recv_bytes.data(), b.xp.back_recv_offset.data());
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
  dispatch_wait(b, st);
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

}  // namespace wideep
