// CPU build of the per-destination dispatch layout and the permute into wire rows.
#include "kernels/dispatch_layout.h"

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
}

void pack_rows(const DispatchLayout& layout, const float* x, int hidden,
               const int32_t* pair_dest_rank, const int32_t* pair_local_slot,
               const float* pair_weight, unsigned char* send_buf) {
  const int P = layout.pairs_per_token;
  const size_t rb = row_bytes(hidden, P);
  for (int32_t row = 0; row < layout.total_rows; ++row) {
    const int t = layout.row_token[row];
    const int32_t dest = layout.row_rank[row];
    unsigned char* out = send_buf + rb * row;
    std::memcpy(out, x + static_cast<size_t>(t) * hidden, sizeof(float) * hidden);
    int32_t* slots = reinterpret_cast<int32_t*>(out + sizeof(float) * hidden);
    float* weights = reinterpret_cast<float*>(slots + P);
    const size_t base = static_cast<size_t>(t) * P;
    for (int p = 0; p < P; ++p) {
      const bool here = pair_dest_rank[base + p] == dest;
      slots[p] = here ? pair_local_slot[base + p] : -1;
      weights[p] = here ? pair_weight[base + p] : 0.0f;
    }
  }
}

}  // namespace wideep
