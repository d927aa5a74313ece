// OpenBLAS-backed reference FFN and the expert weight generator.
#include "kernels/expert_cpu.h"

#include <cblas.h>

#include <cmath>
#include <cstddef>

#include "kernels/det_values.h"
#include "kernels/row_bodies.h"

extern "C" void openblas_set_num_threads(int num_threads);

namespace wideep {

void cpu_kernels_init() { openblas_set_num_threads(1); }

void generate_expert_weights(uint64_t seed, int layer, int expert, int hidden, int ffn, float* w1,
                             float* w2) {
  const size_t n = static_cast<size_t>(hidden) * ffn;
  const float s1 = 1.0f / std::sqrt(static_cast<float>(hidden));
  const float s2 = 1.0f / std::sqrt(static_cast<float>(ffn));
  for (size_t i = 0; i < n; ++i) w1[i] = expert_weight(seed, layer, expert, kMatrixW1, i, s1);
  for (size_t i = 0; i < n; ++i) w2[i] = expert_weight(seed, layer, expert, kMatrixW2, i, s2);
}

void expert_ffn_cpu(const float* x, int rows, int hidden, int ffn, const float* w1,
                    const float* w2, float* h, float* y) {
  if (rows == 0) return;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, ffn, hidden, 1.0f, x, hidden, w1,
              ffn, 0.0f, h, ffn);
  const size_t n = static_cast<size_t>(rows) * ffn;
  for (size_t i = 0; i < n; ++i) h[i] = silu_elem(h[i]);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hidden, ffn, 1.0f, h, ffn, w2,
              hidden, 0.0f, y, hidden);
}

}  // namespace wideep
