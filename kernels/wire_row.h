// The wire formats of dispatch and combine, one for both kernel backends (host
// and CUDA), and the element types they carry (fp32, bf16 as raw uint16 bits,
// fp8 e4m3 as raw bytes with one fp32 scale per 128 channels, as DeepEP).
//
// Dispatch row (one per (token, destination rank)), row_bytes bytes:
//   | x[H] in the dispatch dtype, padded to 16 B | fp8 only: float scale[G],
//   padded to 16 B | int32 slot[P] | float w[P] | pad to 16 B |
// G = ceil(H / 128) groups of 128 channels; scale[g] = amax(x of group g) / 448
// (1 where amax is 0), x_fp8 = e4m3(x / scale[g]); the receiver dequantizes
// e4m3_to_float(q) * scale[g] (kernels/row_bodies.h). slot[p] is the local slot
// on the destination or -1, w[p] the gate weight (0 where unused). Padding
// bytes are zero. Combine rows (expert outputs going back) are x-only: H values
// in the combine dtype (fp32 or bf16) padded to 16 B (return_row_bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "kernels/det_values.h"  // WIDEEP_HD

namespace wideep {

// kFP8 is a wire dtype only (dispatch rows): compute is fp32 or bf16.
enum class DType : int { kF32 = 0, kBF16 = 1, kFP8 = 2 };

WIDEEP_HD size_t dtype_bytes(DType d) { return d == DType::kF32 ? 4 : (d == DType::kBF16 ? 2 : 1); }
const char* dtype_name(DType d);
// "fp32" | "f32" | "bf16", and "fp8" where allow_fp8; throws UsageError naming `what` otherwise.
DType parse_dtype(const std::string& text, const char* what, bool allow_fp8 = false);
// A wire dtype option (--dispatch-dtype, --combine-dtype): "auto" is the run's
// dtype `run`, anything else as parse_dtype.
DType resolve_wire_dtype(const std::string& text, DType run, const char* what, bool allow_fp8);

WIDEEP_HD size_t round_up16(size_t n) { return (n + 15) & ~static_cast<size_t>(15); }

constexpr int kFp8Group = 128;  // channels per fp8 scale
WIDEEP_HD int fp8_groups(int hidden) { return (hidden + kFp8Group - 1) / kFp8Group; }

struct WireRow {
  DType dtype = DType::kF32;  // of x (the dispatch dtype)
  size_t x_bytes = 0;         // H * dtype bytes, padded to 16
  size_t scale_offset = 0;    // byte offset of float scale[G] (fp8; = x_bytes otherwise)
  size_t scale_bytes = 0;     // 4 * G padded to 16 (fp8), else 0
  size_t slot_offset = 0;     // byte offset of int32 slot[P]
  size_t weight_offset = 0;
  size_t row_bytes = 0;       // multiple of 16
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

// fp32 -> e4m3 (OCP FP8 E4M3FN: bias 7, no infinities, NaN = S.1111.111, max
// finite 448, subnormals m * 2^-9): round to nearest even, saturating (|f| >=
// 448 and infinities give +-448), NaN stays NaN (0x7f, sign dropped as CUDA does). Integer
// arithmetic only, so that host and device agree bit for bit (it equals CUDA's
// __nv_cvt_float_to_fp8(f, __NV_SATFINITE, __NV_E4M3): kernels/wire_row_test.cc).
WIDEEP_HD uint8_t float_to_e4m3(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  const uint8_t sign = static_cast<uint8_t>((u >> 24) & 0x80u);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return 0x7fu;  // NaN
  if (a >= 0x43e00000u) return sign | 0x7eu;  // >= 448 (and inf): saturate
  const int exp = static_cast<int>(a >> 23) - 127;
  if (exp >= -6) {
    // Normal in e4m3: keep 3 of the 23 mantissa bits, rounding to nearest even;
    // a carry into the exponent is right, and |f| < 448 never rounds past 0x7e.
    const uint32_t r = a + 0x7ffffu + ((a >> 20) & 1u);
    return sign | static_cast<uint8_t>((r >> 20) - (120u << 3));
  }
  // Subnormal in e4m3 (or zero): m = |f| * 2^9 rounded to nearest even, 0..8
  // (8 is the smallest normal, code 0x08, which is m itself).
  const uint32_t sig = (a >> 23) ? ((a & 0x7fffffu) | 0x800000u) : (a & 0x7fffffu);
  const int shift = 14 - ((a >> 23) ? exp : -126);  // |f| * 2^9 = sig * 2^-shift; shift > 20
  if (shift > 25) return sign;                      // below 2^-11: rounds to zero
  const uint32_t m = sig >> shift, rem = sig & ((1u << shift) - 1u), half = 1u << (shift - 1);
  return sign | static_cast<uint8_t>(m + ((rem > half || (rem == half && (m & 1u))) ? 1u : 0u));
}
WIDEEP_HD float e4m3_to_float(uint8_t q) {
  const uint32_t sign = static_cast<uint32_t>(q & 0x80u) << 24;
  const uint32_t e = (q >> 3) & 0xfu, m = q & 7u;
  uint32_t u;
  if (e == 0xfu && m == 7u) {
    u = sign | 0x7fc00000u;  // NaN
  } else if (e == 0) {
    float v = static_cast<float>(m) * (1.0f / 512);  // exact
    memcpy(&u, &v, 4);
    u |= sign;
  } else {
    u = sign | ((e + 120u) << 23) | (m << 20);
  }
  float f;
  memcpy(&f, &u, 4);
  return f;
}

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
