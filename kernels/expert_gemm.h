// The expert FFN of a rank's local slots on the device: for every slot with
// pairs, h = x·W1 (cuBLAS), SiLU (kernels/expert_kernels.cu), y = h·W2, as one
// grouped GEMM per matrix (cublasGemmGroupedBatchedEx, one group per non-empty
// slot) or, with WIDEEP_GEMM=loop in the environment, one cublasGemmEx per
// slot. bf16 operands accumulate in fp32 (CUBLAS_COMPUTE_32F); fp32 operands
// use plain fp32 (no TF32: the handle keeps CUBLAS_DEFAULT_MATH), which is
// what --check compares against the CPU. Enqueues on the stream; no wait.
// Row-major x [n x H] · W1 [H x F] is computed as the column-major
// W1ᵀ·xᵀ (m = F, n = rows, k = H), and likewise for W2.
#pragma once

#include <cstdint>

#include "kernels/device_buffer.h"
#include "kernels/device_layout.h"

namespace wideep {
namespace dev {

class ExpertGemm {
 public:
  ExpertGemm(int max_slots, void* stream);
  ~ExpertGemm();
  ExpertGemm(const ExpertGemm&) = delete;
  ExpertGemm& operator=(const ExpertGemm&) = delete;

  // slot_offset: host [S+1] (pairs of slot s at [slot_offset[s], slot_offset[s+1]));
  // w1[s], w2[s]: device weights of slot s in dtype; x, h, y: grouped device buffers.
  // The host arrays are staged in pinned memory: call again only after the
  // stream passed the previous call's copy (the runner waits once per layer).
  void run(const int32_t* slot_offset, int S, int H, int F, DType dtype, const void* const* w1,
           const void* const* w2, const void* x, void* h, void* y);

  bool grouped() const { return grouped_; }

 private:
  void gemm(int groups, int m, int k, const int* n, const void* const* a, const void* const* b,
            void* const* c, int lda, int ldb, int ldc, DType dtype);

  void* handle_ = nullptr;
  void* stream_ = nullptr;
  bool grouped_ = true;
  int max_slots_ = 0;
  PinnedBuffer host_ptrs_;  // 6 arrays of max_slots pointers: A1 B1 C1 A2 B2 C2
  DeviceBuffer dev_ptrs_;
};

}  // namespace dev
}  // namespace wideep
