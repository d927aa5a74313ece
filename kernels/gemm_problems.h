// The expert FFN of a rank's local slots as a list of GEMM problems, built on
// the host for both kernel backends: the CUDA backend hands the list to one
// cuBLAS grouped GEMM per matrix, the host backend runs each problem through
// cblas_sgemm. Problems are column-major, as BLAS sees them:
//   C [m x n] = op(A) [m x k] · op(B) [k x n]
// Row-major x [n x H] · W1 [H x F] = h [n x F] is computed as the column-major
// W1ᵀ [F x H] · xᵀ [H x n] = hᵀ [F x n]: m = F, k = H, lda = F, ldb = H, ldc = F,
// no transposes; likewise y = SiLU(h) · W2 with m = H, k = F.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace wideep {

struct GemmProblem {
  int m = 0, n = 0, k = 0;
  int lda = 0, ldb = 0, ldc = 0;
  bool trans_a = false, trans_b = false;
  const void* a = nullptr;
  const void* b = nullptr;
  void* c = nullptr;
};

struct FfnProblems {
  std::vector<GemmProblem> up;    // h = x · W1, one per non-empty slot
  std::vector<GemmProblem> down;  // y = SiLU(h) · W2
  int64_t total_pairs = 0;        // rows of h to which SiLU applies: [first_pair, total_pairs)
  int64_t first_pair = 0;         // a piece of the list (two-batch overlap on the host) starts here
};

// Per-slot offsets on the host (both backends): slot_offset [S+1] = the
// exclusive prefix of slot_pairs [S] (the device copies them up; no scan kernel).
// Returns the total.
int64_t slot_offsets(const int32_t* slot_pairs, int S, int32_t* slot_offset);

// slot_offset [S+1] (pairs of slot s at [slot_offset[s], slot_offset[s+1]));
// w1[s], w2[s] the weights of slot s; x [pairs x H], h [pairs x F] and
// y [pairs x H] dense, of elem_bytes per element. Reserves S once; no
// allocation after the first call with the same S.
void build_ffn_problems(const int32_t* slot_offset, int S, int H, int F, size_t elem_bytes,
                        const void* const* w1, const void* const* w2, const void* x, void* h, void* y,
                        FfnProblems* out);

}  // namespace wideep
