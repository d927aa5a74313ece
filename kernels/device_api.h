// Host launchers of wideep's CUDA kernels, DeepEP style: raw device pointers and
// a stream, no CUDA header needed by the caller (a stream is a void* holding a
// cudaStream_t). Every launcher only enqueues on `stream` (nothing waits).
// Defined only when built with CUDA (WIDEEP_HAVE_CUDA). The per-element work
// is kernels/row_bodies.h, shared with the host backend.
//
// Shapes: T tokens of this rank, P pairs per token (K routed + shared), R
// ranks, H hidden, F ffn, S local slots (routed + shared). Activation and
// grouped buffers hold `compute` elements (fp32, or bf16 as raw 16-bit
// patterns); dispatch rows carry x in their wire dtype (fp32, bf16, or fp8
// e4m3 with per-128-channel scales), combine rows are in the combine dtype.
// Pair weights and every accumulation are fp32. Wire rows: kernels/wire_row.h.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/wire_row.h"

namespace wideep {
namespace dev {

using Stream = void*;

// ---- route --------------------------------------------------------------
// x [T x H] (dtype) = activation_elem(seed, step, layer, first_token + t, c).
void launch_token_activations(void* x, int T, int H, DType dtype, uint64_t seed, int step, int layer,
                              int64_t first_token, Stream stream);

// ---- layout -------------------------------------------------------------
// From pair_dest_rank [T*P]: a token goes once to every rank one of its pairs
// names. OUT rank_rows [R], rank_row_offset [R+1] (exclusive prefix), for every
// send row (ordered by rank, then token) row_token and row_rank, token_row
// [R*T] (rank-major: the send row of (token t, rank r) at r*T + t, or -1;
// scratch) and token_rows [T*P] (each token's rows in rank order, -1 after
// the last), as build_layout(). Parallel over tokens (kernels/row_bodies.h).
void launch_dispatch_layout(const int32_t* pair_dest_rank, int T, int P, int R, int32_t* rank_rows,
                            int32_t* rank_row_offset, int32_t* row_token, int32_t* row_rank, int32_t* token_row,
                            int32_t* token_rows, Stream stream);
// The token parts of the dispatch rows (kernels/row_bodies.h write_token_part):
// out [T x wr.slot_offset] = x [T x H] (compute) in wr's dtype, zero padding,
// fp8 scales (amax per 128 channels / 448); bit-identical to the host's.
void launch_wire_tokens(const void* x, int T, int H, DType compute, const WireRow& wr, void* out, Stream stream);
// Permute: one wire row per send row into send_buf. Send row `row` takes
// token_bytes bytes at tokens + (row_token[row] / fanout) * token_stride (x in
// the wire dtype unpadded, the whole token part of launch_wire_tokens, or a
// hierarchical forwarder's received row); the rest of the row up to
// wr.slot_offset is zeroed. Layout units: a token (fanout 1) or, with
// low-latency single-pair rows, one of its P pairs (fanout P, P = 1 here);
// the pair arrays are the units'. max_rows bounds the grid; the real count is
// read from rank_row_offset[R].
void launch_pack_rows(const void* tokens, size_t token_bytes, size_t token_stride, int fanout, int P, int R,
                      const WireRow& wr, const int32_t* rank_row_offset, const int32_t* row_token,
                      const int32_t* row_rank, int max_rows, const int32_t* pair_dest_rank,
                      const int32_t* pair_local_slot, const float* pair_weight, void* send_buf, Stream stream);
// dst [rows x width] (host, pitch dst_pitch) = `width` bytes of each of `rows`
// device rows src_pitch apart (a received row's slot or weight field).
// Enqueued only: the caller waits before reading dst.
void copy_rows_to_host(void* dst, size_t dst_pitch, const void* src, size_t src_pitch, size_t width, int rows,
                       Stream stream);

// ---- expert -------------------------------------------------------------
// slot_count [S] (zeroed here) = pairs per local slot of `rows` received rows
// (of wire dtype `wire`); *first_bad (set to -1, all ones, here) = the
// smallest row naming a slot outside [-1, S), or stays -1.
void launch_count_slots(const void* recv_buf, int rows, int H, int P, DType wire, int S, int32_t* slot_count,
                        int32_t* first_bad, Stream stream);
// Copies each pair's x into x_grouped [pairs x H] (compute) at its slot's
// block (slot_offset [S+1], device), converted from the wire dtype (fp8:
// dequantized); pair_pos [rows*P] = its index there or -1.
// cursor [S] is scratch. The order within a slot is arbitrary (atomics); every
// output depends only on pair_pos, so results do not depend on it.
void launch_group_by_slot(const void* recv_buf, int rows, int H, int P, DType wire, DType compute, int S,
                          const int32_t* slot_offset, int32_t* cursor, int32_t* pair_pos, void* x_grouped,
                          Stream stream);
// h [n] = SiLU(h) in place (fp32 math).
void launch_silu(void* h, int64_t n, DType dtype, Stream stream);
// Partial combine: out_rows [rows x return_row_bytes(H, combine)] = sum over
// the row's pairs p (in p order) of w[p] * y[pair_pos[row*P+p]] (y in
// compute), fp32 accumulation, stored in `combine`, padding zeroed; w from
// the received rows (wire dtype `wire`).
void launch_combine_partial(const void* recv_buf, int rows, int H, int P, DType wire, DType compute,
                            DType combine, const int32_t* pair_pos, const void* y_grouped, void* out_rows,
                            Stream stream);
// out_rows [rows x return_row_bytes(H, combine)] = src [rows x H] fp32 in the
// combine dtype (a hierarchical forwarder's node sums become its stage-1
// combine rows), padding zeroed.
void launch_rows_from_f32(const float* src, int rows, int H, DType combine, void* out_rows, Stream stream);
// Final combine: out [T x H] fp32 = sum in rank order of each token's returned
// rows (token_rows [T*P], in `combine`); rows own_first..own_end are read at
// own_rows (this rank's expert rows), the others at returned_rows[row].
void launch_final_combine(const void* returned_rows, const void* own_rows, int32_t own_first, int32_t own_end,
                          int T, int H, int P, DType combine, const int32_t* token_rows, float* out, Stream stream);

// ---- weights ------------------------------------------------------------
// w1 [H x F] then w2 [F x H] of one logical expert (det_values.h rule), fp32;
// s1 = 1/sqrt(H) and s2 = 1/sqrt(F) are computed by the caller on the host so
// that the device values are bit-identical to the CPU's.
void launch_expert_weights(float* w, uint64_t seed, int layer, int expert, int H, int F, float s1, float s2,
                           Stream stream);
// dst [n] (bf16) = src [n] (fp32), round to nearest even.
void launch_to_bf16(const float* src, void* dst, int64_t n, Stream stream);
// dst [n] (fp32) = src [n] in dtype (a copy for fp32).
void launch_to_f32(const void* src, DType dtype, float* dst, int64_t n, Stream stream);

}  // namespace dev
}  // namespace wideep
