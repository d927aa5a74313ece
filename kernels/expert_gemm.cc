// cuBLAS grouped GEMMs of the expert FFN (kernels/expert_gemm.h).
#ifdef WIDEEP_HAVE_CUDA
#include "kernels/expert_gemm.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "common/check.h"
#include "kernels/device_api.h"

namespace wideep {
namespace dev {
namespace {
cublasHandle_t hb(void* h) { return static_cast<cublasHandle_t>(h); }
cudaDataType_t cuda_type(DType d) { return d == DType::kF32 ? CUDA_R_32F : CUDA_R_16BF; }
}  // namespace

ExpertGemm::ExpertGemm(int max_slots, void* stream) : stream_(stream), max_slots_(max_slots) {
  cublasHandle_t h;
  WIDEEP_CUBLAS_CHECK(cublasCreate(&h));
  handle_ = h;
  WIDEEP_CUBLAS_CHECK(cublasSetStream(h, static_cast<cudaStream_t>(stream)));
  WIDEEP_CUBLAS_CHECK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
  WIDEEP_CUBLAS_CHECK(cublasSetPointerMode(h, CUBLAS_POINTER_MODE_HOST));
  const char* mode = std::getenv("WIDEEP_GEMM");
  grouped_ = !(mode && std::strcmp(mode, "loop") == 0);
  host_ptrs_.allocate(6 * sizeof(void*) * static_cast<size_t>(max_slots));
  dev_ptrs_.allocate(6 * sizeof(void*) * static_cast<size_t>(max_slots));
}

ExpertGemm::~ExpertGemm() {
  if (handle_) cublasDestroy(hb(handle_));
}

void ExpertGemm::gemm(int groups, int m, int k, const int* n, const void* const* a,
                      const void* const* b, void* const* c, int lda, int ldb, int ldc, DType dtype) {
  const float alpha = 1.0f, beta = 0.0f;
  const cudaDataType_t t = cuda_type(dtype);
  if (!grouped_) {
    // a/b/c point into the pinned host arrays here.
    for (int g = 0; g < groups; ++g)
      WIDEEP_CUBLAS_CHECK(cublasGemmEx(hb(handle_), CUBLAS_OP_N, CUBLAS_OP_N, m, n[g], k, &alpha, a[g], t,
                                       lda, b[g], t, ldb, &beta, c[g], t, ldc, CUBLAS_COMPUTE_32F,
                                       CUBLAS_GEMM_DEFAULT));
    return;
  }
  std::vector<cublasOperation_t> op(groups, CUBLAS_OP_N);
  std::vector<int> ms(groups, m), ks(groups, k), ldas(groups, lda), ldbs(groups, ldb),
      ldcs(groups, ldc), sizes(groups, 1);
  std::vector<float> alphas(groups, alpha), betas(groups, beta);
  WIDEEP_CUBLAS_CHECK(cublasGemmGroupedBatchedEx(
      hb(handle_), op.data(), op.data(), ms.data(), n, ks.data(), alphas.data(), a, t, ldas.data(), b, t,
      ldbs.data(), betas.data(), c, t, ldcs.data(), groups, sizes.data(), CUBLAS_COMPUTE_32F));
}

void ExpertGemm::run(const int32_t* slot_offset, int S, int H, int F, DType dtype,
                     const void* const* w1, const void* const* w2, const void* x, void* h, void* y) {
  WIDEEP_ASSERT(S <= max_slots_, "more local slots than the GEMM was sized for");
  const size_t es = dtype_bytes(dtype);
  void** hp = host_ptrs_.as<void*>();
  void** A1 = hp;
  void** B1 = hp + max_slots_;
  void** C1 = hp + 2 * max_slots_;
  void** A2 = hp + 3 * max_slots_;
  void** B2 = hp + 4 * max_slots_;
  void** C2 = hp + 5 * max_slots_;
  std::vector<int> rows;
  rows.reserve(S);
  int g = 0;
  for (int s = 0; s < S; ++s) {
    const int n = slot_offset[s + 1] - slot_offset[s];
    if (n == 0) continue;
    const size_t off = static_cast<size_t>(slot_offset[s]);
    A1[g] = const_cast<void*>(w1[s]);
    B1[g] = const_cast<unsigned char*>(static_cast<const unsigned char*>(x)) + off * H * es;
    C1[g] = static_cast<unsigned char*>(h) + off * F * es;
    A2[g] = const_cast<void*>(w2[s]);
    B2[g] = C1[g];
    C2[g] = static_cast<unsigned char*>(y) + off * H * es;
    rows.push_back(n);
    ++g;
  }
  const int64_t total = slot_offset[S];
  if (g == 0) return;
  void** dp = dev_ptrs_.as<void*>();
  const bool on_device = grouped_;
  if (on_device)
    WIDEEP_CUDA_CHECK(cudaMemcpyAsync(dp, hp, 6 * sizeof(void*) * max_slots_, cudaMemcpyHostToDevice,
                                      static_cast<cudaStream_t>(stream_)));
  void** base = on_device ? dp : hp;
  auto arr = [&](int i) { return base + static_cast<size_t>(i) * max_slots_; };
  // h^T [F x n] = W1^T [F x H] · x^T [H x n]   (row-major W1 [H x F] is W1^T with ld F)
  gemm(g, F, H, rows.data(), arr(0), arr(1), arr(2), F, H, F, dtype);
  launch_silu(h, total * F, dtype, stream_);
  // y^T [H x n] = W2^T [H x F] · h^T [F x n]
  gemm(g, H, F, rows.data(), arr(3), arr(4), arr(5), H, F, H, dtype);
}

}  // namespace dev
}  // namespace wideep
#endif  // WIDEEP_HAVE_CUDA
