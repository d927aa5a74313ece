// Per-destination layout of one rank's dispatch (host): which tokens go to
// which rank (a token whose pairs land on several experts of one rank is sent
// once) and where each send row lies. The CUDA layout kernels produce the same
// arrays in the same order (kernels/layout_kernels.cu).
//
// A "pair" is (token t, position p) for p in [0, P): the top-k routed experts
// followed by the shared experts. pair_dest_rank[t*P+p] is the rank that runs
// it and pair_local_slot[t*P+p] the slot there (routed slots 0..S-1, shared
// experts after them). Send rows are ordered by destination rank, then token.
// A destination of -1 means the pair goes nowhere (a hierarchical forwarder's
// rows carry only the pairs of its node, runtime/step/hier_plan.h): it adds no row.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/wire_row.h"

namespace wideep {

struct DispatchLayout {
  int num_ranks = 0;
  int num_tokens = 0;
  int pairs_per_token = 0;
  std::vector<int32_t> rank_rows;        // [R] rows sent to each rank
  std::vector<int32_t> rank_row_offset;  // [R+1] exclusive prefix of rank_rows
  std::vector<int32_t> row_token;        // [rows] token of each send row
  std::vector<int32_t> row_rank;         // [rows] destination of each send row
  std::vector<int32_t> token_rows;       // [T*P] each token's send rows in rank order, -1 after the last
  int32_t total_rows = 0;

  // Reserves the worst case (every token to min(R, P) ranks) once; build_layout never allocates.
  void init(int num_ranks, int num_tokens, int pairs_per_token);
};

// Fills `out` from pair_dest_rank [T*P].
void build_layout(const int32_t* pair_dest_rank, DispatchLayout* out);

// Pairs sent to each rank [R] (what the receiver will group by slot).
void rank_pair_counts(const int32_t* pair_dest_rank, int T, int P, int R, int64_t* pairs);

// The bytes of send row `row` after its first x_value_bytes bytes (H * dtype
// bytes, or any length up to wr.slot_offset: the token part of
// kernels/row_bodies.h write_token_part): the rest of x's padding, slot[P],
// w[P], tail padding (kernels/wire_row.h), into `tail` (wr.row_bytes -
// x_value_bytes bytes).
void write_row_tail(const DispatchLayout& layout, const WireRow& wr, size_t x_value_bytes, int32_t row,
                    const int32_t* pair_dest_rank, const int32_t* pair_local_slot, const float* pair_weight,
                    unsigned char* tail);

// Permute: one whole wire row per send row into send_buf; x [T x H] in the
// wire dtype (x_value_bytes per token, as write_row_tail's).
void pack_rows(const DispatchLayout& layout, const WireRow& wr, const void* x, size_t x_value_bytes,
               const int32_t* pair_dest_rank, const int32_t* pair_local_slot, const float* pair_weight,
               unsigned char* send_buf);

}  // namespace wideep
