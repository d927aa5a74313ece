// The phases of one MoE layer step on one rank's GPU (DESIGN.md, "One step"),
// mirroring runtime/moe_runner.cc phase by phase. Host round trips per layer:
// the expert counts (route), the rows per destination (layout), the counts
// exchange (dispatch) and the pairs per local slot (expert); everything else
// stays on the device and on the communicator's one stream.
#include "runtime/device_runner.h"

#include <cstdlib>
#include <string>

#include "common/check.h"

#if defined(WIDEEP_HAVE_CUDA) && defined(WIDEEP_HAVE_NCCL)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "comm/device_communicator.h"
#include "common/clock.h"
#include "kernels/device_api.h"
#include "kernels/device_buffer.h"
#include "kernels/device_expert_store.h"
#include "kernels/expert_gemm.h"
#include "runtime/token_router.h"
#endif

namespace wideep {

DType device_dtype(const RunConfig& cfg) {
  if (cfg.dtype != "auto") return parse_dtype(cfg.dtype, "--dtype");
  const char* env = std::getenv("WIDEEP_DEVICE_DTYPE");
  if (env && *env) return parse_dtype(env, "WIDEEP_DEVICE_DTYPE");
  return cfg.check ? DType::kF32 : DType::kBF16;
}

#if defined(WIDEEP_HAVE_CUDA) && defined(WIDEEP_HAVE_NCCL)
namespace {

// Never a null pointer (a 0-byte buffer still names device memory for NCCL's checks).
size_t at_least(size_t bytes) { return bytes < 256 ? 256 : bytes; }

class DeviceMoeRunner final : public LayerRunner {
 public:
  DeviceMoeRunner(const RunConfig& cfg, DeviceCommunicator& comm, std::shared_ptr<const Workload> workload,
                  std::vector<Fault> faults, std::vector<Placement> initial, DType dtype);

  void run_layer(int step, int layer, LayerStats* st) override;

  const float* input() override;
  const float* output() override;
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
  void dispatch();
  void expert(int layer, LayerStats* st);
  void combine(LayerStats* st);
  void baseline(LayerStats* st);
  void inject_dispatch_fault(int step, int layer);
  void wait(const char* what) { dev::stream_wait(stream_, cfg_.timeout_s, what); }

  const RunConfig& cfg_;
  DeviceCommunicator& comm_;
  std::shared_ptr<const Workload> workload_;
  std::vector<Fault> faults_;
  int R_, rank_, T_, K_, P_, H_, E_, S_;
  DType dtype_;
  DevicePlan plan_;
  void* stream_;

  std::vector<Placement> placement_;
  std::unique_ptr<DeviceExpertStore> store_, spare_store_;
  TokenRouter router_;
  RouteArrays route_;
  BalanceInfo info_;
  std::unique_ptr<dev::ExpertGemm> gemm_;
  dev::EventTimer timer_;
  std::vector<const void*> w1_, w2_;

  // Host side.
  std::vector<int32_t> ids_;
  std::vector<float> gate_w_, x_host_, out_host_;
  std::vector<uint16_t> x_bf16_;
  bool x_valid_ = false, out_valid_ = false;
  std::vector<int64_t> local_counts_;
  std::vector<int64_t> send_rows_, recv_rows_, send_bytes_, send_off_, recv_bytes_, recv_off_;
  std::vector<int64_t> back_send_bytes_, back_send_off_, back_recv_bytes_, back_recv_off_;
  std::vector<int32_t> rank_row_offset_;
  std::vector<unsigned char> fault_row_;
  int64_t recv_total_rows_ = 0;
  dev::PinnedBuffer counts_pin_, layout_pin_, slots_pin_;

  // Device side (kernels/*.cu describe the layouts).
  dev::DeviceBuffer ids_d_, counts_d_, x_d_, out_d_, dest_d_, slot_d_, weight_d_;
  dev::DeviceBuffer rank_rows_d_, rank_off_d_, row_token_d_, row_rank_d_, token_row_d_;
  dev::DeviceBuffer send_d_, recv_d_, slot_count_d_, slot_off_d_, cursor_d_, error_d_;
  dev::DeviceBuffer pair_pos_d_, pair_row_d_, xg_d_, h_d_, y_d_, expert_rows_d_, returned_d_;
};

DeviceMoeRunner::DeviceMoeRunner(const RunConfig& cfg, DeviceCommunicator& comm,
                                 std::shared_ptr<const Workload> workload, std::vector<Fault> faults,
                                 std::vector<Placement> initial, DType dtype)
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
      dtype_(dtype),
      plan_(comm.size(), cfg.tokens, cfg.pairs_per_token(), cfg.hidden, cfg.ffn,
            cfg.slots_per_rank + cfg.shared_experts, cfg.experts, cfg.topk, dtype),
      stream_(comm.stream()),
      placement_(std::move(initial)),
      timer_(kNumPhases + 1) {
  dev::set_device(comm.device());
  const int S = cfg.slots_per_rank, shared = cfg.shared_experts;
  store_ = std::make_unique<DeviceExpertStore>(cfg.layers, S, shared, H_, cfg.ffn, cfg.seed, dtype_, stream_,
                                               cfg.timeout_s);
  store_->fill(placement_, rank_);
  // Staging of an EPLB exchange: fp32 only (GEMMs never read it).
  if (cfg.balancers.eplb)
    spare_store_ = std::make_unique<DeviceExpertStore>(cfg.layers, S, shared, H_, cfg.ffn, cfg.seed,
                                                       DType::kF32, stream_, cfg.timeout_s);
  router_.init(R_, rank_, T_, K_, shared, E_, cfg.balancers.lplb, cfg.balancers.waterfill,
               cfg.ranks_per_node());
  const size_t TP = static_cast<size_t>(T_) * P_, TK = static_cast<size_t>(T_) * K_;
  route_.pair_dest_rank.assign(TP, 0);
  route_.pair_local_slot.assign(TP, 0);
  route_.pair_weight.assign(TP, 0.0f);
  gemm_ = std::make_unique<dev::ExpertGemm>(S_, stream_);
  w1_.assign(S_, nullptr);
  w2_.assign(S_, nullptr);

  ids_.assign(TK, 0);
  gate_w_.assign(TK, 0.0f);
  x_host_.assign(static_cast<size_t>(T_) * H_, 0.0f);
  out_host_.assign(static_cast<size_t>(T_) * H_, 0.0f);
  if (dtype_ == DType::kBF16) x_bf16_.assign(static_cast<size_t>(T_) * H_, 0);
  local_counts_.assign(E_, 0);
  for (auto* v : {&send_rows_, &recv_rows_, &send_bytes_, &send_off_, &recv_bytes_, &recv_off_,
                  &back_send_bytes_, &back_send_off_, &back_recv_bytes_, &back_recv_off_})
    v->assign(R_, 0);
  rank_row_offset_.assign(R_ + 1, 0);
  fault_row_.assign(plan_.row.row_bytes, 0);
  counts_pin_.allocate(at_least(sizeof(int64_t) * E_));
  layout_pin_.allocate(at_least(sizeof(int32_t) * (2 * R_ + 1)));
  slots_pin_.allocate(at_least(sizeof(int32_t) * (S_ + 2)));

  const size_t i4 = sizeof(int32_t);
  ids_d_.allocate(at_least(i4 * TK));
  counts_d_.allocate(at_least(sizeof(int64_t) * E_));
  x_d_.allocate(at_least(plan_.x_bytes()));
  out_d_.allocate(at_least(plan_.out_bytes()));
  dest_d_.allocate(at_least(i4 * TP));
  slot_d_.allocate(at_least(i4 * TP));
  weight_d_.allocate(at_least(sizeof(float) * TP));
  rank_rows_d_.allocate(at_least(i4 * R_));
  rank_off_d_.allocate(at_least(i4 * (R_ + 1)));
  row_token_d_.allocate(at_least(i4 * plan_.max_send_rows));
  row_rank_d_.allocate(at_least(i4 * plan_.max_send_rows));
  token_row_d_.allocate(at_least(i4 * static_cast<size_t>(T_) * R_));
  send_d_.allocate(at_least(plan_.send_bytes()));
  recv_d_.allocate(at_least(plan_.recv_bytes()));
  slot_count_d_.allocate(at_least(i4 * S_));
  slot_off_d_.allocate(at_least(i4 * (S_ + 1)));
  cursor_d_.allocate(at_least(i4 * S_));
  error_d_.allocate(at_least(i4));
  pair_pos_d_.allocate(at_least(i4 * static_cast<size_t>(plan_.max_recv_rows) * P_));
  pair_row_d_.allocate(at_least(i4 * plan_.max_pairs));
  xg_d_.allocate(at_least(plan_.grouped_x_bytes()));
  h_d_.allocate(at_least(plan_.grouped_h_bytes()));
  y_d_.allocate(at_least(plan_.grouped_y_bytes()));
  expert_rows_d_.allocate(at_least(plan_.expert_rows_bytes()));
  returned_d_.allocate(at_least(plan_.returned_rows_bytes()));
}

void DeviceMoeRunner::route(int step, int layer) {
  const int64_t first = static_cast<int64_t>(rank_) * T_;
  workload_->route(step, layer, first, T_, ids_.data(), gate_w_.data());
  dev::copy_async(ids_d_.get(), ids_.data(), sizeof(int32_t) * ids_.size(), stream_);
  dev::launch_token_activations(x_d_.get(), T_, H_, dtype_, cfg_.seed, step, layer, first, stream_);
  dev::launch_expert_histogram(ids_d_.as<int32_t>(), T_, K_, E_, counts_d_.as<int64_t>(), stream_);
  dev::copy_async(counts_pin_.get(), counts_d_.get(), sizeof(int64_t) * E_, stream_);
  wait("route (expert counts)");
  std::memcpy(local_counts_.data(), counts_pin_.get(), sizeof(int64_t) * E_);
  x_valid_ = out_valid_ = false;
}

void DeviceMoeRunner::balance(int layer, LayerStats* st) {
  router_.balance(comm_, placement_[layer], ids_.data(), gate_w_.data(), local_counts_.data(), &route_, &info_);
  st->expected_load = info_.expected_load;
  const size_t TP = route_.pair_dest_rank.size();
  dev::copy_async(dest_d_.get(), route_.pair_dest_rank.data(), sizeof(int32_t) * TP, stream_);
  dev::copy_async(slot_d_.get(), route_.pair_local_slot.data(), sizeof(int32_t) * TP, stream_);
  dev::copy_async(weight_d_.get(), route_.pair_weight.data(), sizeof(float) * TP, stream_);
}

void DeviceMoeRunner::inject_dispatch_fault(int step, int layer) {
  if (layer != 0 || rank_row_offset_[R_] == 0) return;
  // The first send row; its first pair is the victim (as MoeRunner does).
  unsigned char* row = fault_row_.data();
  dev::copy_async(row, send_d_.get(), fault_row_.size(), stream_);
  wait("layout (fault injection)");
  int32_t* slots = reinterpret_cast<int32_t*>(row + plan_.row.slot_offset);
  float* weights = reinterpret_cast<float*>(row + plan_.row.weight_offset);
  int victim = 0;
  while (victim < P_ && slots[victim] < 0) ++victim;
  if (victim == P_) return;
  if (find_fault(faults_, Fault::Kind::kDrop, rank_, step)) slots[victim] = -1;
  if (find_fault(faults_, Fault::Kind::kMisroute, rank_, step)) slots[victim] = (slots[victim] + 1) % S_;
  if (find_fault(faults_, Fault::Kind::kDup, rank_, step)) {
    for (int p = 0; p < P_; ++p)
      if (slots[p] < 0) {
        slots[p] = slots[victim];
        weights[p] = weights[victim];
        break;
      }
  }
  if (find_fault(faults_, Fault::Kind::kCorrupt, rank_, step)) {
    const size_t n = std::min<size_t>(16, static_cast<size_t>(H_) * dtype_bytes(dtype_));
    for (size_t b = 0; b < n; ++b) row[b] ^= 0x5A;
  }
  dev::copy_async(send_d_.get(), row, fault_row_.size(), stream_);
  wait("layout (fault injection)");
}

void DeviceMoeRunner::layout(int step, int layer, LayerStats* st) {
  dev::launch_dispatch_layout(dest_d_.as<int32_t>(), T_, P_, R_, rank_rows_d_.as<int32_t>(),
                              rank_off_d_.as<int32_t>(), row_token_d_.as<int32_t>(),
                              row_rank_d_.as<int32_t>(), token_row_d_.as<int32_t>(), stream_);
  dev::launch_pack_rows(x_d_.get(), H_, P_, R_, dtype_, rank_off_d_.as<int32_t>(), row_token_d_.as<int32_t>(),
                        row_rank_d_.as<int32_t>(), static_cast<int>(plan_.max_send_rows),
                        dest_d_.as<int32_t>(), slot_d_.as<int32_t>(), weight_d_.as<float>(), send_d_.get(),
                        stream_);
  dev::copy_async(layout_pin_.get(), rank_off_d_.get(), sizeof(int32_t) * (R_ + 1), stream_);
  wait("layout");
  std::memcpy(rank_row_offset_.data(), layout_pin_.get(), sizeof(int32_t) * (R_ + 1));
  if (!faults_.empty()) inject_dispatch_fault(step, layer);
  const int64_t rb = static_cast<int64_t>(plan_.row.row_bytes);
  for (int r = 0; r < R_; ++r) {
    send_rows_[r] = rank_row_offset_[r + 1] - rank_row_offset_[r];
    send_bytes_[r] = send_rows_[r] * rb;
    send_off_[r] = static_cast<int64_t>(rank_row_offset_[r]) * rb;
    if (r != rank_) st->dispatch_bytes_remote += send_bytes_[r];
  }
}

void DeviceMoeRunner::dispatch() {
  comm_.alltoall_int64(send_rows_.data(), recv_rows_.data());
  const int64_t rb = static_cast<int64_t>(plan_.row.row_bytes);
  int64_t off = 0;
  for (int r = 0; r < R_; ++r) {
    WIDEEP_ASSERT(recv_rows_[r] >= 0 && recv_rows_[r] <= T_, "a peer announced more rows than it has tokens");
    recv_bytes_[r] = recv_rows_[r] * rb;
    recv_off_[r] = off * rb;
    off += recv_rows_[r];
  }
  recv_total_rows_ = off;
  comm_.alltoallv_bytes(send_d_.get(), send_bytes_.data(), send_off_.data(), recv_d_.get(), recv_bytes_.data(),
                        recv_off_.data());
}

void DeviceMoeRunner::expert(int layer, LayerStats* st) {
  const int rows = static_cast<int>(recv_total_rows_);
  dev::launch_count_slots(recv_d_.get(), rows, H_, P_, dtype_, S_, slot_count_d_.as<int32_t>(),
                          slot_off_d_.as<int32_t>(), error_d_.as<int32_t>(), stream_);
  dev::launch_group_by_slot(recv_d_.get(), rows, H_, P_, dtype_, S_, slot_off_d_.as<int32_t>(),
                            cursor_d_.as<int32_t>(), pair_pos_d_.as<int32_t>(), pair_row_d_.as<int32_t>(),
                            xg_d_.get(), stream_);
  int32_t* slot_off = slots_pin_.as<int32_t>();
  dev::copy_async(slot_off, slot_off_d_.get(), sizeof(int32_t) * (S_ + 1), stream_);
  dev::copy_async(slot_off + S_ + 1, error_d_.get(), sizeof(int32_t), stream_);
  wait("expert (pairs per slot)");
  if (const int32_t bad = slot_off[S_ + 1])
    fail_call(ErrorCategory::kRemote, "dispatch", bad - 1,
              "received row " + std::to_string(bad - 1) + " names a local slot outside [0, " +
                  std::to_string(S_) + ")",
              "launch_count_slots", __FILE__, __LINE__);
  for (int s = 0; s < S_; ++s) {
    w1_[s] = store_->w1(layer, s);
    w2_[s] = store_->w2(layer, s);
  }
  gemm_->run(slot_off, S_, H_, cfg_.ffn, dtype_, w1_.data(), w2_.data(), xg_d_.get(), h_d_.get(), y_d_.get());
  dev::launch_combine_partial(recv_d_.get(), rows, H_, P_, dtype_, pair_pos_d_.as<int32_t>(), y_d_.get(),
                              expert_rows_d_.get(), stream_);
  st->load_pairs = slot_off[S_];
}

void DeviceMoeRunner::combine(LayerStats* st) {
  const int64_t hb = static_cast<int64_t>(plan_.return_row);
  const int64_t rb = static_cast<int64_t>(plan_.row.row_bytes);
  for (int r = 0; r < R_; ++r) {
    back_send_bytes_[r] = recv_rows_[r] * hb;
    back_send_off_[r] = recv_off_[r] / rb * hb;
    back_recv_bytes_[r] = send_rows_[r] * hb;
    back_recv_off_[r] = static_cast<int64_t>(rank_row_offset_[r]) * hb;
    if (r != rank_) st->combine_bytes_remote += back_send_bytes_[r];
  }
  comm_.alltoallv_bytes(expert_rows_d_.get(), back_send_bytes_.data(), back_send_off_.data(), returned_d_.get(),
                        back_recv_bytes_.data(), back_recv_off_.data());
  dev::launch_combine_rows(returned_d_.get(), T_, H_, R_, dtype_, token_row_d_.as<int32_t>(), out_d_.as<float>(),
                           stream_);
}

void DeviceMoeRunner::baseline(LayerStats* st) {
  // The same two byte matrices after the real exchange: the buffers receive
  // identical bytes, so nothing is disturbed. Each call waits for its transfer.
  comm_.barrier();
  const int64_t t0 = now_ns();
  comm_.raw_alltoallv_bytes(send_d_.get(), send_bytes_.data(), send_off_.data(), recv_d_.get(),
                            recv_bytes_.data(), recv_off_.data());
  comm_.raw_alltoallv_bytes(expert_rows_d_.get(), back_send_bytes_.data(), back_send_off_.data(),
                            returned_d_.get(), back_recv_bytes_.data(), back_recv_off_.data());
  st->baseline_ns = now_ns() - t0;
}

const float* DeviceMoeRunner::input() {
  if (!x_valid_) {
    const size_t n = x_host_.size();
    if (dtype_ == DType::kF32) {
      dev::copy_async(x_host_.data(), x_d_.get(), sizeof(float) * n, stream_);
      wait("input copy-back");
    } else {
      dev::copy_async(x_bf16_.data(), x_d_.get(), sizeof(uint16_t) * n, stream_);
      wait("input copy-back");
      for (size_t i = 0; i < n; ++i) x_host_[i] = bf16_to_float(x_bf16_[i]);
    }
    x_valid_ = true;
  }
  return x_host_.data();
}

const float* DeviceMoeRunner::output() {
  if (!out_valid_) {
    dev::copy_async(out_host_.data(), out_d_.get(), sizeof(float) * out_host_.size(), stream_);
    wait("output copy-back");
    out_valid_ = true;
  }
  return out_host_.data();
}

void DeviceMoeRunner::run_layer(int step, int layer, LayerStats* st) {
  *st = LayerStats{};
  CommContext ctx{step, layer, "route"};
  auto timed = [&](int phase, auto&& fn) {
    ctx.phase = phase_name(phase);
    comm_.set_context(ctx);
    dev::NvtxRange range(phase_name(phase));
    timer_.record(phase, stream_);
    fn();
  };
  if (layer == 0) {
    if (const Fault* f = find_fault(faults_, Fault::Kind::kSlow, rank_, step))
      std::this_thread::sleep_for(std::chrono::microseconds(f->slow_us));
  }
  timed(kRoute, [&] { route(step, layer); });
  timed(kBalance, [&] { balance(layer, st); });
  timed(kLayout, [&] { layout(step, layer, st); });
  // --phase-barrier (as MoeRunner): the wait for the slowest rank is kept out
  // of the phases; the barrier waits for the stream, so the events between a
  // phase's end and the next phase's start hold it, and it is subtracted.
  int64_t waited_ns[kNumPhases] = {};
  auto barrier_before = [&](int phase) {
    if (!cfg_.phase_barrier) return;
    dev::NvtxRange range("phase barrier");
    const int64_t t0 = now_ns();
    comm_.barrier();
    waited_ns[phase - 1] = now_ns() - t0;
    st->wait_ns += waited_ns[phase - 1];
  };
  barrier_before(kDispatch);
  timed(kDispatch, [&] { dispatch(); });
  timed(kExpert, [&] { expert(layer, st); });
  barrier_before(kCombine);
  timed(kCombine, [&] { combine(st); });
  timer_.record(kNumPhases, stream_);
  timer_.wait(kNumPhases, cfg_.timeout_s, "combine");
  for (int p = 0; p < kNumPhases; ++p)
    st->phase_ns[p] = std::max<int64_t>(0, timer_.elapsed_ns(p, p + 1) - waited_ns[p]);
  if (cfg_.baseline) {
    ctx.phase = "baseline";
    comm_.set_context(ctx);
    dev::NvtxRange range("baseline");
    baseline(st);
  }
}

}  // namespace

std::unique_ptr<LayerRunner> make_device_runner(const RunConfig& cfg, Communicator& comm,
                                                std::shared_ptr<const Workload> workload,
                                                std::vector<Fault> faults, std::vector<Placement> initial) {
  auto* dc = dynamic_cast<DeviceCommunicator*>(&comm);
  if (!dc)
    throw Error(ErrorCategory::kInternal,
                std::string("the device runner needs the NCCL communicator, got ") + comm.backend_name());
  const DType dtype = device_dtype(cfg);
  if (cfg.check && dtype != DType::kF32 && comm.rank() == 0)
    std::fprintf(stderr, "wideep run: warning: --check with %s activations: the 1e-4 limit is meant for fp32\n",
                 dtype_name(dtype));
  return std::make_unique<DeviceMoeRunner>(cfg, *dc, std::move(workload), std::move(faults), std::move(initial),
                                           dtype);
}

#else  // no CUDA or no NCCL in this build

std::unique_ptr<LayerRunner> make_device_runner(const RunConfig&, Communicator&, std::shared_ptr<const Workload>,
                                                std::vector<Fault>, std::vector<Placement>) {
  throw UsageError("--backend nccl: this build has no CUDA/NCCL device path (configure with WIDEEP_CUDA=ON)");
}

#endif

}  // namespace wideep
