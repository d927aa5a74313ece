// Host launchers of wideep's CUDA kernels, DeepEP style: raw device pointers and
// a stream, no CUDA header needed by the caller (a stream is a void* holding a
// cudaStream_t). Every launcher only enqueues on `stream` (nothing waits)
// unless it says so. Defined only when built with CUDA (WIDEEP_HAVE_CUDA).
//
// Shapes: T tokens of this rank, K routed experts per token, P pairs per token
// (K routed + shared), R ranks, H hidden, F ffn, S local slots (routed + shared),
// E logical experts. Activation buffers hold `dtype` elements; weights of the
// pairs and every accumulation are fp32.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/device_layout.h"

namespace wideep {
namespace dev {

using Stream = void*;

// ---- route --------------------------------------------------------------
// x [T x H] (dtype) = token_activation(seed, step, layer, first_token + t, c).
void launch_token_activations(void* x, int T, int H, DType dtype, uint64_t seed, int step,
                              int layer, int64_t first_token, Stream stream);
// counts [E] (int64, zeroed here) = occurrences of each expert in ids [T*K].
void launch_expert_histogram(const int32_t* ids, int T, int K, int E, int64_t* counts,
                             Stream stream);

// ---- layout -------------------------------------------------------------
// From pair_dest_rank [T*P]: a token goes once to every rank one of its pairs
// names. OUT rank_rows [R], rank_row_offset [R+1] (exclusive prefix), for every
// send row (ordered by rank, then token) row_token and row_rank, and token_row
// [T*R]: the send row of (token, rank) or -1. Rows: at most T*min(R,P).
void launch_dispatch_layout(const int32_t* pair_dest_rank, int T, int P, int R, int32_t* rank_rows,
                            int32_t* rank_row_offset, int32_t* row_token, int32_t* row_rank,
                            int32_t* token_row, Stream stream);
// Permute: one wire row (kernels/device_layout.h) per send row into send_buf.
// max_rows bounds the grid; the real count is read from rank_row_offset[R].
void launch_pack_rows(const void* x, int H, int P, int R, DType dtype, const int32_t* rank_row_offset,
                      const int32_t* row_token, const int32_t* row_rank, int max_rows,
                      const int32_t* pair_dest_rank, const int32_t* pair_local_slot,
                      const float* pair_weight, void* send_buf, Stream stream);

// ---- expert -------------------------------------------------------------
// Un-permute, first half: slot_count [S] (zeroed here) = pairs per local slot
// of `rows` received rows; slot_offset [S+1] exclusive prefix; *error (zeroed
// here) = 1 + the first row naming a slot outside [-1, S) (a corrupt row), or 0.
void launch_count_slots(const void* recv_buf, int rows, int H, int P, DType dtype, int S,
                        int32_t* slot_count, int32_t* slot_offset, int32_t* error, Stream stream);
// Second half: copies each pair's x into x_grouped [pairs x H] at its slot's
// block; pair_pos [rows*P] = its index there or -1; pair_row [pairs] = its row.
// cursor [S] is scratch. The order within a slot is arbitrary (atomics); every
// output depends only on pair_pos, so results do not depend on it.
void launch_group_by_slot(const void* recv_buf, int rows, int H, int P, DType dtype, int S,
                          const int32_t* slot_offset, int32_t* cursor, int32_t* pair_pos,
                          int32_t* pair_row, void* x_grouped, Stream stream);
// h [n] = SiLU(h) in place (fp32 math).
void launch_silu(void* h, int64_t n, DType dtype, Stream stream);
// Partial combine: out_rows [rows x return_row_bytes] = sum over the row's
// pairs p (in p order) of w[p] * y[pair_pos[row*P+p]], fp32 accumulation.
void launch_combine_partial(const void* recv_buf, int rows, int H, int P, DType dtype,
                            const int32_t* pair_pos, const void* y_grouped, void* out_rows,
                            Stream stream);
// Final combine: out [T x H] fp32 = sum over r in rank order of
// returned_rows[token_row[t*R+r]] (rows of return_row_bytes, dtype).
void launch_combine_rows(const void* returned_rows, int T, int H, int R, DType dtype,
                         const int32_t* token_row, float* out, Stream stream);

// ---- weights ------------------------------------------------------------
// w1 [H x F] then w2 [F x H] of one logical expert (det_values.h rule), fp32;
// s1 = 1/sqrt(H) and s2 = 1/sqrt(F) are computed by the caller on the host so
// that the device values are bit-identical to the CPU's.
void launch_expert_weights(float* w, uint64_t seed, int layer, int expert, int H, int F, float s1,
                           float s2, Stream stream);
// dst [n] (bf16) = src [n] (fp32), round to nearest even.
void launch_to_bf16(const float* src, void* dst, int64_t n, Stream stream);
// dst [n] (fp32) = src [n] in dtype (a copy for fp32).
void launch_to_f32(const void* src, DType dtype, float* dst, int64_t n, Stream stream);

}  // namespace dev
}  // namespace wideep
