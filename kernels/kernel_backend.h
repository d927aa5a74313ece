// The kernel backend of the step pipeline (runtime/step/moe_pipeline.h): owns the
// buffers of one rank's step in its memory kind and runs the per-element work
// of each phase. HostKernels (kernels/host_kernels.h) loops over the shared
// bodies of kernels/row_bodies.h and runs GEMMs through OpenBLAS; CudaKernels
// (kernels/cuda_kernels.h) launches the same bodies on one stream and runs
// GEMMs through cuBLAS. Everything else of a step (sizes, offsets, the GEMM
// problem list, faults) is host code in the pipeline, shared by both.
//
// Ordering: calls enqueue in call order; only the calls that hand results to
// the host (those with host OUT arguments, and the host views) wait, each
// with the run's timeout. Buffers: *_rows() are the communicator's payload
// buffers, in the memory kind the backend's communicator takes.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/check.h"
#include "kernels/gemm_problems.h"
#include "kernels/wire_row.h"

namespace wideep {

struct KernelShape {
  int ranks = 1, rank = 0;
  int tokens = 0, topk = 0, pairs = 0;  // T, K, P (routed + shared)
  int hidden = 0, ffn = 0;
  int slots = 0;                         // local slots: routed + shared
  DType dtype = DType::kF32;             // compute dtype (activations, grouped buffers): fp32 | bf16
  DType dispatch_dtype = DType::kF32;    // x in the dispatch rows: fp32 | bf16 | fp8 (+ scales)
  DType combine_dtype = DType::kF32;     // the combine rows: fp32 | bf16
  uint64_t seed = 0;
  double timeout_s = 60;
  int64_t recv_rows_capacity = 0;        // initial receive capacity (runtime/step/memory_plan.h)
  int64_t pairs_capacity = 0;
  bool baseline = false;                 // --baseline: keep a packed copy of the send rows
  // --dispatch-mode low-latency: one row per (token, pair) instead of one per
  // (token, destination rank): rows are wire_row(H, 1, dispatch_dtype), the
  // layout runs over T*P single-pair units (unit t*P+p carries pair p of token
  // t), and final_combine sums a token's P returned rows in pair order.
  bool pair_rows = false;
  // --dispatch-mode hierarchical, stage 2 (the forwarder): the tokens are the
  // token parts of received stage-1 rows (forward_tokens), up to `tokens` of
  // them; no activations. Rows carry P pairs as flat ones.
  bool forwarder = false;
};

// The send side of dispatch: either whole packed rows, or rows gathered in
// place (x from the activations, the rest from a tail buffer: two segments).
struct SendRowsView {
  const void* packed = nullptr;              // [send rows x row_bytes], or null
  const void* const* segments = nullptr;     // [send rows x 2] when gathered
  int64_t segment_bytes[2] = {0, 0};
  // With shared exchange memory (host, --transport shm): [send rows x
  // record_bytes], each row's token-part reference (int64) then its tail,
  // for node peers to read in place; null otherwise.
  const void* records = nullptr;
  int64_t record_bytes = 0;
};

class KernelBackend {
 public:
  virtual ~KernelBackend() = default;

  virtual const char* name() const = 0;
  virtual bool device_memory() const = 0;
  const KernelShape& shape() const { return shape_; }
  // The dispatch row (in shape().dispatch_dtype) and the combine row's bytes
  // (in shape().combine_dtype).
  const WireRow& wire() const { return wire_; }
  size_t return_row_bytes() const { return ::wideep::return_row_bytes(shape_.hidden, shape_.combine_dtype); }

  // Receive-side capacity: grows (never shrinks) to hold `rows` received rows
  // and `pairs` grouped pairs; returns the bytes it added (0: it fitted).
  virtual int64_t reserve_receive(int64_t rows, int64_t pairs) = 0;
  // Rows and pairs the receive-side buffers hold now.
  virtual int64_t recv_rows_capacity() const = 0;
  virtual int64_t pairs_capacity() const = 0;
  // Bytes this backend holds now: [0] host, [1] device.
  virtual void allocated_bytes(int64_t* host, int64_t* device) const = 0;

  // route: x [T x H] (compute dtype) of global tokens first_token.. for
  // (step, layer), and its dispatch form (wire dtype; fp8: quantized + scales).
  virtual void activations(int step, int layer, int64_t first_token) = 0;

  // layout: from the pair arrays [T*P] (host), the layout and the send rows.
  // OUT (host, waits) rank_row_offset [R+1].
  virtual void layout(const int32_t* pair_dest, const int32_t* pair_slot, const float* pair_weight,
                      int32_t* rank_row_offset) = 0;
  virtual SendRowsView send_rows() = 0;
  // The send rows packed (the --baseline all-to-allv; needs shape.baseline).
  virtual const void* packed_send_rows() = 0;
  // Send row `row` as host bytes (row_bytes), and back after a fault changed
  // it (the row is then sent from the changed copy; the activations stay).
  virtual void read_send_row(int32_t row, unsigned char* out) = 0;
  virtual void write_send_row(int32_t row, const unsigned char* in) = 0;

  // dispatch receives here: [recv capacity x row_bytes].
  virtual void* recv_rows() = 0;

  // Rows first_row.. of the receive buffer from `rows` send records of a node
  // peer (SendRowsView::records, read where it holds them): each row gets the
  // record's reference in place of its token part, and its tail.
  virtual void receive_records(const void* /*records*/, int64_t /*rows*/, int64_t /*first_row*/) {
    WIDEEP_ASSERT(false, "this backend receives no send records");
  }
  // The received rows of rank r (recv_row_offset[r] .. + recv_rows[r]) carry
  // their token part by reference where by_reference[r] (host, --transport
  // shm: Communicator::start_alltoallv_rows_by_reference); group_by_slot reads
  // it where the sender holds it. Holds until the next call.
  virtual void received_by_reference(const int64_t* recv_row_offset, const int64_t* recv_rows,
                                     const char* by_reference) {
    for (int r = 0; r < shape_.ranks; ++r)
      WIDEEP_ASSERT(!by_reference[r], "this backend receives no rows by reference");
    (void)recv_row_offset;
    (void)recv_rows;
  }

  // expert, first half. OUT (host, waits) slot_pairs [S] of the `rows`
  // received rows; *bad_row = the first row naming a slot outside [-1, S), or -1.
  virtual void count_slots(int rows, int32_t* slot_pairs, int32_t* bad_row) = 0;
  // Copies each pair's x to its slot's block at slot_offset [S+1] (host),
  // converted from the dispatch dtype to the compute dtype (fp8: dequantized).
  virtual void group_by_slot(int rows, const int32_t* slot_offset) = 0;
  // Grouped buffers [pairs x H], [pairs x F], [pairs x H] for the GEMM
  // problems, of grouped_elem_bytes() per element.
  virtual void* grouped_x() = 0;
  virtual void* grouped_h() = 0;
  virtual void* grouped_y() = 0;
  virtual size_t grouped_elem_bytes() const = 0;
  // h = x·W1, SiLU, y = h·W2 over the problem list.
  virtual void run_ffn(const FfnProblems& problems) = 0;
  // expert_rows [rows x return_row_bytes] = each received row's pairs' outputs
  // weighted and summed in pair order (fp32), stored in the combine dtype.
  virtual void partial_combine(int rows) = 0;
  virtual void* expert_rows() = 0;  // the combine's send buffer

  // combine receives here: [send rows x return_row_bytes].
  virtual void* returned_rows() = 0;
  // out [T x H] fp32: each token's returned rows summed in rank order; this
  // rank's own rows are read in expert_rows() (rows own_first..own_end of the
  // layout, starting at expert row own_expert_row), the others in returned_rows(),
  // except that rank r's rows are read at rows_in_place[r] where that is given
  // and not null (host only: a node peer's expert rows where they lie, the
  // first being for this rank's send row rank_row_offset[r]).
  virtual void final_combine(int32_t own_first, int32_t own_end, int64_t own_expert_row,
                             const void* const* rows_in_place) = 0;

  // ---- dispatch modes (runtime/step/hier_plan.h, runtime/step/ll_plan.h) ----
  // Pairs per dispatch row: 1 with pair_rows, else P.
  int row_pairs() const { return shape_.pair_rows ? 1 : shape_.pairs; }
  // Forwarder (shape().forwarder): this layer's tokens are the token parts
  // (the first wire().slot_offset bytes) of `count` rows lying `stride` bytes
  // apart at `rows` (another backend's receive buffer, same memory kind); at
  // most shape().tokens. Replaces activations(); layout() then takes pair
  // arrays [count x P].
  virtual void forward_tokens(const void* rows, size_t stride, int count) = 0;
  // The slot and weight fields [rows x row_pairs()] of the first `rows`
  // received rows, to the host (waits).
  virtual void read_received_meta(int rows, int32_t* slots, float* weights) = 0;
  // out [tokens x H] fp32 of the last final_combine, in this backend's memory.
  virtual const float* output_rows() = 0;
  // expert_rows [rows x return_row_bytes] = src [rows x H] fp32 (this
  // backend's memory kind) in the combine dtype: a forwarder's node sums
  // become the stage-1 combine rows.
  virtual void set_expert_rows(const float* src, int rows) = 0;
  // Moves `rows[i]` received rows from row from_row[i] to row to_row[i] of
  // the receive buffer, i in order (to_row[i] <= from_row[i]; ranges may
  // overlap): low-latency's fixed per-source regions packed together.
  virtual void compact_received(const int64_t* from_row, const int64_t* rows, const int64_t* to_row, int n) = 0;

  // Host views (fp32) of the layer last run; waits.
  virtual const float* input_host() = 0;
  virtual const float* output_host() = 0;

  // Two-batch overlap on the device: each micro-batch's backend runs on a
  // stream of its own, the exchanges on the communicator's. before_exchange()
  // makes the communicator's stream wait for what was enqueued here so far;
  // exchange_started() (right after this batch's exchange was enqueued) marks
  // its end on the communicator's stream; after_exchange() makes this stream
  // wait for that mark, or, with none since the last, for everything
  // enqueued on the communicator's stream so far (EPLB's weight moves): the
  // other micro-batch's exchange enqueued later is not waited for. One
  // stream, or the host: nothing to order.
  virtual void before_exchange() {}
  virtual void exchange_started() {}
  virtual void after_exchange() {}

  // Phase clock: mark(i) at a phase boundary; elapsed_ns after finish().
  virtual void mark(int boundary) = 0;
  virtual void finish(const char* what) = 0;  // waits for everything enqueued
  virtual int64_t elapsed_ns(int from, int to) = 0;

 protected:
  KernelShape shape_;
  WireRow wire_;
};

}  // namespace wideep
