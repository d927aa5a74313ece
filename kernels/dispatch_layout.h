// Per-destination layout of one rank's dispatch: which tokens go to which rank
// (a token whose pairs land on several experts of one rank is sent once), and
// the wire format of a dispatched row. Shared by the CPU and CUDA paths.
//
// A "pair" is (token t, position p) for p in [0, P): the top-k routed experts
// followed by the shared experts. pair_dest_rank[t*P+p] is the rank that runs it
// and pair_local_slot[t*P+p] the slot on that rank (routed slots 0..S-1, shared
// experts S..S+shared-1).
//
// Wire row (row_bytes = 4*(H + 2P)), one per (token, destination rank):
//   | float x[H] | int32 slot[P] (local slot on the destination, -1 unused) | float w[P] |
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace wideep {

inline size_t row_bytes(int hidden, int pairs_per_token) {
  return 4u * (static_cast<size_t>(hidden) + 2u * static_cast<size_t>(pairs_per_token));
}
// The tail of a wire row after x: | int32 slot[P] | float w[P] |.
inline size_t meta_bytes(int pairs_per_token) { return 8u * static_cast<size_t>(pairs_per_token); }

struct DispatchLayout {
  int num_ranks = 0;
  int num_tokens = 0;
  int pairs_per_token = 0;
  std::vector<int32_t> rank_rows;        // [R] rows sent to each rank
  std::vector<int32_t> rank_row_offset;  // [R+1] exclusive prefix of rank_rows
  std::vector<int32_t> row_token;        // [rows] token of each send row, grouped by rank
  std::vector<int32_t> row_rank;         // [rows] destination of each send row
  std::vector<int32_t> token_row_offset; // [T+1] CSR over tokens into token_rows
  std::vector<int32_t> token_rows;       // [rows] each token's send rows, in rank order
  int32_t total_rows = 0;

  // Reserves the worst case (every token to every rank) once; build() never allocates.
  void init(int num_ranks, int num_tokens, int pairs_per_token);
};

// Fills `out` from pair_dest_rank [T*P]. Rows are ordered by destination rank,
// then token. Tokens of a rank keep their order.
void build_layout(const int32_t* pair_dest_rank, DispatchLayout* out);

// Permute: writes one wire row per send row into send_buf (layout.total_rows rows).
// x [T*H] activations; pair_local_slot, pair_weight, pair_dest_rank [T*P].
void pack_rows(const DispatchLayout& layout, const float* x, int hidden,
               const int32_t* pair_dest_rank, const int32_t* pair_local_slot,
               const float* pair_weight, unsigned char* send_buf);

// The metadata half of the permute, for a send that gathers x rows in place
// (Communicator::alltoallv_rows): meta_bytes(P) per send row into meta_buf.
void pack_meta(const DispatchLayout& layout, const int32_t* pair_dest_rank,
               const int32_t* pair_local_slot, const float* pair_weight, unsigned char* meta_buf);

}  // namespace wideep
