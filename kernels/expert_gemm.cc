// cuBLAS execution of GEMM problem lists (kernels/expert_gemm.h).
#ifdef WIDEEP_HAVE_CUDA
#include "kernels/expert_gemm.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstdlib>
#include <cstring>

#include "common/check.h"

namespace wideep {
namespace dev {
namespace {
cublasHandle_t hb(void* h) { return static_cast<cublasHandle_t>(h); }
cudaDataType_t cuda_type(DType d) { return d == DType::kF32 ? CUDA_R_32F : CUDA_R_16BF; }
cublasOperation_t op(bool trans) { return trans ? CUBLAS_OP_T : CUBLAS_OP_N; }
}  // namespace

ExpertGemm::ExpertGemm(int max_problems, int lists, void* stream)
    : stream_(stream), max_(max_problems < 1 ? 1 : max_problems), lists_(lists) {
  cublasHandle_t h;
  WIDEEP_CUBLAS_CHECK(cublasCreate(&h));
  handle_ = h;
  WIDEEP_CUBLAS_CHECK(cublasSetStream(h, static_cast<cudaStream_t>(stream)));
  WIDEEP_CUBLAS_CHECK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
  WIDEEP_CUBLAS_CHECK(cublasSetPointerMode(h, CUBLAS_POINTER_MODE_HOST));
  const char* mode = std::getenv("WIDEEP_GEMM");
  grouped_ = !(mode && std::strcmp(mode, "loop") == 0);
  const size_t bytes = 3 * sizeof(void*) * static_cast<size_t>(max_) * lists_;
  host_ptrs_.allocate(bytes);
  dev_ptrs_.allocate(bytes);
  for (auto* v : {&ops_a_, &ops_b_, &m_, &n_, &k_, &lda_, &ldb_, &ldc_, &sizes_}) v->assign(max_, 0);
  alpha_.assign(max_, 1.0f);
  beta_.assign(max_, 0.0f);
  std::fill(sizes_.begin(), sizes_.end(), 1);
}

ExpertGemm::~ExpertGemm() {
  if (handle_) cublasDestroy(hb(handle_));
}

void ExpertGemm::run(const std::vector<GemmProblem>& problems, DType dtype, int which) {
  const int g = static_cast<int>(problems.size());
  if (g == 0) return;
  WIDEEP_ASSERT(g <= max_ && which >= 0 && which < lists_, "more GEMM problems than the GEMM was sized for");
  const cudaDataType_t t = cuda_type(dtype);
  const float one = 1.0f, zero = 0.0f;
  if (!grouped_) {
    for (const GemmProblem& p : problems)
      WIDEEP_CUBLAS_CHECK(cublasGemmEx(hb(handle_), op(p.trans_a), op(p.trans_b), p.m, p.n, p.k, &one, p.a, t, p.lda,
                                       p.b, t, p.ldb, &zero, p.c, t, p.ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return;
  }
  const size_t area = 3 * static_cast<size_t>(max_);
  const void** hp = host_ptrs_.as<const void*>() + area * which;
  const void** A = hp;
  const void** B = hp + max_;
  void** C = const_cast<void**>(hp + 2 * max_);
  // The grouped API takes one transpose per group; all problems of a list share the layout.
  const bool ta = problems[0].trans_a, tb = problems[0].trans_b;
  for (int i = 0; i < g; ++i) {
    const GemmProblem& p = problems[i];
    WIDEEP_ASSERT(p.trans_a == ta && p.trans_b == tb, "mixed transposes in one GEMM list");
    A[i] = p.a;
    B[i] = p.b;
    C[i] = p.c;
    ops_a_[i] = op(ta);
    ops_b_[i] = op(tb);
    m_[i] = p.m;
    n_[i] = p.n;
    k_[i] = p.k;
    lda_[i] = p.lda;
    ldb_[i] = p.ldb;
    ldc_[i] = p.ldc;
  }
  void** dp = dev_ptrs_.as<void*>() + area * which;
  WIDEEP_CUDA_CHECK(cudaMemcpyAsync(dp, hp, sizeof(void*) * area, cudaMemcpyHostToDevice,
                                    static_cast<cudaStream_t>(stream_)));
  static_assert(sizeof(cublasOperation_t) == sizeof(int), "ops_a_/ops_b_ hold cublasOperation_t");
  WIDEEP_CUBLAS_CHECK(cublasGemmGroupedBatchedEx(
      hb(handle_), reinterpret_cast<const cublasOperation_t*>(ops_a_.data()),
      reinterpret_cast<const cublasOperation_t*>(ops_b_.data()), m_.data(), n_.data(), k_.data(), alpha_.data(),
      const_cast<const void* const*>(dp), t, lda_.data(), const_cast<const void* const*>(dp + max_), t, ldb_.data(),
      beta_.data(), dp + 2 * max_, t, ldc_.data(), g, sizes_.data(), CUBLAS_COMPUTE_32F));
}

}  // namespace dev
}  // namespace wideep
#endif  // WIDEEP_HAVE_CUDA
