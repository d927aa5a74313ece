// Host-side shapes of the device path (no CUDA headers, always compiled, unit
// tested on the CPU): the device dtype, the device wire row, and DevicePlan,
// the sizes of every buffer a rank allocates once at the worst case.
//
// Device wire row (one per (token, destination rank)), row_bytes bytes:
//   | x[H] in dtype (fp32 or bf16), padded to 16 B | int32 slot[P] | float w[P] | pad to 16 B |
// slot[p] is the local slot on the destination or -1, w[p] the gate weight (0
// where unused), as in the CPU row (kernels/dispatch_layout.h). With fp32, an H
// that is a multiple of 4 and an even P, the device row equals the CPU row byte
// for byte. Combine rows (expert outputs going back) are x-only: H values in
// dtype padded to 16 B (return_row_bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace wideep {

enum class DType : int { kF32 = 0, kBF16 = 1 };

inline size_t dtype_bytes(DType d) { return d == DType::kF32 ? 4 : 2; }
const char* dtype_name(DType d);
// "fp32" | "f32" | "bf16"; throws UsageError naming `what` otherwise.
DType parse_dtype(const std::string& text, const char* what);

inline size_t round_up16(size_t n) { return (n + 15) & ~static_cast<size_t>(15); }

struct WireRow {
  size_t x_bytes = 0;     // H * dtype bytes, padded to 16
  size_t slot_offset = 0; // byte offset of int32 slot[P]
  size_t weight_offset = 0;
  size_t row_bytes = 0;   // multiple of 16
};
WireRow wire_row(int hidden, int pairs_per_token, DType dtype);
inline size_t return_row_bytes(int hidden, DType dtype) {
  return round_up16(static_cast<size_t>(hidden) * dtype_bytes(dtype));
}

// Every buffer of DeviceMoeRunner, sized once for the worst case:
//   send rows    T * min(R, P)   (a token goes once to each destination rank)
//   receive rows R * T           (every rank sends each of its tokens here)
//   pairs        R * T * P       (a received row carries at most P pairs)
// The constructor validates that every index fits the int32 used by kernels
// and throws UsageError naming the shape when not.
struct DevicePlan {
  DevicePlan(int ranks, int tokens, int pairs_per_token, int hidden, int ffn, int num_slots,
             int experts, int topk, DType dtype);

  int ranks, tokens, pairs, hidden, ffn, slots, experts, topk;
  DType dtype;
  WireRow row;
  size_t return_row = 0;
  int64_t max_send_rows = 0, max_recv_rows = 0, max_pairs = 0;

  // Bytes of each device buffer.
  size_t x_bytes() const { return static_cast<size_t>(tokens) * hidden * dtype_bytes(dtype); }
  size_t out_bytes() const { return static_cast<size_t>(tokens) * hidden * 4; }
  size_t send_bytes() const { return static_cast<size_t>(max_send_rows) * row.row_bytes; }
  size_t recv_bytes() const { return static_cast<size_t>(max_recv_rows) * row.row_bytes; }
  size_t expert_rows_bytes() const { return static_cast<size_t>(max_recv_rows) * return_row; }
  size_t returned_rows_bytes() const { return static_cast<size_t>(max_send_rows) * return_row; }
  size_t grouped_x_bytes() const { return static_cast<size_t>(max_pairs) * hidden * dtype_bytes(dtype); }
  size_t grouped_h_bytes() const { return static_cast<size_t>(max_pairs) * ffn * dtype_bytes(dtype); }
  size_t grouped_y_bytes() const { return grouped_x_bytes(); }
  size_t total_bytes() const;  // all of the above plus routing and layout arrays
};

// bf16 <-> fp32 on the host, bit-exact with the device's __float2bfloat16_rn
// (round to nearest even; NaN stays NaN) and __bfloat162float.
inline uint16_t float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
inline float bf16_to_float(uint16_t b) {
  const uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

}  // namespace wideep
