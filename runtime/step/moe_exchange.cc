// The exchange halves of a layer step (MoePipeline's dispatch and combine):
// each starts its all-to-allv and is waited for apart, so one schedule or two
// (tbo_schedule.cc) can interleave them with the expert phase. Low-latency
// regions and the hierarchical forwarding stage live here too.
#include "runtime/step/moe_pipeline.h"

#include <string>

#include "common/check.h"
#include "common/clock.h"
#include "kernels/dispatch_layout.h"
#include "runtime/step/hier_plan.h"

namespace wideep {

void MoePipeline::ll_overflow(const Batch& b, int64_t at, int step, int layer) const {
  const int d = static_cast<int>(at / S_), s = static_cast<int>(at % S_);
  const std::string expert =
      s < cfg_.slots_per_rank ? "expert " + std::to_string(placement_[layer].phy2log[d * cfg_.slots_per_rank + s])
                              : "shared expert " + std::to_string(s - cfg_.slots_per_rank);
  throw Error(ErrorCategory::kInvalidArgument,
              "rank " + std::to_string(rank_) + ": --ll-max-tokens " + std::to_string(ll_capacity_) + ": " + expert +
                  " (rank " + std::to_string(d) + ", local slot " + std::to_string(s) + ", layer " +
                  std::to_string(layer) + ") would receive " + std::to_string(b.ll_counts[at]) + " rows from rank " +
                  std::to_string(rank_) + " at step " + std::to_string(step) +
                  (tbo() ? " (one micro-batch)" : "") + ", more than its region of " +
                  std::to_string(ll_region_rows(ll_capacity_, R_, b.T)) +
                  " rows per source: its low-latency receive buffer would overflow");
}

void MoePipeline::dispatch_start(Batch& b, LayerStats* st) {
  KernelBackend& k = *b.kernels;
  const int64_t rb = static_cast<int64_t>(k.wire().row_bytes);
  const SendRowsView send = k.send_rows();
  b.exchange_done_marked = false;
  if (ll_no_counts_) {
    // No counts round: a header row, then the rows, into the source's fixed region.
    ll_plan_send(b.rank_row_offset.data(), R_, rank_, S_, ll_region_rows(ll_capacity_, R_, b.T), rb, &b.llx);
    b.grown_ns[kDispatch] += grow(k, R_ * b.llx.source_rows, 0, st);
    WIDEEP_ASSERT(send.segments != nullptr, "header rows are gathered with the rows");
    const void** seg = b.ll_segments.data();
    for (int p = 0; p < R_; ++p) {
      unsigned char* h = &b.ll_headers[static_cast<size_t>(p) * rb];
      ll_write_header(b.rank_row_offset[p + 1] - b.rank_row_offset[p], h);
      *seg++ = h;
      *seg++ = h + send.segment_bytes[0];
      for (int32_t row = b.rank_row_offset[p]; row < b.rank_row_offset[p + 1]; ++row) {
        *seg++ = send.segments[2 * static_cast<size_t>(row)];
        *seg++ = send.segments[2 * static_cast<size_t>(row) + 1];
      }
    }
    RowGather rows;
    rows.segments_per_row = 2;
    rows.seg = b.ll_segments.data();
    rows.seg_bytes = send.segment_bytes;
    k.before_exchange();
    b.exchange = comm_.start_alltoallv_rows(rows, b.llx.send_rows.data(), b.llx.send_row_offset.data(), k.recv_rows(),
                                            b.llx.recv_bytes.data(), b.llx.recv_offset.data());
    k.exchange_started();
    return;
  }
  const bool ll = mode_ == Mode::kLowLatency;
  counts_message(b.rank_row_offset.data(), b.rank_pairs.data(), R_, b.msg.data());
  comm_.alltoall_int64(b.msg.data(), b.recv_msg.data());
  plan_exchange(b.rank_row_offset.data(), b.recv_msg.data(), R_, ll ? b.T * P_ : b.T, k.row_pairs(), rb,
                static_cast<int64_t>(return_row_bytes(H_, k.shape().combine_dtype)), &b.xp);
  // Stage 1 of hierarchical mode groups nothing: no pairs on this backend.
  b.grown_ns[kDispatch] += grow(k, b.xp.recv_total_rows, b.fwd ? 0 : b.xp.recv_total_pairs, st);
  WIDEEP_ASSERT(b.xp.recv_total_rows <= k.recv_rows_capacity(), "the receive buffer is smaller than announced");
  k.before_exchange();
  if (send.packed) {
    b.exchange = comm_.start_alltoallv_bytes(send.packed, b.xp.send_bytes.data(), b.xp.send_offset.data(),
                                             k.recv_rows(), b.xp.recv_bytes.data(), b.xp.recv_offset.data());
  } else {
    RowGather rows;
    rows.segments_per_row = 2;
    rows.seg = send.segments;
    rows.seg_bytes = send.segment_bytes;
    // --transport shm: node peers read each row's record (token-part
    // reference, tail) where this rank holds it, and the token part itself in
    // their grouping (zero-copy), except a forwarder's stage 1, whose token
    // parts are sent on.
    const bool by_reference = send.records != nullptr && !b.fwd &&
                              send.segment_bytes[0] >= static_cast<int64_t>(sizeof(int64_t));
    b.exchange = by_reference
                     ? comm_.start_alltoallv_rows_by_reference(rows, send.records, send.record_bytes,
                                                              b.xp.send_rows.data(), b.xp.send_row_offset.data(),
                                                              k.recv_rows(), b.xp.recv_bytes.data(),
                                                              b.xp.recv_offset.data())
                     : comm_.start_alltoallv_rows(rows, b.xp.send_rows.data(), b.xp.send_row_offset.data(),
                                                  k.recv_rows(), b.xp.recv_bytes.data(), b.xp.recv_offset.data());
  }
  k.exchange_started();  // not behind what the other micro-batch enqueues next (its combine)
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

void MoePipeline::dispatch_wait(Batch& b, LayerStats* st) {
  comm_.wait_exchange(b.exchange);
  b.exchange = -1;
  b.kernels->after_exchange();
  if (comm_.exchange_memory() != nullptr) {
    for (int r = 0; r < R_; ++r) {
      b.by_reference[r] = comm_.by_reference(r);
      if (const void* records = comm_.rows_in_place(r))
        b.kernels->receive_records(records, b.xp.recv_rows[r], b.xp.recv_row_offset[r]);
    }
    b.kernels->received_by_reference(b.xp.recv_row_offset.data(), b.xp.recv_rows.data(),
                                     b.by_reference.data());
  }
  if (ll_no_counts_) ll_received(b);
  if (b.fwd) forward(b, st);
  // Where more work followed the exchange (headers, stage 2), the phase ends now.
  if (tbo() && (!b.exchange_done_marked || mode_ != Mode::kFlat)) b.kernels->mark(2 * kDispatch + 1);
}

// Low-latency without a counts round: each source's header says how many rows
// its region holds; the regions are packed together, and the plan of the
// expert phase and the combine is the one a counts round would have given.
void MoePipeline::ll_received(Batch& b) {
  KernelBackend& k = *b.kernels;
  const int64_t rb = static_cast<int64_t>(k.wire().row_bytes);
  const auto* in = static_cast<const unsigned char*>(k.recv_rows());
  for (int p = 0; p < R_; ++p) b.ll_header_rows[p] = ll_read_header(in + b.llx.recv_offset[p]);
  const int64_t region = ll_region_rows(ll_capacity_, R_, b.T);
  ll_plan_received(b.ll_header_rows.data(), R_, S_, region, &b.llx);
  k.compact_received(b.llx.from_row.data(), b.llx.rows.data(), b.llx.to_row.data(), R_);
  plan_exchange(b.rank_row_offset.data(), b.llx.recv_msg.data(), R_, b.T * P_, 1, rb,
                static_cast<int64_t>(return_row_bytes(H_, k.shape().combine_dtype)), &b.xp);
}

// Hierarchical stage 2 on this rank as its node's forwarder: the rows it
// received in stage 1 (its own tokens' included) become forwarded tokens,
// sent to the ranks of its node that hold their pairs (blocking: a micro-batch's
// stage 2 completes inside its wait).
void MoePipeline::forward(Batch& b, LayerStats* st) {
  KernelBackend& k = *b.kernels;
  KernelBackend& f = *b.fwd;
  const int V = static_cast<int>(b.xp.recv_total_rows);
  WIDEEP_ASSERT(V <= f.shape().tokens, "more forwarded tokens than planned");
  k.read_received_meta(V, b.meta_slot.data(), b.meta_w.data());
  const int32_t bad = hier_stage2(b.meta_slot.data(), V, P_, rank_, rpn_, S_, b.dest2.data(), b.slot2.data());
  if (bad >= 0)
    fail_call(ErrorCategory::kRemote, "dispatch", bad,
              "received stage-1 row " + std::to_string(bad) + " names a slot code outside [-1, " +
                  std::to_string(rpn_ * S_) + ")",
              "hierarchical forward", __FILE__, __LINE__);
  f.forward_tokens(k.recv_rows(), k.wire().row_bytes, V);
  f.layout(b.dest2.data(), b.slot2.data(), b.meta_w.data(), b.rank_row_offset2.data());
  rank_pair_counts(b.dest2.data(), V, P_, R_, b.rank_pairs2.data());
  const int64_t rb = static_cast<int64_t>(f.wire().row_bytes);
  for (int r = 0; r < R_; ++r) {
    if (r == rank_) continue;
    WIDEEP_ASSERT(b.rank_row_offset2[r + 1] == b.rank_row_offset2[r] || r / rpn_ == rank_ / rpn_,
                  "stage 2 leaves the node");
    st->dispatch_bytes_remote += (b.rank_row_offset2[r + 1] - b.rank_row_offset2[r]) * rb;
  }
  counts_message(b.rank_row_offset2.data(), b.rank_pairs2.data(), R_, b.msg2.data());
  comm_.alltoall_int64(b.msg2.data(), b.recv_msg2.data());
  plan_exchange(b.rank_row_offset2.data(), b.recv_msg2.data(), R_, f.shape().tokens, P_, rb,
                static_cast<int64_t>(return_row_bytes(H_, f.shape().combine_dtype)), &b.xp2);
  b.grown_ns[kDispatch] += grow(f, b.xp2.recv_total_rows, b.xp2.recv_total_pairs, st);
  const SendRowsView send = f.send_rows();
  f.before_exchange();
  if (send.packed) {
    comm_.alltoallv_bytes(send.packed, b.xp2.send_bytes.data(), b.xp2.send_offset.data(), f.recv_rows(),
                          b.xp2.recv_bytes.data(), b.xp2.recv_offset.data());
  } else {
    RowGather rows;
    rows.segments_per_row = 2;
    rows.seg = send.segments;
    rows.seg_bytes = send.segment_bytes;
    comm_.alltoallv_rows(rows, b.xp2.send_rows.data(), b.xp2.send_row_offset.data(), f.recv_rows(),
                         b.xp2.recv_bytes.data(), b.xp2.recv_offset.data());
  }
  f.after_exchange();
}

void MoePipeline::combine_start(Batch& b, LayerStats* st) {
  KernelBackend& k = *b.kernels;
  ExchangePlan& xp = b.xp;
  if (b.fwd) {
    // Hierarchical: stage 2 back to the forwarder (intra-node, blocking), which
    // sums its node's rows per forwarded token (rank order; its own rows where
    // its experts wrote them): they are the stage-1 combine rows.
    KernelBackend& f = *b.fwd;
    ExchangePlan& x2 = b.xp2;
    for (int r = 0; r < R_; ++r)
      if (r != rank_) st->combine_bytes_remote += x2.back_send_bytes[r];
    const int64_t own[2] = {x2.back_send_bytes[rank_], x2.back_recv_bytes[rank_]};
    x2.back_send_bytes[rank_] = x2.back_recv_bytes[rank_] = 0;
    f.before_exchange();
    comm_.wait_exchange(comm_.start_alltoallv_bytes_in_place(f.expert_rows(), x2.back_send_bytes.data(),
                                                             x2.back_send_offset.data(), f.returned_rows(),
                                                             x2.back_recv_bytes.data(), x2.back_recv_offset.data()));
    x2.back_send_bytes[rank_] = own[0];
    x2.back_recv_bytes[rank_] = own[1];
    f.after_exchange();
    f.final_combine(b.rank_row_offset2[rank_], b.rank_row_offset2[rank_ + 1], x2.recv_row_offset[rank_],
                    rows_in_place(b));
    k.set_expert_rows(f.output_rows(), static_cast<int>(xp.recv_total_rows));
  }
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
  b.exchange = comm_.start_alltoallv_bytes_in_place(k.expert_rows(), xp.back_send_bytes.data(),
                                                    xp.back_send_offset.data(), k.returned_rows(),
                                                    xp.back_recv_bytes.data(), xp.back_recv_offset.data());
  k.exchange_started();
}

void MoePipeline::combine_wait(Batch& b) {
  comm_.wait_exchange(b.exchange);
  b.exchange = -1;
  b.xp.back_send_bytes[rank_] = b.own_back[0];
  b.xp.back_recv_bytes[rank_] = b.own_back[1];
  b.kernels->after_exchange();
  b.kernels->final_combine(b.rank_row_offset[rank_], b.rank_row_offset[rank_ + 1], b.xp.recv_row_offset[rank_],
                           rows_in_place(b));
  if (tbo() && !b.exchange_done_marked) b.kernels->mark(2 * kCombine + 1);
}

// --transport shm: node peers' combine rows are read where their experts wrote
// them (Communicator::rows_in_place of the exchange just waited for); null
// where every rank's rows arrived in the receive buffer.
const void* const* MoePipeline::rows_in_place(Batch& b) {
  bool any = false;
  for (int r = 0; r < R_; ++r) any |= (b.in_place[r] = comm_.rows_in_place(r)) != nullptr;
  return any ? b.in_place.data() : nullptr;
}

}  // namespace wideep
