// Window of counts, identical re-planning on every rank, weight exchange and
// checksum verification of the EPLB manager.
#include "runtime/eplb/eplb_manager.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "runtime/eplb/eplb_planner.h"
#include "balance/move_plan.h"
#include "common/check.h"
#include "common/clock.h"

namespace wideep {
namespace {
// Background bytes per rank and step boundary (one wave): a step then carries
// at most one wave's copies and checksums (~tens of ms on a CPU, well under a
// millisecond over NVLink), however large the re-plan.
constexpr int64_t kAsyncWaveBytesPerRank = 32ll << 20;
}  // namespace

EplbManager::EplbManager(const RunConfig& cfg, Communicator& comm, LayerRunner& runner,
                         const std::vector<Fault>& faults, const Topology* topology)
    : cfg_(cfg), comm_(comm), runner_(runner), faults_(faults), topology_(topology),
      L_(cfg.layers), E_(cfg.experts), next_layer_(cfg.layers), baseline_send_(comm), baseline_recv_(comm) {
  window_.assign(static_cast<size_t>(cfg.eplb_window) * L_ * E_, 0);
  expected_.assign(static_cast<size_t>(L_) * E_, 0);
  for (int l = 0; l < L_; ++l)
    for (int e = 0; e < E_; ++e)
      expected_[static_cast<size_t>(l) * E_ + e] =
          ExpertStore::expected_checksum(cfg.seed, l, e, cfg.hidden, cfg.ffn);
}

void EplbManager::record(int step, int layer, const std::vector<int64_t>& local_counts) {
  int64_t* row = &window_[(static_cast<size_t>(step % cfg_.eplb_window) * L_ + layer) * E_];
  std::memcpy(row, local_counts.data(), sizeof(int64_t) * E_);
}

EplbManager::Moves EplbManager::post_moves(const std::vector<Placement>& old_p,
                                           const std::vector<Placement>& new_p, bool stage_all) {
  const int me = comm_.rank();
  Moves mv;
  mv.plan = plan_weight_moves(old_p, new_p, cfg_.ranks_per_node());
  ExpertStore& store = runner_.store();
  const int64_t slot_bytes = static_cast<int64_t>(store.slot_bytes());
  const int S = cfg_.slots_per_rank;  // plan slots are global; stores index local slots
  // A slot whose old content this rank still sends or copies is a source: its
  // new content is staged and copied in after the exchange. Every other new
  // slot is received or copied into place directly (no extra copy), unless
  // everything is staged (asynchronous moves: the old slots serve meanwhile).
  mv.is_source.assign(static_cast<size_t>(cfg_.layers) * S, stage_all ? 1 : 0);
  for (const WeightMove& m : mv.plan.transfers)
    if (m.src_rank == me) mv.is_source[m.layer * S + m.src_slot % S] = 1;
  for (const WeightMove& m : mv.plan.local_copies)
    if (m.src_rank == me) mv.is_source[m.layer * S + m.src_slot % S] = 1;
  // Transfers per wave, from the average rank's budget (every rank computes the same).
  const int64_t per_wave =
      std::max<int64_t>(1, kAsyncWaveBytesPerRank * comm_.size() / std::max<int64_t>(1, slot_bytes));
  mv.waves = static_cast<int>((static_cast<int64_t>(mv.plan.transfers.size()) + per_wave - 1) / per_wave);
  for (size_t i = 0; i < mv.plan.transfers.size(); ++i) {
    const WeightMove& m = mv.plan.transfers[i];
    const int tag = static_cast<int>(i % 30000);
    const int wave = static_cast<int>(static_cast<int64_t>(i) / per_wave);
    if (m.src_rank == me) {
      mv.sends.push_back({m.dst_rank, const_cast<void*>(store.slot_read(m.layer, m.src_slot % S)), slot_bytes, tag});
      mv.send_wave.push_back(wave);
    }
    if (m.dst_rank == me) {
      const int slot = m.dst_slot % S;
      mv.recvs.push_back({m.src_rank, target(mv, m.layer, slot).slot_write(m.layer, slot), slot_bytes, tag});
      mv.recv_wave.push_back(wave);
      mv.recv_slot.emplace_back(m.layer, slot);
      if (mv.is_source[m.layer * S + slot]) mv.staged.emplace_back(m.layer, slot);
    }
  }
  return mv;
}

ExpertStore& EplbManager::target(const Moves& mv, int layer, int slot) {
  return mv.is_source[layer * cfg_.slots_per_rank + slot] ? runner_.spare_store() : runner_.store();
}

void EplbManager::finish_moves(Moves& mv) {
  const int me = comm_.rank();
  const int S = cfg_.slots_per_rank;
  ExpertStore& store = runner_.store();
  for (const WeightMove& m : mv.plan.local_copies) {
    if (m.dst_rank != me) continue;
    const int slot = m.dst_slot % S;
    target(mv, m.layer, slot).copy_slot(m.layer, slot, store, m.src_slot % S);
    if (mv.is_source[m.layer * S + slot]) mv.staged.emplace_back(m.layer, slot);
  }
  for (const auto& ls : mv.staged) store.swap_slot(ls.first, ls.second, runner_.spare_store());
  const Fault* cw = mv.recvs.empty() ? nullptr : find_fault(faults_, Fault::Kind::kCorruptWeights, me, -1);
  if (cw) {
    const WeightMove* first = nullptr;
    for (const WeightMove& m : mv.plan.transfers)
      if (m.dst_rank == me) { first = &m; break; }
    store.flip_byte(first->layer, first->dst_slot % S, corrupt_weights_byte(*cw, store.slot_bytes()));
  }
}

void EplbManager::account(const Moves& mv, RebalanceRecord* rec) {
  int64_t sent = 0;
  for (const P2PTransfer& t : mv.sends) sent += t.bytes;
  comm_.allreduce_sum_int64(&sent, 1);
  rec->sent_bytes += sent;
  rec->transfers += static_cast<int64_t>(mv.plan.transfers.size());
  rec->naive_transfers += mv.plan.naive_transfers;
  rec->local_copies += static_cast<int64_t>(mv.plan.local_copies.size());
  rec->bytes += static_cast<int64_t>(mv.plan.transfers.size()) * static_cast<int64_t>(runner_.store().slot_bytes());
}

void EplbManager::move_weights(const std::vector<Placement>& old_p, const std::vector<Placement>& new_p,
                               RebalanceRecord* rec) {
  Moves mv = post_moves(old_p, new_p, false);
  comm_.barrier();  // time the exchange, not the wait for the slowest rank
  const double t0 = now_us();
  comm_.exchange(mv.sends, mv.recvs);
  finish_moves(mv);
  comm_.barrier();
  rec->transfer_us += now_us() - t0;
  account(mv, rec);
  if (cfg_.baseline) rec->baseline_us += raw_exchange_us(mv.sends, mv.recvs);
}

// The library's all-to-allv of the very same per-peer byte matrix as the
// exchange, from scratch buffers: the reference bandwidth of --baseline.
double EplbManager::raw_exchange_us(const std::vector<P2PTransfer>& sends,
                                    const std::vector<P2PTransfer>& recvs) {
  const int R = comm_.size();
  std::vector<int64_t> sb(R, 0), so(R, 0), rb(R, 0), ro(R, 0);
  for (const P2PTransfer& t : sends) sb[t.peer] += t.bytes;
  for (const P2PTransfer& t : recvs) rb[t.peer] += t.bytes;
  for (int p = 1; p < R; ++p) {
    so[p] = so[p - 1] + sb[p - 1];
    ro[p] = ro[p - 1] + rb[p - 1];
  }
  // Buffers of the backend's own kind (device memory under NCCL), so that the
  // reference moves what the exchange moves: no host staging in its time.
  // Their contents do not matter; they are not read. Kept from one re-plan to
  // the next (grown where one moves more): no allocation per re-plan.
  void* send = baseline_send_.reserve(so[R - 1] + sb[R - 1]);
  void* recv = baseline_recv_.reserve(ro[R - 1] + rb[R - 1]);
  comm_.barrier();
  const double t0 = now_us();
  comm_.raw_alltoallv_bytes(send, sb.data(), so.data(), recv, rb.data(), ro.data());
  comm_.barrier();
  return now_us() - t0;
}

void EplbManager::verify(const std::vector<Placement>& old_p, const std::vector<Placement>& p, int first_layer,
                         int end_layer) {
  const int me = comm_.rank();
  ExpertStore& store = runner_.store();
  for (int l = first_layer; l < end_layer; ++l) {
    for (int s = 0; s < p[l].slots_per_rank; ++s) {
      const int slot = me * p[l].slots_per_rank + s;
      const int e = p[l].phy2log[slot];
      if (old_p[l].phy2log[slot] == e) continue;  // kept its expert: nothing arrived there
      if (store.checksum(l, s) != expected_[static_cast<size_t>(l) * E_ + e])
        throw Error(ErrorCategory::kCheckFailed,
                    "rank " + std::to_string(me) + ": after the weight exchange, layer " +
                        std::to_string(l) + " slot " + std::to_string(s) + " (global slot " +
                        std::to_string(me * p[l].slots_per_rank + s) + ") does not hold expert " +
                        std::to_string(e) + ": checksum mismatch");
    }
  }
}

void EplbManager::move_chunk(int step) {
  // The next chunk's layers switch to the new placement; the others keep theirs.
  std::vector<Placement>& current = runner_.placements();
  std::vector<Placement> staged = current;
  const int end = std::min(L_, next_layer_ + chunk_layers());
  for (int l = next_layer_; l < end; ++l) staged[l] = pending_[l];
  move_weights(current, staged, &rec_);
  verify(current, staged, next_layer_, end);
  current = std::move(staged);
  next_layer_ = end;
  rec_.steps_to_complete = step - rec_.step + 1;
}

void EplbManager::start_async_chunk() {
  const std::vector<Placement>& current = runner_.placements();
  staged_ = current;
  async_end_ = std::min(L_, next_layer_ + chunk_layers());
  for (int l = next_layer_; l < async_end_; ++l) staged_[l] = pending_[l];
  async_ = post_moves(current, staged_, /*stage_all=*/true);
  // Local copies now, into staging (their sources serve unchanged until the
  // switch), checksummed at once.
  const int me = comm_.rank(), S = cfg_.slots_per_rank;
  for (const WeightMove& m : async_.plan.local_copies) {
    if (m.dst_rank != me) continue;
    const int slot = m.dst_slot % S;
    runner_.spare_store().copy_slot(m.layer, slot, runner_.store(), m.src_slot % S);
    async_.staged.emplace_back(m.layer, slot);
    verify_staged(m.layer, slot);
  }
  post_wave(async_);
}

void EplbManager::post_wave(Moves& mv) {
  ++mv.wave;
  mv.wave_checked = false;
  std::vector<P2PTransfer> sends, recvs;
  for (size_t i = 0; i < mv.sends.size(); ++i)
    if (mv.send_wave[i] == mv.wave) sends.push_back(mv.sends[i]);
  for (size_t i = 0; i < mv.recvs.size(); ++i)
    if (mv.recv_wave[i] == mv.wave) recvs.push_back(mv.recvs[i]);
  if (const Fault* h = find_fault(faults_, Fault::Kind::kHoldWave, comm_.rank(), -1)) {
    mv.held = true;
    mv.held_until = boundary_ + h->hold_steps;
    mv.held_sends = std::move(sends);
    mv.held_recvs = std::move(recvs);
    return;
  }
  comm_.start_background(sends, recvs);
}

// At the end of a boundary, after its verdict, so that a wave posted at
// boundary B and held N cannot be seen arrived before boundary B + N + 1:
// deterministic lateness for the tests.
void EplbManager::release_held(Moves& mv, bool now) {
  if (!mv.held || (!now && boundary_ < mv.held_until)) return;
  mv.held = false;
  comm_.start_background(mv.held_sends, mv.held_recvs);
}

void EplbManager::verify_staged(int layer, int slot) {
  const int me = comm_.rank(), S = cfg_.slots_per_rank;
  const int e = staged_[layer].phy2log[me * S + slot];
  if (runner_.spare_store().checksum(layer, slot) != expected_[static_cast<size_t>(layer) * E_ + e])
    throw Error(ErrorCategory::kCheckFailed,
                "rank " + std::to_string(me) + ": in the background weight exchange, layer " + std::to_string(layer) +
                    " slot " + std::to_string(slot) + " (global slot " + std::to_string(me * S + slot) +
                    ") does not hold expert " + std::to_string(e) + ": checksum mismatch");
}

bool EplbManager::async_step(int step) {
  // This rank's wave in flight: once arrived, its slots are checksummed and
  // the next wave posted (one per step boundary, so no step carries them all).
  Moves& mv = async_;
  if (!mv.wave_checked && !mv.held && comm_.test_background()) {
    const Fault* cw = find_fault(faults_, Fault::Kind::kCorruptWeights, comm_.rank(), -1);
    for (size_t i = 0; i < mv.recvs.size(); ++i) {
      if (mv.recv_wave[i] != mv.wave) continue;
      const auto& ls = mv.recv_slot[i];
      if (cw && i == 0)
        runner_.spare_store().flip_byte(ls.first, ls.second, corrupt_weights_byte(*cw, runner_.store().slot_bytes()));
      verify_staged(ls.first, ls.second);
    }
    mv.wave_checked = true;
    if (mv.wave + 1 < mv.waves) post_wave(mv);
  }
  // Every rank's part of the chunk must have arrived: the layers switch together.
  int64_t missing = mv.wave_checked && mv.wave + 1 >= mv.waves ? 0 : 1;
  comm_.allreduce_sum_int64(&missing, 1);
  release_held(mv, false);
  if (missing > 0) return false;
  const double t0 = now_us();
  ExpertStore& store = runner_.store();
  for (const auto& ls : mv.staged) store.swap_slot(ls.first, ls.second, runner_.spare_store());
  runner_.placements() = staged_;
  next_layer_ = async_end_;
  rec_.transfer_us += now_us() - t0;  // the switch; the transfers themselves overlapped steps
  account(async_, &rec_);
  rec_.steps_to_complete = step - rec_.step + 1;
  if (next_layer_ < L_) start_async_chunk();
  return next_layer_ == L_;
}

// Peers may be a wave ahead: their next wave's sends to this rank wait for
// its receives, so the waves left are posted and completed here too.
void EplbManager::drain() {
  for (;;) {
    release_held(async_, true);
    while (!comm_.test_background()) std::this_thread::yield();
    if (!cfg_.eplb_async || next_layer_ >= L_ || async_.wave + 1 >= async_.waves) return;
    post_wave(async_);
  }
}

bool EplbManager::maybe_rebalance(int step, RebalanceRecord* rec) {
  comm_.set_context({step, -1, "rebalance"});
  boundary_ = step;
  if (next_layer_ < L_) {  // a re-plan in progress: its next layers, at this step boundary
    if (cfg_.eplb_async ? !async_step(step) : (move_chunk(step), next_layer_ < L_)) return false;
    *rec = rec_;
    return true;
  }
  if ((step + 1) % cfg_.eplb_interval != 0) return false;
  rec_ = start_rebalance_record(cfg_, step);
  const double t0 = now_us();
  std::vector<int64_t> sum(static_cast<size_t>(L_) * E_);
  sum_window(window_, step, cfg_.eplb_window, &sum);
  comm_.allreduce_sum_int64(sum.data(), static_cast<int64_t>(sum.size()));
  std::vector<double> loads(sum.begin(), sum.end());
  const std::vector<Placement>& current = runner_.placements();
  bool skip = false;
  pending_ = replan(cfg_, loads, topology_, current, &rec_, &skip);
  const double t1 = now_us();
  for (int l = 0; l < L_; ++l)  // the automatic LPLB's forecast on what will serve
    runner_.expect_lplb(l, skip ? current[l] : pending_[l], &loads[static_cast<size_t>(l) * E_], &rec_);
  rec_.lplb_forecast_us = now_us() - t1;
  rec_.plan_us = now_us() - t0;
  // Every rank computes the same prediction from the same window: all skip alike.
  if (skip) {
    rec_.skipped = true;
    rec_.steps_to_complete = 0;
    *rec = rec_;
    return true;
  }
  next_layer_ = 0;
  if (cfg_.eplb_async) {  // posted now; checked and switched at the next step boundaries
    start_async_chunk();
    return false;
  }
  move_chunk(step);
  if (next_layer_ < L_) return false;
  *rec = rec_;
  return true;
}

}  // namespace wideep
