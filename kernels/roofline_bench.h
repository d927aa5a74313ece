// The roofline measurement of one layer on one rank (`wideep roofline`): every
// memory-bound kernel timed against a copy of the same bytes, the expert
// grouped GEMM against one dense GEMM of the same FLOPs, and the layer's
// kernels back to back (no host waits), all in one process, each a median
// over `iters` runs after `warmup`. Device (CUDA events, cudaMemcpy D2D,
// cuBLAS) or host (steady clock, memcpy, OpenBLAS: the rehearsal). Byte
// counts: kernels/roofline_model.h.
#pragma once

#include <string>
#include <vector>

#include "kernels/roofline_model.h"

namespace wideep {

struct RooflineConfig {
  RooflineShape shape;
  int warmup = 3, iters = 20;
  uint64_t seed = 1;
  double timeout_s = 60;  // each wait for the device
};

struct KernelTiming {
  KernelBytes bytes;
  double kernel_us = 0;  // median
  double copy_us = 0;    // median of a copy of bytes.moved() / 2 bytes (it moves bytes.moved())
};

struct GemmTiming {
  std::string mode;       // device: the WIDEEP_GEMM mode (grouped, loop); host: cblas
  double grouped_us = 0;  // the up and down problem lists, median
  double dense_us = 0;    // one dense GEMM of the same FLOPs (dense_equivalent), median
};

struct RooflineResult {
  std::string backend;  // "cuda" | "host"
  std::string device;   // what ran it
  std::vector<KernelTiming> kernels;  // roofline_kernel_bytes() order
  std::vector<GemmTiming> gemm;
  double flops = 0;             // ffn_flops
  double layer_kernels_us = 0;  // the layer's kernels and GEMMs back to back, median
};

RooflineResult measure_roofline_host(const RooflineConfig& cfg);
// Throws UsageError where the build has no CUDA.
RooflineResult measure_roofline_device(const RooflineConfig& cfg);

// The median of v (the mean of the middle two for an even count); 0 for none.
double median_of(std::vector<double> v);

}  // namespace wideep
