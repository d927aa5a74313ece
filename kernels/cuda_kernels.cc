// The CUDA kernel backend (kernels/kernel_backend.h): the step's buffers in
// device memory and every phase launched on the communicator's one stream, so
// that kernels and NCCL calls are ordered without events. Host round trips
// per layer: the layout's offsets, the pairs per slot, the phase clock; host
// arrays go up through pinned staging. Activations and grouped buffers are in
// the compute dtype; where the dispatch dtype differs, the tokens' wire form
// (fp8: quantized with per-128-channel scales) is made once per layer at
// route, and the rows are packed from it.
#include "kernels/cuda_kernels.h"

#include "common/check.h"

#ifdef WIDEEP_HAVE_CUDA
#include <algorithm>
#include <cstring>

#include "kernels/device_api.h"
#include "kernels/device_buffer.h"
#include "kernels/device_expert_store.h"
#include "kernels/exchange_order.h"
#include "kernels/expert_gemm.h"
#endif

namespace wideep {

#ifdef WIDEEP_HAVE_CUDA
namespace {

class CudaKernels final : public KernelBackend {
 public:
  // own_stream: kernels on a stream of their own, ordered with the
  // communicator's `stream` by before/after_exchange (two-batch overlap).
  // kernel_stream (a hierarchical forwarder): run on this borrowed stream
  // (its stage-1 backend's) instead.
  CudaKernels(const KernelShape& s, void* stream, bool own_stream, void* kernel_stream = nullptr);
  void* kernel_stream() const { return stream_; }
  void* comm_stream() const { return comm_stream_; }

  const char* name() const override { return "cuda"; }
  bool device_memory() const override { return true; }
  int64_t reserve_receive(int64_t rows, int64_t pairs) override;
  int64_t recv_rows_capacity() const override { return recv_capacity_; }
  int64_t pairs_capacity() const override { return pairs_capacity_; }
  void allocated_bytes(int64_t* host, int64_t* device) const override;

  void activations(int step, int layer, int64_t first_token) override;
  void layout(const int32_t* pair_dest, const int32_t* pair_slot, const float* pair_weight,
              int32_t* rank_row_offset) override;
  SendRowsView send_rows() override {
    SendRowsView v;
    v.packed = send_.get();
    return v;
  }
  const void* packed_send_rows() override { return send_.get(); }
  void read_send_row(int32_t row, unsigned char* out) override;
  void write_send_row(int32_t row, const unsigned char* in) override;
  void* recv_rows() override { return recv_.get(); }

  void count_slots(int rows, int32_t* slot_pairs, int32_t* bad_row) override;
  void group_by_slot(int rows, const int32_t* slot_offset) override;
  void* grouped_x() override { return xg_.get(); }
  void* grouped_h() override { return hg_.get(); }
  void* grouped_y() override { return yg_.get(); }
  size_t grouped_elem_bytes() const override { return dtype_bytes(shape_.dtype); }
  void run_ffn(const FfnProblems& problems) override;
  void partial_combine(int rows) override;
  void* expert_rows() override { return expert_rows_.get(); }
  void* returned_rows() override { return returned_.get(); }
  void final_combine(int32_t own_first, int32_t own_end, int64_t own_expert_row,
                     const void* const* rows_in_place) override;

  void forward_tokens(const void* rows, size_t stride, int count) override;
  void read_received_meta(int rows, int32_t* slots, float* weights) override;
  const float* output_rows() override { return out_.as<float>(); }
  void set_expert_rows(const float* src, int rows) override;
  void compact_received(const int64_t* from_row, const int64_t* rows, const int64_t* to_row, int n) override;

  const float* input_host() override;
  const float* output_host() override;

  void before_exchange() override { order_.before_exchange(); }
  void exchange_started() override { order_.exchange_started(); }
  void after_exchange() override { order_.after_exchange(); }
  void mark(int boundary) override { timer_.record(boundary, stream_); }
  void finish(const char* what) override { dev::stream_wait(stream_, shape_.timeout_s, what); }
  int64_t elapsed_ns(int from, int to) override { return timer_.elapsed_ns(from, to); }

 private:
  void wait(const char* what) { dev::stream_wait(stream_, shape_.timeout_s, what); }

  // The two streams' order through two reusable events (kernels/exchange_order.h).
  struct EventStreams final : ExchangeStreams {
    void* kernels = nullptr;
    void* comm = nullptr;
    dev::StreamOrder before, after;
    void comm_waits_for_kernels() override { before.after(comm, kernels); }
    void mark_comm() override { after.record(comm); }
    void kernels_wait_for_mark() override { after.wait(kernels); }
  };

  dev::StreamHandle own_;  // borrowed (the communicator's) unless own_stream
  void* stream_;
  void* comm_stream_;
  EventStreams streams_;
  ExchangeOrder order_;  // over streams_ where the kernels have a stream of their own
  // token_bytes_: a send row's bytes taken from its token (x_value_bytes_, or
  // the token part wire_.slot_offset where the dispatch dtype is converted).
  size_t x_value_bytes_ = 0, token_bytes_ = 0, return_row_ = 0;
  bool convert_ = false;
  int row_pairs_ = 0, fanout_ = 1, tokens_ = 0;  // as HostKernels (kernels/host_kernels.h)
  const void* token_base_ = nullptr;             // token parts: x_, xw_ or forwarded rows
  size_t token_stride_ = 0;
  int64_t max_send_ = 0, recv_capacity_ = 0, pairs_capacity_ = 0;
  dev::EventTimer timer_;
  dev::ExpertGemm gemm_;
  bool x_valid_ = false, out_valid_ = false;
  std::vector<float> x_host_, out_host_;  // host views
  // Pinned staging: | rank_row_offset [R+1] | slot counts + first bad [S+1] |
  // slot offsets [S+1] | pair dest, slot, weight [3 x T*P] | one send row |.
  dev::PinnedBuffer pinned_;
  int32_t *pin_offsets_ = nullptr, *pin_counts_ = nullptr, *pin_slot_off_ = nullptr;
  int32_t *pin_dest_ = nullptr, *pin_slot_ = nullptr;
  float* pin_weight_ = nullptr;
  unsigned char* pin_row_ = nullptr;
  // Device buffers (layouts: kernels/layout_kernels.cu, kernels/expert_kernels.cu).
  dev::DeviceBuffer x_, xw_, out_, dest_, slot_, weight_, rank_rows_, rank_off_, row_token_, row_rank_, token_row_,
      token_rows_, send_, slot_misc_, recv_, pair_pos_, xg_, hg_, yg_, expert_rows_, returned_;
};

CudaKernels::CudaKernels(const KernelShape& s, void* stream, bool own_stream, void* kernel_stream)
    : own_(kernel_stream ? dev::StreamHandle(kernel_stream)
                         : own_stream ? dev::StreamHandle() : dev::StreamHandle(stream)),
      stream_(own_.get()),
      comm_stream_(stream),
      order_(stream_ != comm_stream_ ? &streams_ : nullptr),
      timer_(16),
      gemm_(s.slots, 2, own_.get()) {
  shape_ = s;
  streams_.kernels = stream_;
  streams_.comm = comm_stream_;
  WIDEEP_ASSERT(s.dtype != DType::kFP8 && s.combine_dtype != DType::kFP8, "fp8 is a dispatch wire dtype only");
  WIDEEP_ASSERT(!(s.pair_rows && s.forwarder), "a forwarder's rows carry every pair");
  row_pairs_ = s.pair_rows ? 1 : s.pairs;
  fanout_ = s.pair_rows ? s.pairs : 1;
  tokens_ = s.tokens;
  wire_ = wire_row(s.hidden, row_pairs_, s.dispatch_dtype);
  x_value_bytes_ = static_cast<size_t>(s.hidden) * dtype_bytes(s.dtype);
  convert_ = s.dispatch_dtype != s.dtype;
  token_bytes_ = convert_ || s.forwarder ? wire_.slot_offset : x_value_bytes_;
  return_row_ = return_row_bytes();
  max_send_ = static_cast<int64_t>(s.tokens) * fanout_ * std::min(s.ranks, row_pairs_);
  const size_t T = s.tokens, H = s.hidden, P = s.pairs, R = s.ranks, S = s.slots, i4 = sizeof(int32_t);
  const size_t TP = T * P;
  if (!s.forwarder) x_host_.assign(T * H, 0.0f);
  out_host_.assign(T * H, 0.0f);
  pinned_.allocate((R + 1) * i4 + 2 * (S + 1) * i4 + 3 * TP * 4 + wire_.row_bytes);
  pin_offsets_ = pinned_.as<int32_t>();
  pin_counts_ = pin_offsets_ + R + 1;
  pin_slot_off_ = pin_counts_ + S + 1;
  pin_dest_ = pin_slot_off_ + S + 1;
  pin_slot_ = pin_dest_ + TP;
  pin_weight_ = reinterpret_cast<float*>(pin_slot_ + TP);
  pin_row_ = reinterpret_cast<unsigned char*>(pin_weight_ + TP);
  if (!s.forwarder) {
    x_.allocate(T * x_value_bytes_);
    if (convert_) xw_.allocate(T * token_bytes_);
    token_base_ = convert_ ? xw_.get() : x_.get();
    token_stride_ = token_bytes_;
  }
  out_.allocate(T * H * sizeof(float));
  dest_.allocate(TP * i4);
  slot_.allocate(TP * i4);
  weight_.allocate(TP * sizeof(float));
  rank_rows_.allocate(R * i4);
  rank_off_.allocate((R + 1) * i4);
  row_token_.allocate(static_cast<size_t>(max_send_) * i4);
  row_rank_.allocate(static_cast<size_t>(max_send_) * i4);
  token_row_.allocate(T * fanout_ * R * i4);
  token_rows_.allocate(TP * i4);
  send_.allocate(static_cast<size_t>(max_send_) * wire_.row_bytes);
  slot_misc_.allocate((3 * S + 2) * i4);  // | count [S] | offsets [S+1] | cursor [S] | first bad |
  returned_.allocate(static_cast<size_t>(max_send_) * return_row_);
  reserve_receive(s.recv_rows_capacity, s.pairs_capacity);
}

int64_t CudaKernels::reserve_receive(int64_t rows, int64_t pairs) {
  int64_t before = 0, after = 0, host = 0;
  allocated_bytes(&host, &before);
  if (rows <= recv_capacity_ && pairs <= pairs_capacity_) return 0;
  wait("growing the receive buffers");  // nothing enqueued may still use the old ones
  const size_t P = row_pairs_, H = shape_.hidden, F = shape_.ffn, eb = dtype_bytes(shape_.dtype);
  if (rows > recv_capacity_) {
    recv_capacity_ = rows;
    recv_.allocate(static_cast<size_t>(rows) * wire_.row_bytes);
    pair_pos_.allocate(static_cast<size_t>(rows) * P * sizeof(int32_t));
    expert_rows_.allocate(static_cast<size_t>(rows) * return_row_);
  }
  if (pairs > pairs_capacity_) {
    pairs_capacity_ = pairs;
    xg_.allocate(static_cast<size_t>(pairs) * H * eb);
    hg_.allocate(static_cast<size_t>(pairs) * F * eb);
    yg_.allocate(static_cast<size_t>(pairs) * H * eb);
  }
  allocated_bytes(&host, &after);
  return after - before;
}

void CudaKernels::allocated_bytes(int64_t* host, int64_t* device) const {
  *host = static_cast<int64_t>((x_host_.capacity() + out_host_.capacity()) * sizeof(float) + pinned_.bytes() +
                               6 * sizeof(void*) * static_cast<size_t>(shape_.slots));
  int64_t d = 6 * sizeof(void*) * static_cast<int64_t>(shape_.slots);  // GEMM pointer arrays
  for (const dev::DeviceBuffer* b : {&x_, &xw_, &out_, &dest_, &slot_, &weight_, &rank_rows_, &rank_off_, &row_token_,
                                     &row_rank_, &token_row_, &token_rows_, &send_, &slot_misc_, &recv_, &pair_pos_,
                                     &xg_, &hg_, &yg_, &expert_rows_, &returned_})
    d += static_cast<int64_t>(b->bytes());
  *device = d;
}

void CudaKernels::activations(int step, int layer, int64_t first_token) {
  dev::launch_token_activations(x_.get(), shape_.tokens, shape_.hidden, shape_.dtype, shape_.seed, step, layer,
                                first_token, stream_);
  if (convert_) dev::launch_wire_tokens(x_.get(), shape_.tokens, shape_.hidden, shape_.dtype, wire_, xw_.get(), stream_);
  x_valid_ = out_valid_ = false;
}

void CudaKernels::layout(const int32_t* pair_dest, const int32_t* pair_slot, const float* pair_weight,
                         int32_t* rank_row_offset) {
  const int T = tokens_, P = shape_.pairs, R = shape_.ranks;
  const size_t TP = static_cast<size_t>(T) * P;
  // The previous layer's copies from these pinned arrays are done: the pipeline waited at its end
  // (a forwarder's: before its stage-1 rows were read back).
  std::memcpy(pin_dest_, pair_dest, TP * sizeof(int32_t));
  std::memcpy(pin_slot_, pair_slot, TP * sizeof(int32_t));
  std::memcpy(pin_weight_, pair_weight, TP * sizeof(float));
  dev::copy_async(dest_.get(), pin_dest_, TP * sizeof(int32_t), stream_);
  dev::copy_async(slot_.get(), pin_slot_, TP * sizeof(int32_t), stream_);
  dev::copy_async(weight_.get(), pin_weight_, TP * sizeof(float), stream_);
  // Low-latency: T*P units of one pair (the pair arrays are the units' own).
  dev::launch_dispatch_layout(dest_.as<int32_t>(), T * fanout_, row_pairs_, R, rank_rows_.as<int32_t>(),
                              rank_off_.as<int32_t>(), row_token_.as<int32_t>(), row_rank_.as<int32_t>(),
                              token_row_.as<int32_t>(), token_rows_.as<int32_t>(), stream_);
  dev::launch_pack_rows(token_base_, token_bytes_, token_stride_, fanout_, row_pairs_, R, wire_,
                        rank_off_.as<int32_t>(), row_token_.as<int32_t>(), row_rank_.as<int32_t>(),
                        static_cast<int>(max_send_), dest_.as<int32_t>(), slot_.as<int32_t>(), weight_.as<float>(),
                        send_.get(), stream_);
  dev::copy_async(pin_offsets_, rank_off_.get(), sizeof(int32_t) * (R + 1), stream_);
  wait("layout (rows per destination)");
  std::memcpy(rank_row_offset, pin_offsets_, sizeof(int32_t) * (R + 1));
}

void CudaKernels::read_send_row(int32_t row, unsigned char* out) {
  dev::copy_async(pin_row_, send_.as<unsigned char>() + wire_.row_bytes * row, wire_.row_bytes, stream_);
  wait("layout (fault injection)");
  std::memcpy(out, pin_row_, wire_.row_bytes);
}

void CudaKernels::write_send_row(int32_t row, const unsigned char* in) {
  std::memcpy(pin_row_, in, wire_.row_bytes);
  dev::copy_async(send_.as<unsigned char>() + wire_.row_bytes * row, pin_row_, wire_.row_bytes, stream_);
}

void CudaKernels::count_slots(int rows, int32_t* slot_pairs, int32_t* bad_row) {
  const int S = shape_.slots;
  int32_t* count = slot_misc_.as<int32_t>();
  int32_t* first_bad = count + 3 * S + 1;
  dev::launch_count_slots(recv_.get(), rows, shape_.hidden, row_pairs_, wire_.dtype, S, count, first_bad,
                          stream_);
  dev::copy_async(pin_counts_, count, sizeof(int32_t) * S, stream_);
  dev::copy_async(pin_counts_ + S, first_bad, sizeof(int32_t), stream_);
  wait("expert (pairs per slot)");
  std::memcpy(slot_pairs, pin_counts_, sizeof(int32_t) * S);
  *bad_row = pin_counts_[S];  // -1: none
}

void CudaKernels::group_by_slot(int rows, const int32_t* slot_offset) {
  const int S = shape_.slots;
  int32_t* offsets = slot_misc_.as<int32_t>() + S;
  int32_t* cursor = offsets + S + 1;
  std::memcpy(pin_slot_off_, slot_offset, sizeof(int32_t) * (S + 1));
  dev::copy_async(offsets, pin_slot_off_, sizeof(int32_t) * (S + 1), stream_);
  dev::launch_group_by_slot(recv_.get(), rows, shape_.hidden, row_pairs_, wire_.dtype, shape_.dtype, S, offsets,
                            cursor, pair_pos_.as<int32_t>(), xg_.get(), stream_);
}

void CudaKernels::run_ffn(const FfnProblems& problems) {
  gemm_.run(problems.up, shape_.dtype, 0);
  dev::launch_silu(static_cast<unsigned char*>(hg_.get()) + problems.first_pair * shape_.ffn * grouped_elem_bytes(),
                   (problems.total_pairs - problems.first_pair) * shape_.ffn, shape_.dtype, stream_);
  gemm_.run(problems.down, shape_.dtype, 1);
}

void CudaKernels::partial_combine(int rows) {
  dev::launch_combine_partial(recv_.get(), rows, shape_.hidden, row_pairs_, wire_.dtype, shape_.dtype,
                              shape_.combine_dtype, pair_pos_.as<int32_t>(), yg_.get(), expert_rows_.get(), stream_);
}

void CudaKernels::final_combine(int32_t own_first, int32_t own_end, int64_t own_expert_row,
                                const void* const* rows_in_place) {
  // Rows read in place come from host shared memory (--transport shm, MPI only).
  WIDEEP_ASSERT(rows_in_place == nullptr, "the CUDA backend reads no rows in place");
  dev::launch_final_combine(returned_.get(),
                            expert_rows_.as<unsigned char>() + return_row_ * static_cast<size_t>(own_expert_row),
                            own_first, own_end, tokens_, shape_.hidden, shape_.pairs, shape_.combine_dtype,
                            token_rows_.as<int32_t>(), out_.as<float>(), stream_);
  out_valid_ = false;
}

const float* CudaKernels::input_host() {
  if (x_valid_) return x_host_.data();
  const size_t n = x_host_.size();
  dev::copy_async(x_host_.data(), x_.get(), n * dtype_bytes(shape_.dtype), stream_);
  wait("input copy-back");
  if (shape_.dtype == DType::kBF16) {
    // bf16 values arrived in the first half: widen in place, last first.
    const uint16_t* b = reinterpret_cast<const uint16_t*>(x_host_.data());
    for (size_t i = n; i-- > 0;) x_host_[i] = bf16_to_float(b[i]);
  }
  x_valid_ = true;
  return x_host_.data();
}

const float* CudaKernels::output_host() {
  if (out_valid_) return out_host_.data();
  dev::copy_async(out_host_.data(), out_.get(), sizeof(float) * out_host_.size(), stream_);
  wait("output copy-back");
  out_valid_ = true;
  return out_host_.data();
}

void CudaKernels::forward_tokens(const void* rows, size_t stride, int count) {
  WIDEEP_ASSERT(shape_.forwarder && count >= 0 && count <= shape_.tokens, "forwarded tokens beyond the capacity");
  token_base_ = rows;
  token_stride_ = stride;
  tokens_ = count;
  out_valid_ = false;
}

void CudaKernels::read_received_meta(int rows, int32_t* slots, float* weights) {
  if (rows == 0) return;
  const size_t n = sizeof(int32_t) * row_pairs_;
  const auto* base = recv_.as<unsigned char>();
  dev::copy_rows_to_host(slots, n, base + wire_.slot_offset, wire_.row_bytes, n, rows, stream_);
  dev::copy_rows_to_host(weights, n, base + wire_.weight_offset, wire_.row_bytes, n, rows, stream_);
  wait("dispatch (stage-1 rows' pairs)");
}

void CudaKernels::set_expert_rows(const float* src, int rows) {
  WIDEEP_ASSERT(rows <= recv_capacity_, "more node sums than received rows");
  dev::launch_rows_from_f32(src, rows, shape_.hidden, shape_.combine_dtype, expert_rows_.get(), stream_);
}

void CudaKernels::compact_received(const int64_t*, const int64_t*, const int64_t*, int) {
  // Header rows need receives larger than the message: NCCL's are exact, so
  // the device's low-latency dispatch runs a counts round (runtime/step/ll_plan.h).
  throw Error(ErrorCategory::kInternal, "low-latency header rows are not sent on the device path");
}

}  // namespace

std::unique_ptr<KernelBackend> make_cuda_kernels(const KernelShape& shape, void* stream, bool own_stream) {
  return std::make_unique<CudaKernels>(shape, stream, own_stream);
}

std::unique_ptr<KernelBackend> make_cuda_forwarder(const KernelShape& shape, KernelBackend& stage1) {
  auto* s1 = dynamic_cast<CudaKernels*>(&stage1);
  WIDEEP_ASSERT(s1 != nullptr, "a device forwarder needs a CUDA stage-1 backend");
  return std::make_unique<CudaKernels>(shape, s1->comm_stream(), false, s1->kernel_stream());
}

std::unique_ptr<ExpertStore> make_device_expert_store(int layers, int slots_per_rank, int shared, int hidden,
                                                      int ffn, uint64_t seed, DType compute, void* stream,
                                                      double timeout_s) {
  return std::make_unique<DeviceExpertStore>(layers, slots_per_rank, shared, hidden, ffn, seed, compute, stream,
                                             timeout_s);
}

#else  // no CUDA in this build

std::unique_ptr<KernelBackend> make_cuda_kernels(const KernelShape&, void*, bool) {
  throw UsageError("--backend nccl: this build has no CUDA device path (configure with WIDEEP_CUDA=ON)");
}

std::unique_ptr<KernelBackend> make_cuda_forwarder(const KernelShape&, KernelBackend&) {
  throw UsageError("--backend nccl: this build has no CUDA device path (configure with WIDEEP_CUDA=ON)");
}

std::unique_ptr<ExpertStore> make_device_expert_store(int, int, int, int, int, uint64_t, DType, void*, double) {
  throw UsageError("--backend nccl: this build has no CUDA device path (configure with WIDEEP_CUDA=ON)");
}

#endif

}  // namespace wideep
