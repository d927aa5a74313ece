// OpenBLAS-backed expert FFN and the CPU un-permute/combine around it.
#include "kernels/expert_cpu.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "common/check.h"
#include "kernels/det_values.h"

extern "C" void openblas_set_num_threads(int num_threads);

namespace wideep {

void cpu_kernels_init() { openblas_set_num_threads(1); }

void generate_expert_weights(uint64_t seed, int layer, int expert, int hidden, int ffn, float* w1,
                             float* w2) {
  const size_t n = static_cast<size_t>(hidden) * ffn;
  const float s1 = 1.0f / std::sqrt(static_cast<float>(hidden));
  const float s2 = 1.0f / std::sqrt(static_cast<float>(ffn));
  for (size_t i = 0; i < n; ++i) w1[i] = expert_weight(seed, layer, expert, kMatrixW1, i, s1);
  for (size_t i = 0; i < n; ++i) w2[i] = expert_weight(seed, layer, expert, kMatrixW2, i, s2);
}

void expert_ffn_cpu(const float* x, int rows, int hidden, int ffn, const float* w1,
                    const float* w2, float* h, float* y) {
  if (rows == 0) return;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, ffn, hidden, 1.0f, x, hidden, w1,
              ffn, 0.0f, h, ffn);
  const size_t n = static_cast<size_t>(rows) * ffn;
  for (size_t i = 0; i < n; ++i) h[i] = h[i] / (1.0f + std::exp(-h[i]));
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hidden, ffn, 1.0f, h, ffn, w2,
              hidden, 0.0f, y, hidden);
}

void ExpertBatches::init(int slots, int max_rows, int p, int h, int f) {
  num_slots = slots;
  hidden = h;
  ffn = f;
  pairs_per_token = p;
  const size_t max_pairs = static_cast<size_t>(max_rows) * p;
  slot_pairs.assign(slots, 0);
  slot_offset.assign(slots + 1, 0);
  pair_row.assign(max_pairs, 0);
  pair_weight.assign(max_pairs, 0.0f);
  x_grouped.assign(max_pairs * h, 0.0f);
  // One slot runs at a time, and a slot gets at most one pair per received row.
  h_rows = max_rows > 0 ? max_rows : 1;
  h_scratch.assign(static_cast<size_t>(h_rows) * f, 0.0f);
  y_grouped.assign(max_pairs * h, 0.0f);
  total_pairs = 0;
}

void group_rows_by_slot(const unsigned char* recv_buf, int rows, ExpertBatches* b) {
  const int P = b->pairs_per_token, H = b->hidden;
  const size_t rb = row_bytes(H, P);
  std::fill(b->slot_pairs.begin(), b->slot_pairs.end(), 0);
  for (int r = 0; r < rows; ++r) {
    const int32_t* slots = reinterpret_cast<const int32_t*>(recv_buf + rb * r + sizeof(float) * H);
    for (int p = 0; p < P; ++p) {
      if (slots[p] < 0) continue;
      if (slots[p] >= b->num_slots)
        fail_call(ErrorCategory::kRemote, "dispatch", slots[p],
                  "received row " + std::to_string(r) + " names local slot " +
                      std::to_string(slots[p]) + " of " + std::to_string(b->num_slots),
                  "group_rows_by_slot", __FILE__, __LINE__);
      ++b->slot_pairs[slots[p]];
    }
  }
  b->slot_offset[0] = 0;
  for (int s = 0; s < b->num_slots; ++s) b->slot_offset[s + 1] = b->slot_offset[s] + b->slot_pairs[s];
  b->total_pairs = b->slot_offset[b->num_slots];
  WIDEEP_ASSERT(static_cast<size_t>(b->total_pairs) <= b->pair_row.size(), "expert batch overflow");
  std::vector<int32_t>& cursor = b->slot_pairs;  // fill cursor, restored below
  for (int s = 0; s < b->num_slots; ++s) cursor[s] = b->slot_offset[s];
  for (int r = 0; r < rows; ++r) {
    const unsigned char* row = recv_buf + rb * r;
    const int32_t* slots = reinterpret_cast<const int32_t*>(row + sizeof(float) * H);
    const float* weights = reinterpret_cast<const float*>(slots + P);
    for (int p = 0; p < P; ++p) {
      if (slots[p] < 0) continue;
      const int32_t i = cursor[slots[p]]++;
      b->pair_row[i] = r;
      b->pair_weight[i] = weights[p];
      std::memcpy(&b->x_grouped[static_cast<size_t>(i) * H], row, sizeof(float) * H);
    }
  }
  for (int s = 0; s < b->num_slots; ++s) b->slot_pairs[s] = b->slot_offset[s + 1] - b->slot_offset[s];
}

void run_local_experts(ExpertBatches* b, const std::vector<const float*>& w1,
                       const std::vector<const float*>& w2) {
  const size_t H = b->hidden;
  for (int s = 0; s < b->num_slots; ++s) {
    // In pieces of h_rows: a corrupted row may name one slot twice.
    for (int32_t done = 0; done < b->slot_pairs[s]; done += b->h_rows) {
      const size_t off = static_cast<size_t>(b->slot_offset[s]) + done;
      const int rows = std::min(b->h_rows, b->slot_pairs[s] - done);
      expert_ffn_cpu(&b->x_grouped[off * H], rows, b->hidden, b->ffn, w1[s], w2[s], b->h_scratch.data(),
                     &b->y_grouped[off * H]);
    }
  }
}

void combine_partial(const ExpertBatches& b, int rows, float* out_rows) {
  const size_t H = b.hidden;
  std::memset(out_rows, 0, sizeof(float) * H * rows);
  for (int32_t i = 0; i < b.total_pairs; ++i) {
    float* dst = out_rows + H * b.pair_row[i];
    const float* y = &b.y_grouped[H * i];
    const float w = b.pair_weight[i];
    for (size_t c = 0; c < H; ++c) dst[c] += w * y[c];
  }
}

void combine_rows(const DispatchLayout& layout, const float* returned_rows, int hidden,
                  float* out) {
  std::vector<const float*> base(layout.num_ranks);  // tests and references only: not in a step loop
  for (int r = 0; r < layout.num_ranks; ++r)
    base[r] = returned_rows + static_cast<size_t>(hidden) * layout.rank_row_offset[r];
  combine_rows(layout, base.data(), hidden, out);
}

void combine_rows(const DispatchLayout& layout, const float* const* rank_rows, int hidden, float* out) {
  const size_t H = hidden;
  auto row_ptr = [&](int32_t row) {
    const int r = layout.row_rank[row];
    return rank_rows[r] + H * static_cast<size_t>(row - layout.rank_row_offset[r]);
  };
  for (int t = 0; t < layout.num_tokens; ++t) {
    float* dst = out + H * t;
    const int32_t first = layout.token_row_offset[t], end = layout.token_row_offset[t + 1];
    if (first == end) {
      std::memset(dst, 0, sizeof(float) * H);
      continue;
    }
    const float* __restrict a = row_ptr(layout.token_rows[first]);
    if (end - first == 1) {
      std::memcpy(dst, a, sizeof(float) * H);
      continue;
    }
    // The first two rows in one pass (memory, not arithmetic, is the limit),
    // then the rest in rank order: the same sums as adding row by row.
    const float* __restrict b = row_ptr(layout.token_rows[first + 1]);
    float* __restrict d = dst;
    for (size_t c = 0; c < H; ++c) d[c] = a[c] + b[c];
    for (int32_t i = first + 2; i < end; ++i) {
      const float* __restrict src = row_ptr(layout.token_rows[i]);
      for (size_t c = 0; c < H; ++c) d[c] += src[c];
    }
  }
}

}  // namespace wideep
