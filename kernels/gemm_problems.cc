// Builds the FFN's GEMM problem list (kernels/gemm_problems.h).
#include "kernels/gemm_problems.h"

namespace wideep {

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
    GemmProblem up;
    up.m = F;
    up.n = n;
    up.k = H;
    up.lda = F;
    up.ldb = H;
    up.ldc = F;
    up.a = w1[s];
    up.b = xb + first * H * elem_bytes;
    up.c = hb + first * F * elem_bytes;
    GemmProblem down;
    down.m = H;
    down.n = n;
    down.k = F;
    down.lda = H;
    down.ldb = F;
    down.ldc = H;
    down.a = w2[s];
    down.b = up.c;
    down.c = yb + first * H * elem_bytes;
    out->up.push_back(up);
    out->down.push_back(down);
  }
  out->total_pairs = slot_offset[S];
}

}  // namespace wideep
