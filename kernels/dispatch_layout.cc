// Host build of the per-destination dispatch layout and the permute into wire rows.
#include "kernels/dispatch_layout.h"

#include <algorithm>
#include <cstring>

#include "common/check.h"
#include "kernels/row_bodies.h"

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
  token_rows.assign(static_cast<size_t>(t) * p, -1);
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
      WIDEEP_ASSERT(d[p] >= -1 && d[p] < R, "pair destination out of range");
      if (d[p] >= 0 && !seen_before(d, p, d[p])) ++out->rank_rows[d[p]];
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
      if (d[p] < 0 || seen_before(d, p, d[p])) continue;
      const int32_t row = cursor[d[p]]++;
      out->row_token[row] = t;
      out->row_rank[row] = d[p];
    }
  }
  for (int r = 0; r < R; ++r) out->rank_rows[r] = out->rank_row_offset[r + 1] - out->rank_row_offset[r];
  // Each token's rows in rank order: rows are rank-major, so one pass over them keeps it.
  std::fill(out->token_rows.begin(), out->token_rows.end(), -1);
  for (int32_t row = 0; row < out->total_rows; ++row) {
    int32_t* mine = &out->token_rows[static_cast<size_t>(out->row_token[row]) * P];
    int i = 0;
    while (mine[i] >= 0) ++i;  // a token has at most P rows
    mine[i] = row;
  }
}

void rank_pair_counts(const int32_t* pair_dest_rank, int T, int P, int R, int64_t* pairs) {
  std::fill(pairs, pairs + R, 0);
  const size_t n = static_cast<size_t>(T) * P;
  for (size_t i = 0; i < n; ++i)
    if (pair_dest_rank[i] >= 0) ++pairs[pair_dest_rank[i]];
}

void write_row_tail(const DispatchLayout& layout, const WireRow& wr, size_t x_value_bytes, int32_t row,
                    const int32_t* pair_dest_rank, const int32_t* pair_local_slot, const float* pair_weight,
                    unsigned char* tail) {
  const int P = layout.pairs_per_token;
  const size_t base = static_cast<size_t>(layout.row_token[row]) * P;
  std::memset(tail, 0, wr.slot_offset - x_value_bytes);
  // 4-byte aligned: the tail starts at a 16-byte row offset minus x's bytes, or at a tail-buffer row.
  int32_t* slots = reinterpret_cast<int32_t*>(tail + (wr.slot_offset - x_value_bytes));
  float* weights = reinterpret_cast<float*>(tail + (wr.weight_offset - x_value_bytes));
  for (int p = 0; p < P; ++p)
    row_meta_pair(pair_dest_rank + base, pair_local_slot + base, pair_weight + base, p, layout.row_rank[row],
                  slots, weights);
  const size_t end = wr.weight_offset + 4u * P;
  std::memset(tail + (end - x_value_bytes), 0, wr.row_bytes - end);
}

void pack_rows(const DispatchLayout& layout, const WireRow& wr, const void* x, size_t x_value_bytes,
               const int32_t* pair_dest_rank, const int32_t* pair_local_slot, const float* pair_weight,
               unsigned char* send_buf) {
  const auto* xb = static_cast<const unsigned char*>(x);
  for (int32_t row = 0; row < layout.total_rows; ++row) {
    unsigned char* out = send_buf + wr.row_bytes * row;
    std::memcpy(out, xb + static_cast<size_t>(layout.row_token[row]) * x_value_bytes, x_value_bytes);
    write_row_tail(layout, wr, x_value_bytes, row, pair_dest_rank, pair_local_slot, pair_weight,
                   out + x_value_bytes);
  }
}

}  // namespace wideep
