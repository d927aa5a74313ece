// Builds the FFN's GEMM problem list (kernels/gemm_problems.h).
#include "kernels/gemm_problems.h"

namespace wideep {

namespace {
// C [m x n] = A [m x k] · B [k x n], all column-major and dense: lda = ldc = m, ldb = k.
GemmProblem dense(int m, int n, int k, const void* a, const void* b, void* c) {
  GemmProblem g;
  g.m = m;
  g.n = n;
  g.k = k;
  g.lda = m;
  g.ldb = k;
  g.ldc = m;
  g.a = a;
  g.b = b;
  g.c = c;
  return g;
}
}  // namespace

int64_t slot_offsets(const int32_t* slot_pairs, int S, int32_t* slot_offset) {
  slot_offset[0] = 0;
  for (int s = 0; s < S; ++s) slot_offset[s + 1] = slot_offset[s] + slot_pairs[s];
  return slot_offset[S];
}

void build_ffn_problems(const int32_t* slot_offset, int S, int H, int F, size_t elem_bytes,
                        const void* const* w1, const void* const* w2, const void* x, void* h, void* y,
                        FfnProblems* out) {
  out->up.clear();
  out->down.clear();
  out->up.reserve(S);
  out->down.reserve(S);
  const auto* xb = static_cast<const unsigned char*>(x);
  auto* hb = static_cast<unsigned char*>(h);
  auto* yb = static_cast<unsigned char*>(y);
  for (int s = 0; s < S; ++s) {
    const int n = slot_offset[s + 1] - slot_offset[s];
    if (n == 0) continue;
    const size_t first = static_cast<size_t>(slot_offset[s]);
    unsigned char* hs = hb + first * F * elem_bytes;
    out->up.push_back(dense(F, n, H, w1[s], xb + first * H * elem_bytes, hs));      // hᵀ = W1ᵀ · xᵀ
    out->down.push_back(dense(H, n, F, w2[s], hs, yb + first * H * elem_bytes));    // yᵀ = W2ᵀ · SiLU(h)ᵀ
  }
  out->total_pairs = slot_offset[S];
}

}  // namespace wideep
