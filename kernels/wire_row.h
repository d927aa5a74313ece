// The wire formats of dispatch and combine, one for both kernel backends (host
// and CUDA), and the element types they carry (fp32, bf16 as raw uint16 bits).
//
// Dispatch row (one per (token, destination rank)), row_bytes bytes:
//   | x[H] in dtype, padded to 16 B | int32 slot[P] | float w[P] | pad to 16 B |
// slot[p] is the local slot on the destination or -1, w[p] the gate weight (0
// where unused). Padding bytes are zero. Combine rows (expert outputs going
// back) are x-only: H values in dtype padded to 16 B (return_row_bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "kernels/det_values.h"  // WIDEEP_HD

namespace wideep {

enum class DType : int { kF32 = 0, kBF16 = 1 };

WIDEEP_HD size_t dtype_bytes(DType d) { return d == DType::kF32 ? 4 : 2; }
const char* dtype_name(DType d);
// "fp32" | "f32" | "bf16"; throws UsageError naming `what` otherwise.
DType parse_dtype(const std::string& text, const char* what);

WIDEEP_HD size_t round_up16(size_t n) { return (n + 15) & ~static_cast<size_t>(15); }

struct WireRow {
  size_t x_bytes = 0;      // H * dtype bytes, padded to 16
  size_t slot_offset = 0;  // byte offset of int32 slot[P]
  size_t weight_offset = 0;
  size_t row_bytes = 0;    // multiple of 16
};
WireRow wire_row(int hidden, int pairs_per_token, DType dtype);
inline size_t return_row_bytes(int hidden, DType dtype) {
  return round_up16(static_cast<size_t>(hidden) * dtype_bytes(dtype));
}

// bf16 <-> fp32, bit-exact with CUDA's __float2bfloat16_rn (round to nearest
// even; NaN stays NaN) and __bfloat162float, on host and device alike.
WIDEEP_HD uint16_t float_to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
WIDEEP_HD float bf16_to_float(uint16_t b) {
  const uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}
// The value a float has after a trip through bf16.
WIDEEP_HD float round_bf16(float f) { return bf16_to_float(float_to_bf16(f)); }

// Element access by storage type: float, or uint16_t holding bf16 bits.
WIDEEP_HD float elem_to_float(float v) { return v; }
WIDEEP_HD float elem_to_float(uint16_t v) { return bf16_to_float(v); }
template <typename T>
WIDEEP_HD T float_to_elem(float v);
template <>
WIDEEP_HD float float_to_elem<float>(float v) { return v; }
template <>
WIDEEP_HD uint16_t float_to_elem<uint16_t>(float v) { return float_to_bf16(v); }

}  // namespace wideep
