// The host kernel backend (kernels/host_kernels.h).
#include "kernels/host_kernels.h"

#include <cblas.h>

#include <algorithm>
#include <cstring>

#include "common/check.h"
#include "common/clock.h"
#include "kernels/row_bodies.h"

namespace wideep {

void run_problems_cblas(const std::vector<GemmProblem>& problems) {
  for (const GemmProblem& g : problems)
    cblas_sgemm(CblasColMajor, g.trans_a ? CblasTrans : CblasNoTrans, g.trans_b ? CblasTrans : CblasNoTrans, g.m,
                g.n, g.k, 1.0f, static_cast<const float*>(g.a), g.lda, static_cast<const float*>(g.b), g.ldb, 0.0f,
                static_cast<float*>(g.c), g.ldc);
}

namespace {
// dst[c] = the n rows' column c summed in row order from 0 (fp32), 64 columns
// at a time in registers: dst is written once and the rows are read as n
// streams (~25 % faster than row by row into dst). Built for AVX2 as well,
// chosen at load time where the CPU has it; the same adds in the same order,
// so the same bits.
template <typename T>
inline void sum_rows_blocked(const T* const* rows, int n, int H, float* dst) {
  constexpr int kBlock = 64;
  int c0 = 0;
  for (; c0 + kBlock <= H; c0 += kBlock) {
    float acc[kBlock] = {};
    for (int i = 0; i < n; ++i)
      for (int c = 0; c < kBlock; ++c) acc[c] += elem_to_float(rows[i][c0 + c]);
    std::copy(acc, acc + kBlock, dst + c0);
  }
  std::fill(dst + c0, dst + H, 0.0f);
  for (int i = 0; i < n; ++i)
    for (int c = c0; c < H; ++c) dst[c] += elem_to_float(rows[i][c]);
}
__attribute__((target_clones("avx2", "default"))) void sum_rows(const float* const* rows, int n, int H, float* dst) {
  sum_rows_blocked(rows, n, H, dst);
}
__attribute__((target_clones("avx2", "default"))) void sum_rows(const uint16_t* const* rows, int n, int H,
                                                                float* dst) {
  sum_rows_blocked(rows, n, H, dst);
}

template <typename V>
int64_t bytes_of(const V& v) {
  return static_cast<int64_t>(v.capacity() * sizeof(typename V::value_type));
}
// Where the device stores a value in bf16, the host rounds it the same way.
void round_to_dtype(float* v, size_t n, DType d) {
  if (d == DType::kBF16)
    for (size_t i = 0; i < n; ++i) v[i] = round_bf16(v[i]);
}
}  // namespace

HostKernels::HostKernels(const KernelShape& s, ExchangeMemory* memory) {
  shape_ = s;
  WIDEEP_ASSERT(s.dtype != DType::kFP8 && s.combine_dtype != DType::kFP8, "fp8 is a dispatch wire dtype only");
  WIDEEP_ASSERT(!(s.pair_rows && s.forwarder), "a forwarder's rows carry every pair");
  row_pairs_ = s.pair_rows ? 1 : s.pairs;
  fanout_ = s.pair_rows ? s.pairs : 1;
  wire_ = wire_row(s.hidden, row_pairs_, s.dispatch_dtype);
  x_value_bytes_ = static_cast<size_t>(s.hidden) * dtype_bytes(s.dtype);
  convert_ = s.dispatch_dtype != s.dtype;
  // A forwarder sends the token parts of the rows it received, as they came.
  token_bytes_ = convert_ || s.forwarder ? wire_.slot_offset : x_value_bytes_;
  tail_bytes_ = wire_.row_bytes - token_bytes_;
  return_row_ = return_row_bytes();
  tokens_ = s.tokens;
  layout_.init(s.ranks, s.tokens * fanout_, row_pairs_);
  const size_t T = s.tokens, H = s.hidden;
  const size_t max_send = static_cast<size_t>(s.tokens) * fanout_ * std::min(s.ranks, row_pairs_);
  max_send_ = max_send;
  // Allocated in the same order on every rank (a node-collective call where
  // shared). Shared: what node peers read in place (the token parts sent, a
  // faulted row's copy, the expert rows) or write in place (the received rows).
  memory_ = memory;
  auto make = [&](int64_t bytes, bool shared) {
    return shared && memory != nullptr ? memory->allocate(bytes) : private_exchange_buffer(bytes);
  };
  const bool tokens = !s.forwarder;
  x_ = make(tokens ? static_cast<int64_t>(T * x_value_bytes_) : 0, tokens && !convert_);
  xw_ = make(tokens && convert_ ? static_cast<int64_t>(T * token_bytes_) : 0, tokens && convert_);
  fault_row_ = make(static_cast<int64_t>(wire_.row_bytes), true);
  // As sized here (a shared window rounds up to a cache line).
  token_parts_bytes_ = (tokens ? static_cast<int64_t>(T * x_value_bytes_) : 0) +
                       (tokens && convert_ ? static_cast<int64_t>(T * token_bytes_) : 0) +
                       static_cast<int64_t>(wire_.row_bytes);
  if (tokens) {
    x_f32_.assign(T * H, 0.0f);
    token_base_ = convert_ ? xw_->data() : x_->data();
    token_stride_ = token_bytes_;
  }
  out_.assign(T * H, 0.0f);
  // A send row's record: its token part's reference, then its tail (read in
  // place by node peers: --transport shm).
  record_bytes_ = (sizeof(int64_t) + tail_bytes_ + 15) / 16 * 16;
  records_ = make(static_cast<int64_t>(max_send * record_bytes_), true);
  segments_.assign(max_send * 2, nullptr);
  if (s.baseline) packed_.assign(max_send * wire_.row_bytes, 0);
  returned_.assign(max_send * return_row_, 0);
  cursor_.assign(s.slots, 0);
  marks_.assign(16, 0);
  const int64_t rows = std::max<int64_t>(s.recv_rows_capacity, 0);
  recv_ = make(rows * static_cast<int64_t>(wire_.row_bytes), true);
  expert_rows_ = make(rows * static_cast<int64_t>(return_row_), true);
  reserve_receive(s.recv_rows_capacity, s.pairs_capacity);
}

int64_t HostKernels::reserve_receive(int64_t rows, int64_t pairs) {
  int64_t before = 0, after = 0, unused = 0;
  allocated_bytes(&before, &unused);
  const size_t H = shape_.hidden, F = shape_.ffn, P = row_pairs_;
  if (rows > recv_capacity_) {
    // A shared buffer grows at the next exchange of the node (the dispatch
    // that receives these rows), before anything is written into it.
    recv_capacity_ = rows;
    recv_->reserve(rows * static_cast<int64_t>(wire_.row_bytes));
    expert_rows_->reserve(rows * static_cast<int64_t>(return_row_));
    pair_pos_.assign(static_cast<size_t>(rows) * P, -1);
  }
  if (pairs > pairs_capacity_) {
    pairs_capacity_ = pairs;
    xg_.assign(static_cast<size_t>(pairs) * H, 0.0f);
    hg_.assign(static_cast<size_t>(pairs) * F, 0.0f);
    yg_.assign(static_cast<size_t>(pairs) * H, 0.0f);
  }
  allocated_bytes(&after, &unused);
  return after - before;
}

// The exchanged buffers count as asked for: a shared one takes that size at
// the next exchange (rounded up to a cache line).
void HostKernels::allocated_bytes(int64_t* host, int64_t* device) const {
  *host = token_parts_bytes_ + bytes_of(x_f32_) + bytes_of(out_) + static_cast<int64_t>(max_send_ * record_bytes_) +
          bytes_of(segments_) + bytes_of(packed_) + recv_capacity_ * static_cast<int64_t>(wire_.row_bytes) +
          bytes_of(pair_pos_) + bytes_of(cursor_) + bytes_of(xg_) + bytes_of(hg_) + bytes_of(yg_) +
          recv_capacity_ * static_cast<int64_t>(return_row_) + bytes_of(returned_) + bytes_of(layout_.rank_rows) +
          bytes_of(layout_.rank_row_offset) + bytes_of(layout_.row_token) + bytes_of(layout_.row_rank) +
          bytes_of(layout_.token_rows);
  *device = 0;
}

void HostKernels::activations(int step, int layer, int64_t first_token) {
  const int T = shape_.tokens, H = shape_.hidden;
  const uint64_t seed = shape_.seed;
  if (shape_.dtype == DType::kF32) {
    float* x = reinterpret_cast<float*>(x_->data());
    for (int t = 0; t < T; ++t)
      for (int c = 0; c < H; ++c)
        x[static_cast<size_t>(t) * H + c] = activation_elem<float>(seed, step, layer, first_token + t, c);
  } else {
    uint16_t* x = reinterpret_cast<uint16_t*>(x_->data());
    for (int t = 0; t < T; ++t)
      for (int c = 0; c < H; ++c)
        x[static_cast<size_t>(t) * H + c] = activation_elem<uint16_t>(seed, step, layer, first_token + t, c);
  }
  if (!convert_) return;
  for (int t = 0; t < T; ++t) {
    unsigned char* out = xw_->data() + token_bytes_ * t;
    if (shape_.dtype == DType::kF32)
      write_token_part(reinterpret_cast<const float*>(x_->data()) + static_cast<size_t>(t) * H, H, wire_, out);
    else
      write_token_part(reinterpret_cast<const uint16_t*>(x_->data()) + static_cast<size_t>(t) * H, H, wire_, out);
  }
}

void HostKernels::layout(const int32_t* pair_dest, const int32_t* pair_slot, const float* pair_weight,
                         int32_t* rank_row_offset) {
  pair_dest_ = pair_dest;
  pair_slot_ = pair_slot;
  pair_weight_ = pair_weight;
  layout_.num_tokens = tokens_ * fanout_;
  build_layout(pair_dest, &layout_);
  for (int32_t row = 0; row < layout_.total_rows; ++row) {
    unsigned char* record = record_of(row);
    unsigned char* tail = record + sizeof(int64_t);
    write_row_tail(layout_, wire_, token_bytes_, row, pair_dest, pair_slot, pair_weight, tail);
    set_token_part(row, token_base_ + token_stride_ * (layout_.row_token[row] / fanout_));
    segments_[2 * static_cast<size_t>(row) + 1] = tail;
  }
  std::copy(layout_.rank_row_offset.begin(), layout_.rank_row_offset.end(), rank_row_offset);
}

unsigned char* HostKernels::record_of(int32_t row) { return records_->data() + record_bytes_ * row; }

// The row's first segment, and in its record the reference node peers resolve.
void HostKernels::set_token_part(int32_t row, const unsigned char* token) {
  segments_[2 * static_cast<size_t>(row)] = token;
  int64_t ref = -1;
  if (memory_ != nullptr) WIDEEP_ASSERT(memory_->reference(token, &ref), "a token part outside the shared buffers");
  std::memcpy(record_of(row), &ref, sizeof ref);
}

SendRowsView HostKernels::send_rows() {
  SendRowsView v;
  v.segments = segments_.data();
  v.segment_bytes[0] = static_cast<int64_t>(token_bytes_);
  v.segment_bytes[1] = static_cast<int64_t>(tail_bytes_);
  if (memory_ != nullptr) {
    v.records = records_->data();
    v.record_bytes = static_cast<int64_t>(record_bytes_);
  }
  return v;
}

void HostKernels::receive_records(const void* records, int64_t rows, int64_t first_row) {
  unsigned char* in = recv_base(first_row + rows) + wire_.row_bytes * static_cast<size_t>(first_row);
  const auto* rec = static_cast<const unsigned char*>(records);
  for (int64_t i = 0; i < rows; ++i, in += wire_.row_bytes, rec += record_bytes_) {
    std::memcpy(in, rec, sizeof(int64_t));
    std::memcpy(in + token_bytes_, rec + sizeof(int64_t), tail_bytes_);
  }
}

const void* HostKernels::packed_send_rows() {
  WIDEEP_ASSERT(shape_.baseline, "packed send rows were not planned (--baseline)");
  for (int32_t row = 0; row < layout_.total_rows; ++row) read_send_row(row, packed_.data() + wire_.row_bytes * row);
  return packed_.data();
}

void HostKernels::read_send_row(int32_t row, unsigned char* out) {
  std::memcpy(out, segments_[2 * static_cast<size_t>(row)], token_bytes_);
  std::memcpy(out + token_bytes_, segments_[2 * static_cast<size_t>(row) + 1], tail_bytes_);
}

void HostKernels::write_send_row(int32_t row, const unsigned char* in) {
  // x goes from a private copy (the activations stay intact), the tail in place.
  std::memcpy(fault_row_->data(), in, token_bytes_);
  set_token_part(row, fault_row_->data());
  std::memcpy(record_of(row) + sizeof(int64_t), in + token_bytes_, tail_bytes_);
}

void HostKernels::count_slots(int rows, int32_t* slot_pairs, int32_t* bad_row) {
  const int P = row_pairs_, S = shape_.slots;
  const unsigned char* in = recv_base(rows);
  std::fill(slot_pairs, slot_pairs + S, 0);
  *bad_row = -1;
  for (int r = 0; r < rows; ++r) {
    const int32_t* slots = reinterpret_cast<const int32_t*>(in + wire_.row_bytes * r + wire_.slot_offset);
    for (int p = 0; p < P; ++p) {
      const int32_t s = slots[p];
      if (s < -1 || s >= S) {
        if (*bad_row < 0) *bad_row = r;
        continue;
      }
      if (s >= 0) ++slot_pairs[s];
    }
  }
}

void HostKernels::received_by_reference(const int64_t* recv_row_offset, const int64_t* recv_rows,
                                        const char* by_reference) {
  ref_rank_.clear();
  for (int r = 0; r < shape_.ranks; ++r) {
    if (!by_reference[r] || recv_rows[r] == 0) continue;
    WIDEEP_ASSERT(memory_ != nullptr, "rows by reference without shared exchange memory");
    if (ref_rank_.empty()) ref_rank_.assign(static_cast<size_t>(recv_capacity_), -1);
    WIDEEP_ASSERT(recv_row_offset[r] + recv_rows[r] <= recv_capacity_, "rows by reference beyond the receive buffer");
    std::fill(ref_rank_.begin() + recv_row_offset[r], ref_rank_.begin() + recv_row_offset[r] + recv_rows[r], r);
  }
}

void HostKernels::group_by_slot(int rows, const int32_t* slot_offset) {
  const int P = row_pairs_, H = shape_.hidden, S = shape_.slots;
  const unsigned char* in = recv_base(rows);
  std::copy(slot_offset, slot_offset + S, cursor_.begin());
  for (int r = 0; r < rows; ++r) {
    const unsigned char* row = in + wire_.row_bytes * r;
    const int32_t* slots = reinterpret_cast<const int32_t*>(row + wire_.slot_offset);
    // A token part by reference is read where its sender holds it.
    const unsigned char* x = !ref_rank_.empty() && ref_rank_[r] >= 0 ? memory_->resolve(ref_rank_[r], row) : row;
    for (int p = 0; p < P; ++p) {
      const int32_t s = slots[p];
      const int32_t i = s >= 0 && s < S ? cursor_[s]++ : -1;
      pair_pos_[static_cast<size_t>(r) * P + p] = i;
      if (i < 0) continue;
      // The grouped buffers hold fp32 here; values are those of the compute
      // dtype, as the device stores them (fp8 dequantized, then rounded).
      float* dst = &xg_[static_cast<size_t>(i) * H];
      if (wire_.dtype == DType::kF32 && shape_.dtype == DType::kF32) {
        std::memcpy(dst, x, sizeof(float) * H);
      } else {
        for (int c = 0; c < H; ++c) dst[c] = round_to(shape_.dtype, wire_x_value(x, wire_, c));
      }
    }
  }
}

void HostKernels::run_ffn(const FfnProblems& problems) {
  const size_t F = shape_.ffn, H = shape_.hidden, first = static_cast<size_t>(problems.first_pair);
  const size_t pairs = static_cast<size_t>(problems.total_pairs) - first, hn = pairs * F;
  float* h = hg_.data() + first * F;
  run_problems_cblas(problems.up);
  round_to_dtype(h, hn, shape_.dtype);
  for (size_t i = 0; i < hn; ++i) h[i] = silu_elem(h[i]);
  round_to_dtype(h, hn, shape_.dtype);
  run_problems_cblas(problems.down);
  round_to_dtype(yg_.data() + first * H, pairs * H, shape_.dtype);
}

template <typename T>
void HostKernels::partial_combine_as(int rows) {
  const int P = row_pairs_, H = shape_.hidden;
  const unsigned char* in = recv_base(rows);
  unsigned char* out = expert_base(rows);
  for (int r = 0; r < rows; ++r) {
    const float* w = reinterpret_cast<const float*>(in + wire_.row_bytes * r + wire_.weight_offset);
    const int32_t* pos = &pair_pos_[static_cast<size_t>(r) * P];
    T* dst = reinterpret_cast<T*>(out + return_row_ * r);
    for (int c = 0; c < H; ++c) dst[c] = float_to_elem<T>(partial_combine_elem(pos, w, P, yg_.data(), H, c));
    std::memset(dst + H, 0, return_row_ - sizeof(T) * H);  // the row's padding goes on the wire too
  }
}

void HostKernels::partial_combine(int rows) {
  if (shape_.combine_dtype == DType::kF32) partial_combine_as<float>(rows);
  else partial_combine_as<uint16_t>(rows);
}

template <typename T>
void HostKernels::final_combine_as(int32_t own_first, int32_t own_end, int64_t own_expert_row,
                                   const void* const* rows_in_place) {
  const int P = shape_.pairs, H = shape_.hidden;
  const unsigned char* own = expert_base(own_expert_row + (own_end - own_first)) +
                             return_row_ * static_cast<size_t>(own_expert_row);
  // final_combine_elem's sum, a token at a time: its rows' addresses once
  // (returned_row_ptr, or where a node peer holds them), then every column in
  // one vectorisable pass per row, in the same order (rank order, fp32), so
  // the values are the same bits.
  std::vector<const void*>& src = combine_src_;
  src.resize(static_cast<size_t>(P));
  for (int t = 0; t < tokens_; ++t) {
    const int32_t* rows = &layout_.token_rows[static_cast<size_t>(t) * P];
    int n = 0;
    for (; n < P && rows[n] >= 0; ++n) {
      const int32_t row = rows[n], r = layout_.row_rank[row];
      const void* at = rows_in_place != nullptr ? rows_in_place[r] : nullptr;
      const size_t in_rank = static_cast<size_t>(row - layout_.rank_row_offset[r]);
      src[n] = at != nullptr ? static_cast<const unsigned char*>(at) + return_row_ * in_rank
                             : returned_row_ptr(returned_.data(), own, own_first, own_end, row, return_row_);
    }
    sum_rows(reinterpret_cast<const T* const*>(src.data()), n, H, &out_[static_cast<size_t>(t) * H]);
  }
}

void HostKernels::final_combine(int32_t own_first, int32_t own_end, int64_t own_expert_row,
                                const void* const* rows_in_place) {
  if (shape_.combine_dtype == DType::kF32) final_combine_as<float>(own_first, own_end, own_expert_row, rows_in_place);
  else final_combine_as<uint16_t>(own_first, own_end, own_expert_row, rows_in_place);
}

unsigned char* HostKernels::recv_base(int64_t rows) const {
  WIDEEP_ASSERT(rows * static_cast<int64_t>(wire_.row_bytes) <= recv_->bytes(),
                "received rows beyond the receive buffer (a shared one grows only inside an exchange)");
  return recv_->data();
}

unsigned char* HostKernels::expert_base(int64_t rows) const {
  WIDEEP_ASSERT(rows * static_cast<int64_t>(return_row_) <= expert_rows_->bytes(),
                "expert rows beyond their buffer (a shared one grows only inside an exchange)");
  return expert_rows_->data();
}

void HostKernels::forward_tokens(const void* rows, size_t stride, int count) {
  WIDEEP_ASSERT(shape_.forwarder && count >= 0 && count <= shape_.tokens, "forwarded tokens beyond the capacity");
  token_base_ = static_cast<const unsigned char*>(rows);
  token_stride_ = stride;
  tokens_ = count;
}

void HostKernels::read_received_meta(int rows, int32_t* slots, float* weights) {
  const int P = row_pairs_;
  const unsigned char* in = recv_base(rows);
  for (int r = 0; r < rows; ++r) {
    const unsigned char* row = in + wire_.row_bytes * r;
    std::memcpy(slots + static_cast<size_t>(r) * P, row + wire_.slot_offset, sizeof(int32_t) * P);
    std::memcpy(weights + static_cast<size_t>(r) * P, row + wire_.weight_offset, sizeof(float) * P);
  }
}

void HostKernels::set_expert_rows(const float* src, int rows) {
  WIDEEP_ASSERT(rows <= recv_capacity_, "more node sums than received rows");
  const int H = shape_.hidden;
  unsigned char* out = expert_base(rows);
  for (int r = 0; r < rows; ++r) {
    unsigned char* dst = out + return_row_ * r;
    const float* x = src + static_cast<size_t>(r) * H;
    size_t value_bytes = sizeof(float) * H;
    if (shape_.combine_dtype == DType::kF32) {
      std::memcpy(dst, x, value_bytes);
    } else {
      uint16_t* d = reinterpret_cast<uint16_t*>(dst);
      for (int c = 0; c < H; ++c) d[c] = float_to_bf16(x[c]);
      value_bytes = sizeof(uint16_t) * H;
    }
    std::memset(dst + value_bytes, 0, return_row_ - value_bytes);
  }
}

void HostKernels::compact_received(const int64_t* from_row, const int64_t* rows, const int64_t* to_row, int n) {
  for (int i = 0; i < n; ++i) {
    WIDEEP_ASSERT(to_row[i] <= from_row[i] && from_row[i] + rows[i] <= recv_capacity_, "compaction out of range");
    if (rows[i] > 0 && to_row[i] != from_row[i])
      std::memmove(recv_->data() + wire_.row_bytes * to_row[i], recv_->data() + wire_.row_bytes * from_row[i],
                   wire_.row_bytes * rows[i]);
  }
}

const float* HostKernels::input_host() {
  const size_t n = x_f32_.size();
  if (shape_.dtype == DType::kF32) {
    std::memcpy(x_f32_.data(), x_->data(), sizeof(float) * n);
  } else {
    const uint16_t* x = reinterpret_cast<const uint16_t*>(x_->data());
    for (size_t i = 0; i < n; ++i) x_f32_[i] = bf16_to_float(x[i]);
  }
  return x_f32_.data();
}

void HostKernels::mark(int boundary) { marks_[boundary] = now_ns(); }

}  // namespace wideep
