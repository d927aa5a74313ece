// Device helpers shared by wideep's .cu files: block-wide byte copies and
// grid sizing (element conversions are kernels/row_bodies.h, host and device). Included by .cu files only.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "common/check.h"
#include "kernels/device_api.h"

namespace wideep {
namespace dev {

inline cudaStream_t cs(Stream s) { return static_cast<cudaStream_t>(s); }

// Blocks for a grid-stride loop over n items, per_block items per block.
inline int grid_for(int64_t n, int per_block, int cap = 8192) {
  const int64_t g = (n + per_block - 1) / per_block;
  return static_cast<int>(g < 1 ? 1 : (g > cap ? cap : g));
}

// The threads of a block copy `bytes` bytes with the widest access that the
// addresses and the size allow (16, 4, 2 or 1 bytes).
__device__ __forceinline__ void block_copy(void* dst, const void* src, size_t bytes) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(dst) | reinterpret_cast<uintptr_t>(src) | bytes;
  if ((a & 15) == 0) {
    const uint4* s = static_cast<const uint4*>(src);
    uint4* d = static_cast<uint4*>(dst);
    for (size_t i = threadIdx.x; i < bytes / 16; i += blockDim.x) d[i] = s[i];
  } else if ((a & 3) == 0) {
    const uint32_t* s = static_cast<const uint32_t*>(src);
    uint32_t* d = static_cast<uint32_t*>(dst);
    for (size_t i = threadIdx.x; i < bytes / 4; i += blockDim.x) d[i] = s[i];
  } else if ((a & 1) == 0) {
    const uint16_t* s = static_cast<const uint16_t*>(src);
    uint16_t* d = static_cast<uint16_t*>(dst);
    for (size_t i = threadIdx.x; i < bytes / 2; i += blockDim.x) d[i] = s[i];
  } else {
    const unsigned char* s = static_cast<const unsigned char*>(src);
    unsigned char* d = static_cast<unsigned char*>(dst);
    for (size_t i = threadIdx.x; i < bytes; i += blockDim.x) d[i] = s[i];
  }
}

__device__ __forceinline__ void block_zero(void* dst, size_t bytes) {
  unsigned char* d = static_cast<unsigned char*>(dst);
  for (size_t i = threadIdx.x; i < bytes; i += blockDim.x) d[i] = 0;
}

// Checks the launch (configuration errors surface here; faults at the next wait).
#define WIDEEP_LAUNCH_CHECK() WIDEEP_CUDA_CHECK(cudaGetLastError())

}  // namespace dev
}  // namespace wideep
