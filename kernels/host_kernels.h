// The host kernel backend: the step's buffers in host memory and the
// per-element work as loops over the bodies of kernels/row_bodies.h, GEMMs
// through OpenBLAS (cblas_sgemm over the pipeline's problem list). It is the
// reference of the CUDA backend and, with --dtype bf16, runs the device
// configuration on the CPU: every value the device stores in bf16 (x, h,
// SiLU(h), y) rounded to bf16 where the device rounds it, while the GEMMs
// accumulate in fp32 as cuBLAS does. Wire rows carry x in the dispatch dtype
// (fp8: quantized with the device's bodies, bit-identical) and the combine
// rows are in the combine dtype.
// Dispatch sends rows from where they lie (the token part from the
// activations, or from their wire form where the dispatch dtype differs from
// the compute dtype; the rest from a tail buffer), so nothing is packed on the host.
#pragma once

#include <cstdint>
#include <vector>

#include "common/exchange_memory.h"
#include "kernels/dispatch_layout.h"
#include "kernels/kernel_backend.h"

namespace wideep {

// Runs a problem list through cblas_sgemm (fp32 operands; column-major).
void run_problems_cblas(const std::vector<GemmProblem>& problems);

class HostKernels final : public KernelBackend {
 public:
  // `memory`: where the exchanged buffers (received rows, expert rows) live;
  // null: private memory. With --transport shm, the node's shared windows.
  explicit HostKernels(const KernelShape& shape, ExchangeMemory* memory = nullptr);

  const char* name() const override { return "host"; }
  bool device_memory() const override { return false; }
  int64_t reserve_receive(int64_t rows, int64_t pairs) override;
  int64_t recv_rows_capacity() const override { return recv_capacity_; }
  int64_t pairs_capacity() const override { return pairs_capacity_; }
  void allocated_bytes(int64_t* host, int64_t* device) const override;

  void activations(int step, int layer, int64_t first_token) override;
  void layout(const int32_t* pair_dest, const int32_t* pair_slot, const float* pair_weight,
              int32_t* rank_row_offset) override;
  SendRowsView send_rows() override;
  const void* packed_send_rows() override;
  void read_send_row(int32_t row, unsigned char* out) override;
  void write_send_row(int32_t row, const unsigned char* in) override;
  void* recv_rows() override { return recv_->data(); }
  void receive_records(const void* records, int64_t rows, int64_t first_row) override;

  void received_by_reference(const int64_t* recv_row_offset, const int64_t* recv_rows,
                             const char* by_reference) override;
  void count_slots(int rows, int32_t* slot_pairs, int32_t* bad_row) override;
  void group_by_slot(int rows, const int32_t* slot_offset) override;
  void* grouped_x() override { return xg_.data(); }
  void* grouped_h() override { return hg_.data(); }
  void* grouped_y() override { return yg_.data(); }
  size_t grouped_elem_bytes() const override { return sizeof(float); }
  void run_ffn(const FfnProblems& problems) override;
  void partial_combine(int rows) override;
  void* expert_rows() override { return expert_rows_->data(); }

  void* returned_rows() override { return returned_.data(); }
  void final_combine(int32_t own_first, int32_t own_end, int64_t own_expert_row,
                     const void* const* rows_in_place) override;

  void forward_tokens(const void* rows, size_t stride, int count) override;
  void read_received_meta(int rows, int32_t* slots, float* weights) override;
  const float* output_rows() override { return out_.data(); }
  void set_expert_rows(const float* src, int rows) override;
  void compact_received(const int64_t* from_row, const int64_t* rows, const int64_t* to_row, int n) override;

  const float* input_host() override;
  const float* output_host() override { return out_.data(); }

  void mark(int boundary) override;
  void finish(const char*) override {}
  int64_t elapsed_ns(int from, int to) override { return marks_[to] - marks_[from]; }

 private:
  template <typename T>
  void partial_combine_as(int rows);
  template <typename T>
  void final_combine_as(int32_t own_first, int32_t own_end, int64_t own_expert_row, const void* const* rows_in_place);
  unsigned char* recv_base(int64_t rows) const;    // recv_, checked to hold `rows`
  unsigned char* record_of(int32_t row);
  void set_token_part(int32_t row, const unsigned char* token);
  unsigned char* expert_base(int64_t rows) const;  // expert_rows_, likewise

  // x_value_bytes_: H values of the compute dtype; token_bytes_: a send row's
  // first segment (x_value_bytes_ when the dispatch dtype is the compute
  // dtype, else wire_.slot_offset: x in the wire dtype, padding, scales).
  size_t x_value_bytes_ = 0, token_bytes_ = 0, tail_bytes_ = 0, return_row_ = 0;
  bool convert_ = false;                 // dispatch dtype != compute dtype
  int row_pairs_ = 0;                    // pairs per dispatch row (1 with pair_rows)
  int fanout_ = 1;                       // layout units per token (P with pair_rows)
  int tokens_ = 0;                       // this layer's tokens (a forwarder's vary)
  const unsigned char* token_base_ = nullptr;  // token parts: x_, xw_ or forwarded rows
  size_t token_stride_ = 0;
  int64_t recv_capacity_ = 0, pairs_capacity_ = 0;
  const int32_t *pair_dest_ = nullptr, *pair_slot_ = nullptr;
  const float* pair_weight_ = nullptr;
  DispatchLayout layout_;
  std::unique_ptr<ExchangeBuffer> x_;    // [T x H] compute dtype
  std::unique_ptr<ExchangeBuffer> xw_;   // [T x token_bytes] the token parts of the rows, where convert_
  std::vector<float> x_f32_, out_;       // [T x H] host views
  // [max send rows x record_bytes_]: per send row, its token part's reference
  // (int64, ExchangeMemory::reference; -1 without shared memory), then its tail.
  std::unique_ptr<ExchangeBuffer> records_;
  size_t record_bytes_ = 0, max_send_ = 0;
  std::vector<const void*> segments_;    // [max send rows x 2]
  std::unique_ptr<ExchangeBuffer> fault_row_;  // a send row changed by a fault
  int64_t token_parts_bytes_ = 0;              // x_, xw_ and fault_row_ as asked for
  ExchangeMemory* memory_ = nullptr;           // resolves token parts received by reference
  std::vector<int32_t> ref_rank_;              // [received rows] sender of a row by reference, else -1; or empty
  std::vector<unsigned char> packed_;    // [max send rows x row_bytes], --baseline only
  // The exchanged buffers: where `memory` puts them (they may move at an exchange).
  std::unique_ptr<ExchangeBuffer> recv_;  // [recv capacity x row_bytes]
  std::vector<int32_t> pair_pos_;        // [recv capacity x P] grouped index of (row, p) or -1
  std::vector<int32_t> cursor_;          // [S]
  std::vector<float> xg_, hg_, yg_;      // [pairs capacity x H | F | H]
  std::unique_ptr<ExchangeBuffer> expert_rows_;  // [recv capacity x return_row_bytes]
  std::vector<unsigned char> returned_;     // [max send rows x return_row_bytes]
  std::vector<int64_t> marks_;
  std::vector<const void*> combine_src_;   // [P] one token's returned rows (final_combine)
};

}  // namespace wideep
