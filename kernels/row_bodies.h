// Per-element bodies of the step's kernels, shared by the CUDA kernels
// (kernels/*.cu) and the host backend's loops (kernels/host_kernels.cc), so
// that CPU tests run the arithmetic the GPU runs. Element types: float, or
// uint16_t holding bf16 bits (kernels/wire_row.h); dispatch rows may also carry
// x as fp8 e4m3 bytes with per-128-channel scales. Every accumulation is fp32
// and in a fixed order (pair order, rank order): results do not depend on how
// the work is spread over threads. The fp8 quantization (amax, scale, e4m3) is
// exact integer and IEEE arithmetic with no order dependence, so the host, the
// device and the --check reference (runtime/check/reference.cc) agree bit for bit.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/det_values.h"
#include "kernels/wire_row.h"

namespace wideep {

// Activation of (global token, column) in the wire dtype: token_activation
// rounded once, as the device generates it.
template <typename T>
WIDEEP_HD T activation_elem(uint64_t seed, int step, int layer, int64_t global_token, int col) {
  return float_to_elem<T>(token_activation(seed, step, layer, global_token, col));
}

// ---- x on the wire (dispatch rows, kernels/wire_row.h) -------------------
// A group's largest magnitude, one value at a time (NaN never wins: the
// result does not depend on the order the values come in).
WIDEEP_HD float fp8_amax_step(float amax, float v) {
  const float a = fabsf(v);
  return a > amax ? a : amax;
}
// The scale of an fp8 group: its amax maps to e4m3's largest finite value.
WIDEEP_HD float fp8_scale(float amax) { return amax > 0.0f ? amax / 448.0f : 1.0f; }
WIDEEP_HD uint8_t fp8_quantize(float v, float scale) { return float_to_e4m3(v / scale); }
WIDEEP_HD float fp8_dequantize(uint8_t q, float scale) { return e4m3_to_float(q) * scale; }

// Channel c of a received dispatch row's x, as fp32 (dequantized for fp8).
WIDEEP_HD float wire_x_value(const unsigned char* row, const WireRow& wr, int c) {
  if (wr.dtype == DType::kF32) return reinterpret_cast<const float*>(row)[c];
  if (wr.dtype == DType::kBF16) return bf16_to_float(reinterpret_cast<const uint16_t*>(row)[c]);
  return fp8_dequantize(row[c], reinterpret_cast<const float*>(row + wr.scale_offset)[c / kFp8Group]);
}

// The token part of a dispatch row (its first wr.slot_offset bytes: x in the
// row's dtype, zero padding, fp8 scales) from x [H] held in element type T
// (the compute dtype). Host loop; the device runs the same bodies in parallel
// (kernels/layout_kernels.cu).
template <typename T>
inline void write_token_part(const T* x, int H, const WireRow& wr, unsigned char* out) {
  std::memset(out, 0, wr.slot_offset);
  if (wr.dtype == DType::kF32) {
    float* o = reinterpret_cast<float*>(out);
    for (int c = 0; c < H; ++c) o[c] = elem_to_float(x[c]);
  } else if (wr.dtype == DType::kBF16) {
    uint16_t* o = reinterpret_cast<uint16_t*>(out);
    for (int c = 0; c < H; ++c) o[c] = float_to_bf16(elem_to_float(x[c]));
  } else {
    float* scales = reinterpret_cast<float*>(out + wr.scale_offset);
    for (int g = 0; g < fp8_groups(H); ++g) {
      const int c0 = g * kFp8Group, c1 = c0 + kFp8Group < H ? c0 + kFp8Group : H;
      float amax = 0.0f;
      for (int c = c0; c < c1; ++c) amax = fp8_amax_step(amax, elem_to_float(x[c]));
      const float scale = fp8_scale(amax);
      scales[g] = scale;
      for (int c = c0; c < c1; ++c) out[c] = fp8_quantize(elem_to_float(x[c]), scale);
    }
  }
}

// The value of a value in the compute dtype (fp32 or bf16) as stored there.
WIDEEP_HD float round_to(DType compute, float v) { return compute == DType::kBF16 ? round_bf16(v) : v; }

// x [H] (fp32 values) as the experts receive it: rounded to the compute dtype
// where the sender holds it, through the wire format wr, and stored in the
// compute dtype where the receiver groups it. `scratch`: wr.slot_offset bytes.
// The --check reference's input (runtime/check/reference.cc).
inline void wire_roundtrip(const float* x, int H, DType compute, const WireRow& wr, unsigned char* scratch,
                           float* out) {
  for (int c = 0; c < H; ++c) out[c] = round_to(compute, x[c]);
  write_token_part(out, H, wr, scratch);
  for (int c = 0; c < H; ++c) out[c] = round_to(compute, wire_x_value(scratch, wr, c));
}

// ---- dispatch layout (kernels/layout_kernels.cu) -------------------------
// The device builds build_layout()'s arrays (kernels/dispatch_layout.h) in
// parallel over tokens, in chunks of kLayoutChunk tokens (one thread each),
// through the scratch token_row [R x T], rank-major: entry r*T + t is the
// send row of (token t, rank r), or -1. Before the fill, the head of chunk c
// of rank r (entry layout_chunk_head) holds the chunk's token count for r,
// then, scanned over (rank, chunk) in order, the chunk's first row.
constexpr int kLayoutChunk = 256;

WIDEEP_HD int layout_chunks(int T) { return (T + kLayoutChunk - 1) / kLayoutChunk; }
// Scan entry i = r * chunks + c (rank-major) lies at r*T + c*kLayoutChunk.
WIDEEP_HD size_t layout_chunk_head(int i, int chunks, int T) {
  return static_cast<size_t>(i / chunks) * T + static_cast<size_t>(i % chunks) * kLayoutChunk;
}
// Whether a token with pair destinations dest [P] sends a row to rank r
// (once, however many of its pairs go there; -1 goes nowhere).
WIDEEP_HD bool layout_goes_to(const int32_t* dest, int P, int r) {
  for (int p = 0; p < P; ++p)
    if (dest[p] == r) return true;
  return false;
}
// The token's smallest destination above `after` (below R), or R: its
// destinations in rank order, without storage.
WIDEEP_HD int layout_next_rank(const int32_t* dest, int P, int after, int R) {
  int next = R;
  for (int p = 0; p < P; ++p)
    if (dest[p] > after && dest[p] < next) next = dest[p];
  return next;
}
// token_rows [P] of token t: its send rows in rank order (from the filled
// token_row), -1 after the last.
WIDEEP_HD void layout_token_rows(const int32_t* dest, int P, int R, const int32_t* token_row, int T, int t,
                                 int32_t* out) {
  int n = 0;
  for (int r = layout_next_rank(dest, P, -1, R); r < R; r = layout_next_rank(dest, P, r, R))
    out[n++] = token_row[static_cast<size_t>(r) * T + t];
  for (; n < P; ++n) out[n] = -1;
}

// Pair p of a send row towards `dest_rank`: its local slot and gate weight
// where the pair goes there, -1 and 0 where it goes elsewhere.
WIDEEP_HD void row_meta_pair(const int32_t* pair_dest, const int32_t* pair_slot, const float* pair_weight,
                             int p, int32_t dest_rank, int32_t* slots, float* weights) {
  const bool here = pair_dest[p] == dest_rank;
  slots[p] = here ? pair_slot[p] : -1;
  weights[p] = here ? pair_weight[p] : 0.0f;
}

// SiLU in fp32 (h / (1 + e^-h)), stored back in the element type.
template <typename T>
WIDEEP_HD T silu_elem(T h) {
  const float v = elem_to_float(h);
  return float_to_elem<T>(v / (1.0f + expf(-v)));
}

// Partial combine of one received row, column c: sum over its pairs in pair
// order of w[p] * y[pair_pos[p]][c]; pair_pos[p] < 0 for unused pairs.
template <typename T>
WIDEEP_HD float partial_combine_elem(const int32_t* pair_pos, const float* w, int P, const T* y, int H, int c) {
  float acc = 0.0f;
  for (int p = 0; p < P; ++p)
    if (pair_pos[p] >= 0) acc += w[p] * elem_to_float(y[static_cast<size_t>(pair_pos[p]) * H + c]);
  return acc;
}

// Where returned row `row` lies: this rank's own rows stay where its experts
// wrote them (own_rows, its block starting at row own_first), every other
// rank's rows arrived in `returned`, at their send-row index.
WIDEEP_HD const unsigned char* returned_row_ptr(const unsigned char* returned, const unsigned char* own_rows,
                                                int32_t own_first, int32_t own_end, int32_t row,
                                                size_t row_bytes) {
  return row >= own_first && row < own_end ? own_rows + static_cast<size_t>(row - own_first) * row_bytes
                                           : returned + static_cast<size_t>(row) * row_bytes;
}

// Final combine of token t, column c: its returned rows (token_rows [P], rank
// order, -1 after the last) summed in rank order in fp32.
template <typename T>
WIDEEP_HD float final_combine_elem(const int32_t* token_rows, int P, const unsigned char* returned,
                                   const unsigned char* own_rows, int32_t own_first, int32_t own_end,
                                   size_t row_bytes, int c) {
  float acc = 0.0f;
  for (int i = 0; i < P && token_rows[i] >= 0; ++i)
    acc += elem_to_float(reinterpret_cast<const T*>(
        returned_row_ptr(returned, own_rows, own_first, own_end, token_rows[i], row_bytes))[c]);
  return acc;
}

}  // namespace wideep
