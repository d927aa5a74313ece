// The CUDA and cuBLAS flavours of the check macros' failure path (common/check.h).
#ifdef WIDEEP_HAVE_CUDA
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <string>

#include "common/check.h"

namespace wideep {
namespace detail {

void cuda_fail(int code, const char* call, const char* file, int line) {
  const cudaError_t e = static_cast<cudaError_t>(code);
  fail_call(ErrorCategory::kSystem, "CUDA", code,
            std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e), call, file, line);
}

void cublas_fail(int code, const char* call, const char* file, int line) {
  const cublasStatus_t s = static_cast<cublasStatus_t>(code);
  fail_call(ErrorCategory::kSystem, "cuBLAS", code,
            std::string(cublasGetStatusName(s)) + ": " + cublasGetStatusString(s), call, file, line);
}

}  // namespace detail
}  // namespace wideep
#endif  // WIDEEP_HAVE_CUDA
