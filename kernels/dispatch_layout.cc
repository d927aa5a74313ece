// CPU build of the per-destination dispatch layout and the permute into wire rows.
#include "kernels/dispatch_layout.h"

#include <algorithm>
#include <cstring>

#include "common/check.h"

namespace wideep {

void DispatchLayout::init(int r, int t, int p) {
  num_ranks = r;
  num_tokens = t;
  pairs_per_token = p;
  const size_t worst_rows = static_cast<size_t>(t) * static_cast<size_t>(r < p ? r : p);
  rank_rows.assign(r, 0);
  rank_row_offset.assign(r + 1, 0);
  row_token.assign(worst_rows, 0);
  row_rank.assign(worst_rows, 0);
  token_row_offset.assign(static_cast<size_t>(t) + 1, 0);
  token_rows.assign(worst_rows, 0);
  total_rows = 0;
}

namespace {
// True when an earlier pair of the same token already goes to `dest`.
inline bool seen_before(const int32_t* dests, int p, int32_t dest) {
  for (int q = 0; q < p; ++q)
    if (dests[q] == dest) return true;
  return false;
}
}  // namespace

void build_layout(const int32_t* pair_dest_rank, DispatchLayout* out) {
  const int R = out->num_ranks, T = out->num_tokens, P = out->pairs_per_token;
  std::fill(out->rank_rows.begin(), out->rank_rows.end(), 0);
  for (int t = 0; t < T; ++t) {
    const int32_t* d = pair_dest_rank + static_cast<size_t>(t) * P;
    for (int p = 0; p < P; ++p) {
      WIDEEP_ASSERT(d[p] >= 0 && d[p] < R, "pair destination out of range");
      if (!seen_before(d, p, d[p])) ++out->rank_rows[d[p]];
    }
  }
  out->rank_row_offset[0] = 0;
  for (int r = 0; r < R; ++r) out->rank_row_offset[r + 1] = out->rank_row_offset[r] + out->rank_rows[r];
  out->total_rows = out->rank_row_offset[R];
  // Second pass fills rows in token order within each destination.
  std::vector<int32_t>& cursor = out->rank_rows;  // reused as fill cursor, restored below
  for (int r = 0; r < R; ++r) cursor[r] = out->rank_row_offset[r];
  for (int t = 0; t < T; ++t) {
    const int32_t* d = pair_dest_rank + static_cast<size_t>(t) * P;
    for (int p = 0; p < P; ++p) {
      if (seen_before(d, p, d[p])) continue;
      const int32_t row = cursor[d[p]]++;
      out->row_token[row] = t;
      out->row_rank[row] = d[p];
    }
  }
  for (int r = 0; r < R; ++r) out->rank_rows[r] = out->rank_row_offset[r + 1] - out->rank_row_offset[r];
  // Each token's rows in rank order: rows are rank-major, so a stable pass keeps it.
  std::vector<int32_t>& off = out->token_row_offset;
  std::fill(off.begin(), off.end(), 0);
  for (int32_t row = 0; row < out->total_rows; ++row) ++off[out->row_token[row] + 1];
  for (int t = 0; t < T; ++t) off[t + 1] += off[t];
  for (int32_t row = 0; row < out->total_rows; ++row) out->token_rows[off[out->row_token[row]]++] = row;
  for (int t = T; t > 0; --t) off[t] = off[t - 1];  // the fill advanced every start by one token
  off[0] = 0;
}

namespace {
// | int32 slot[P] | float w[P] | of one send row: the token's pairs that go to
// the row's destination, -1 / 0 for the others.
inline void write_meta(const DispatchLayout& layout, int32_t row, const int32_t* pair_dest_rank,
                       const int32_t* pair_local_slot, const float* pair_weight, unsigned char* meta) {
  const int P = layout.pairs_per_token;
  const int32_t dest = layout.row_rank[row];
  const size_t base = static_cast<size_t>(layout.row_token[row]) * P;
  // 4-byte aligned: meta follows H floats in a row, or starts an 8P-byte slice.
  int32_t* slots = reinterpret_cast<int32_t*>(meta);
  float* weights = reinterpret_cast<float*>(slots + P);
  for (int p = 0; p < P; ++p) {
    const bool here = pair_dest_rank[base + p] == dest;
    slots[p] = here ? pair_local_slot[base + p] : -1;
    weights[p] = here ? pair_weight[base + p] : 0.0f;
  }
}
}  // namespace

void pack_rows(const DispatchLayout& layout, const float* x, int hidden,
               const int32_t* pair_dest_rank, const int32_t* pair_local_slot,
               const float* pair_weight, unsigned char* send_buf) {
  const size_t rb = row_bytes(hidden, layout.pairs_per_token);
  for (int32_t row = 0; row < layout.total_rows; ++row) {
    unsigned char* out = send_buf + rb * row;
    std::memcpy(out, x + static_cast<size_t>(layout.row_token[row]) * hidden, sizeof(float) * hidden);
    write_meta(layout, row, pair_dest_rank, pair_local_slot, pair_weight, out + sizeof(float) * hidden);
  }
}

void pack_meta(const DispatchLayout& layout, const int32_t* pair_dest_rank,
               const int32_t* pair_local_slot, const float* pair_weight, unsigned char* meta_buf) {
  const size_t mb = meta_bytes(layout.pairs_per_token);
  for (int32_t row = 0; row < layout.total_rows; ++row)
    write_meta(layout, row, pair_dest_rank, pair_local_slot, pair_weight, meta_buf + mb * row);
}

}  // namespace wideep
