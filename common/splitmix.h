// splitmix64, the one seeded mix of wideep's deterministic draws: expert weights
// and activations (kernels/det_values.h, host and device), the workloads, and
// balance/'s seeded draws; the same value on every rank and device from the key.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define WIDEEP_HD __host__ __device__ __forceinline__
#else
#define WIDEEP_HD inline
#endif

namespace wideep {

WIDEEP_HD uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace wideep
