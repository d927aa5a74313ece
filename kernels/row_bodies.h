// Per-element bodies of the step's kernels, shared by the CUDA kernels
// (kernels/*.cu) and the host backend's loops (kernels/host_backend.cc), so
// that CPU tests run the arithmetic the GPU runs. Element types: float, or
// uint16_t holding bf16 bits (kernels/wire_row.h). Every accumulation is fp32
// and in a fixed order (pair order, rank order): results do not depend on how
// the work is spread over threads.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/det_values.h"
#include "kernels/wire_row.h"

namespace wideep {

// Activation of (global token, column) in the wire dtype: token_activation
// rounded once, as the device generates it.
template <typename T>
WIDEEP_HD T activation_elem(uint64_t seed, int step, int layer, int64_t global_token, int col) {
  return float_to_elem<T>(token_activation(seed, step, layer, global_token, col));
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
