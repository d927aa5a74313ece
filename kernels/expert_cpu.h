// The CPU reference of one expert: its deterministic weights (the det_values.h
// rule) and its FFN (x·W1 -> SiLU -> ·W2) with OpenBLAS, row-major. The
// --check reference and the tests use these; the step runs the FFN through the
// kernel backends' GEMM problem lists (kernels/gemm_problems.h).
#pragma once

#include <cstdint>

namespace wideep {

// Single-threaded BLAS: ranks are processes, one per core.
void cpu_kernels_init();

// w1 [hidden x ffn], w2 [ffn x hidden], row-major.
void generate_expert_weights(uint64_t seed, int layer, int expert, int hidden, int ffn, float* w1,
                             float* w2);

// y [rows x hidden] = SiLU(x·W1)·W2; h is scratch of rows x ffn.
void expert_ffn_cpu(const float* x, int rows, int hidden, int ffn, const float* w1,
                    const float* w2, float* h, float* y);

}  // namespace wideep
