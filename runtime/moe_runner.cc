// The phases of one MoE layer step on one rank (DESIGN.md, "One step").
#include "runtime/moe_runner.h"

#include <chrono>
#include <cstring>
#include <thread>

#include "common/check.h"
#include "common/clock.h"
#include "kernels/det_values.h"

namespace wideep {

const char* phase_name(int phase) {
  static const char* names[kNumPhases] = {"route", "balance", "layout", "dispatch", "expert", "combine"};
  return names[phase];
}

MoeRunner::MoeRunner(const RunConfig& cfg, Communicator& comm, std::shared_ptr<const Workload> workload,
                     std::vector<Fault> faults, std::vector<Placement> initial)
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
      placement_(std::move(initial)) {
  cpu_kernels_init();
  const int S = cfg.slots_per_rank, shared = cfg.shared_experts;
  store_ = std::make_unique<HostExpertStore>(cfg.layers, S, shared, H_, cfg.ffn, cfg.seed);
  store_->fill(placement_, rank_);
  // The staging copy of an EPLB exchange; one slot-sized layer would do, but a
  // full mirror keeps slot indexing identical (memory is not the limit here).
  if (cfg.balancers.eplb)
    spare_store_ = std::make_unique<HostExpertStore>(cfg.layers, S, shared, H_, cfg.ffn, cfg.seed);
  router_.init(R_, rank_, T_, K_, shared, E_, cfg.balancers.lplb, cfg.balancers.waterfill,
               cfg.ranks_per_node());
  const size_t TP = static_cast<size_t>(T_) * P_;
  route_.pair_dest_rank.assign(TP, 0);
  route_.pair_local_slot.assign(TP, 0);
  route_.pair_weight.assign(TP, 0.0f);
  layout_.init(R_, T_, P_);
  // Worst-case receive bound: every rank sends each of its tokens to us once.
  const int64_t max_recv_rows = static_cast<int64_t>(R_) * T_;
  const int64_t max_send_rows = static_cast<int64_t>(T_) * std::min(R_, P_);
  const size_t rb = row_bytes(H_, P_);
  batches_.init(S + shared, static_cast<int>(max_recv_rows), P_, H_, cfg.ffn);
  w1_.assign(S + shared, nullptr);
  w2_.assign(S + shared, nullptr);
  x_.assign(static_cast<size_t>(T_) * H_, 0.0f);
  out_.assign(static_cast<size_t>(T_) * H_, 0.0f);
  ids_.assign(static_cast<size_t>(T_) * K_, 0);
  gate_w_.assign(static_cast<size_t>(T_) * K_, 0.0f);
  local_counts_.assign(E_, 0);
  meta_buf_.assign(max_send_rows * meta_bytes(P_), 0);
  row_segments_.assign(static_cast<size_t>(max_send_rows) * 2, nullptr);
  segment_bytes_[0] = static_cast<int64_t>(sizeof(float)) * H_;
  segment_bytes_[1] = static_cast<int64_t>(meta_bytes(P_));
  if (cfg.baseline) send_buf_.assign(max_send_rows * rb, 0);
  if (!faults_.empty()) fault_row_.assign(H_, 0.0f);
  combine_blocks_.assign(R_, nullptr);
  recv_buf_.assign(max_recv_rows * rb, 0);
  expert_rows_.assign(max_recv_rows * H_, 0.0f);
  returned_rows_.assign(max_send_rows * H_, 0.0f);
  for (auto* v : {&send_rows_, &send_row_off_, &recv_rows_, &send_bytes_, &send_off_, &recv_bytes_, &recv_off_,
                  &back_send_bytes_, &back_send_off_, &back_recv_bytes_, &back_recv_off_})
    v->assign(R_, 0);
}

void MoeRunner::route(int step, int layer) {
  const int64_t first = static_cast<int64_t>(rank_) * T_;
  workload_->route(step, layer, first, T_, ids_.data(), gate_w_.data());
  for (int t = 0; t < T_; ++t)
    for (int c = 0; c < H_; ++c)
      x_[static_cast<size_t>(t) * H_ + c] = token_activation(cfg_.seed, step, layer, first + t, c);
  std::fill(local_counts_.begin(), local_counts_.end(), 0);
  for (int i = 0; i < T_ * K_; ++i) ++local_counts_[ids_[i]];
}

void MoeRunner::balance(int layer, LayerStats* st) {
  router_.balance(comm_, placement_[layer], ids_.data(), gate_w_.data(), local_counts_.data(), &route_, &info_);
  st->expected_load = info_.expected_load;
}

void MoeRunner::inject_dispatch_fault(int step, int layer) {
  if (layer != 0 || layout_.total_rows == 0) return;
  // The first send row; its first pair is the victim.
  int32_t* slots = reinterpret_cast<int32_t*>(meta_buf_.data());
  int victim = 0;
  while (victim < P_ && slots[victim] < 0) ++victim;
  if (victim == P_) return;
  const int S = cfg_.slots_per_rank + cfg_.shared_experts;
  if (find_fault(faults_, Fault::Kind::kDrop, rank_, step)) slots[victim] = -1;
  if (find_fault(faults_, Fault::Kind::kMisroute, rank_, step)) slots[victim] = (slots[victim] + 1) % S;
  if (find_fault(faults_, Fault::Kind::kDup, rank_, step)) {
    for (int p = 0; p < P_; ++p)
      if (slots[p] < 0) {
        slots[p] = slots[victim];
        reinterpret_cast<float*>(slots + P_)[p] = reinterpret_cast<float*>(slots + P_)[victim];
        break;
      }
  }
  if (find_fault(faults_, Fault::Kind::kCorrupt, rank_, step)) {
    // In transit only: the row is sent from a corrupted copy, x_ stays intact.
    std::memcpy(fault_row_.data(), row_segments_[0], sizeof(float) * H_);
    auto* bytes = reinterpret_cast<unsigned char*>(fault_row_.data());
    for (size_t b = 0; b < 16 && b < sizeof(float) * H_; ++b) bytes[b] ^= 0x5A;
    row_segments_[0] = fault_row_.data();
  }
}

void MoeRunner::layout(int step, int layer, LayerStats* st) {
  build_layout(route_.pair_dest_rank.data(), &layout_);
  pack_meta(layout_, route_.pair_dest_rank.data(), route_.pair_local_slot.data(), route_.pair_weight.data(),
            meta_buf_.data());
  const size_t mb = meta_bytes(P_);
  for (int32_t row = 0; row < layout_.total_rows; ++row) {
    row_segments_[2 * static_cast<size_t>(row)] = x_.data() + static_cast<size_t>(layout_.row_token[row]) * H_;
    row_segments_[2 * static_cast<size_t>(row) + 1] = meta_buf_.data() + mb * row;
  }
  if (!faults_.empty()) inject_dispatch_fault(step, layer);
  const int64_t rb = static_cast<int64_t>(row_bytes(H_, P_));
  for (int r = 0; r < R_; ++r) {
    send_rows_[r] = layout_.rank_rows[r];
    send_bytes_[r] = send_rows_[r] * rb;
    send_off_[r] = static_cast<int64_t>(layout_.rank_row_offset[r]) * rb;
    send_row_off_[r] = layout_.rank_row_offset[r];
    if (r != rank_) st->dispatch_bytes_remote += send_bytes_[r];
  }
}

void MoeRunner::dispatch(LayerStats*) {
  comm_.alltoall_int64(send_rows_.data(), recv_rows_.data());
  const int64_t rb = static_cast<int64_t>(row_bytes(H_, P_));
  int64_t off = 0;
  for (int r = 0; r < R_; ++r) {
    WIDEEP_ASSERT(recv_rows_[r] >= 0 && recv_rows_[r] <= T_,
                  "a peer announced more rows than it has tokens");
    recv_bytes_[r] = recv_rows_[r] * rb;
    recv_off_[r] = off * rb;
    off += recv_rows_[r];
  }
  recv_total_rows_ = off;
  RowGather rows;
  rows.segments_per_row = 2;
  rows.seg = row_segments_.data();
  rows.seg_bytes = segment_bytes_;
  comm_.alltoallv_rows(rows, send_rows_.data(), send_row_off_.data(), recv_buf_.data(), recv_bytes_.data(),
                       recv_off_.data());
}

void MoeRunner::expert(int layer, LayerStats* st) {
  const int rows = static_cast<int>(recv_total_rows_);
  group_rows_by_slot(recv_buf_.data(), rows, &batches_);
  for (int s = 0; s < batches_.num_slots; ++s) {
    w1_[s] = store_->w1(layer, s);
    w2_[s] = store_->w2(layer, s);
  }
  run_local_experts(&batches_, w1_, w2_);
  combine_partial(batches_, rows, expert_rows_.data());
  st->load_pairs = batches_.total_pairs;
}

void MoeRunner::combine(LayerStats* st) {
  const int64_t hb = static_cast<int64_t>(H_) * sizeof(float);
  for (int r = 0; r < R_; ++r) {
    back_send_bytes_[r] = recv_rows_[r] * hb;
    back_send_off_[r] = recv_off_[r] / static_cast<int64_t>(row_bytes(H_, P_)) * hb;
    back_recv_bytes_[r] = send_rows_[r] * hb;
    back_recv_off_[r] = static_cast<int64_t>(layout_.rank_row_offset[r]) * hb;
    if (r != rank_) st->combine_bytes_remote += back_send_bytes_[r];
    combine_blocks_[r] = returned_rows_.data() + static_cast<size_t>(layout_.rank_row_offset[r]) * H_;
  }
  // This rank's own rows are summed where its experts wrote them: no copy
  // through the exchange (the --baseline all-to-allv still moves them).
  const int64_t own_bytes = back_send_bytes_[rank_];
  back_send_bytes_[rank_] = back_recv_bytes_[rank_] = 0;
  comm_.alltoallv_bytes(expert_rows_.data(), back_send_bytes_.data(), back_send_off_.data(),
                        returned_rows_.data(), back_recv_bytes_.data(), back_recv_off_.data());
  back_send_bytes_[rank_] = back_recv_bytes_[rank_] = own_bytes;
  combine_blocks_[rank_] = expert_rows_.data() + back_send_off_[rank_] / static_cast<int64_t>(sizeof(float));
  combine_rows(layout_, combine_blocks_.data(), H_, out_.data());
}

void MoeRunner::baseline(LayerStats* st) {
  // The very same byte matrices (dispatch, then the combine's), after the real
  // exchange; the buffers receive identical bytes, so nothing is disturbed.
  // The dispatch's rows are packed first, outside the timing.
  pack_rows(layout_, x_.data(), H_, route_.pair_dest_rank.data(), route_.pair_local_slot.data(),
            route_.pair_weight.data(), send_buf_.data());
  comm_.barrier();
  const int64_t t0 = now_ns();
  comm_.raw_alltoallv_bytes(send_buf_.data(), send_bytes_.data(), send_off_.data(), recv_buf_.data(),
                            recv_bytes_.data(), recv_off_.data());
  comm_.raw_alltoallv_bytes(expert_rows_.data(), back_send_bytes_.data(), back_send_off_.data(),
                            returned_rows_.data(), back_recv_bytes_.data(), back_recv_off_.data());
  st->baseline_ns = now_ns() - t0;
}

void MoeRunner::run_layer(int step, int layer, LayerStats* st) {
  *st = LayerStats{};
  CommContext ctx{step, layer, "route"};
  auto timed = [&](int phase, auto&& fn) {
    ctx.phase = phase_name(phase);
    comm_.set_context(ctx);
    const int64_t t0 = now_ns();
    fn();
    st->phase_ns[phase] = now_ns() - t0;
  };
  if (layer == 0) {
    if (const Fault* f = find_fault(faults_, Fault::Kind::kSlow, rank_, step))
      std::this_thread::sleep_for(std::chrono::microseconds(f->slow_us));
  }
  timed(kRoute, [&] { route(step, layer); });
  timed(kBalance, [&] { balance(layer, st); });
  timed(kLayout, [&] { layout(step, layer, st); });
  auto wait = [&] {
    if (!cfg_.phase_barrier) return;
    const int64_t t0 = now_ns();
    comm_.barrier();
    st->wait_ns += now_ns() - t0;
  };
  wait();
  timed(kDispatch, [&] { dispatch(st); });
  timed(kExpert, [&] { expert(layer, st); });
  wait();
  timed(kCombine, [&] { combine(st); });
  if (cfg_.baseline) {
    ctx.phase = "baseline";
    comm_.set_context(ctx);
    baseline(st);
  }
}

}  // namespace wideep
