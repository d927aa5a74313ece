// cuBLAS execution of a GEMM problem list (kernels/gemm_problems.h) on a
// stream: one cublasGemmGroupedBatchedEx per list (one group per problem) or,
// with WIDEEP_GEMM=loop in the environment, one cublasGemmEx per problem. bf16
// operands accumulate in fp32 (CUBLAS_COMPUTE_32F); fp32 operands use plain
// fp32 (no TF32: the handle keeps CUBLAS_DEFAULT_MATH), which is what --check
// compares with the CPU. Enqueues only; no wait. Defined only with CUDA.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/device_buffer.h"
#include "kernels/gemm_problems.h"
#include "kernels/wire_row.h"

namespace wideep {
namespace dev {

class ExpertGemm {
 public:
  // Up to max_problems problems per list, `lists` lists in flight per wait
  // (each list stages its pointers in its own pinned area).
  ExpertGemm(int max_problems, int lists, void* stream);
  ~ExpertGemm();
  ExpertGemm(const ExpertGemm&) = delete;
  ExpertGemm& operator=(const ExpertGemm&) = delete;

  // Runs list `which` (< lists). Its staging area is reused by the next call
  // with the same `which`: the caller waits for the stream in between.
  void run(const std::vector<GemmProblem>& problems, DType dtype, int which);

  bool grouped() const { return grouped_; }

 private:
  void* handle_ = nullptr;
  void* stream_ = nullptr;
  bool grouped_ = true;
  int max_ = 0, lists_ = 0;
  PinnedBuffer host_ptrs_;  // per list: 3 arrays of max_ pointers (A, B, C)
  DeviceBuffer dev_ptrs_;
  // Host arrays of the grouped call, preallocated (no allocation per step).
  std::vector<int> ops_a_, ops_b_, m_, n_, k_, lda_, ldb_, ldc_, sizes_;  // ops_*: cublasOperation_t
  std::vector<float> alpha_, beta_;
};

}  // namespace dev
}  // namespace wideep
