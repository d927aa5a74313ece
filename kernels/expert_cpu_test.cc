// The CPU reference expert against naive loops (the FFN) and the determinism
// of generated weights. The step's kernels: kernels/host_kernels_test.cc.
#include "kernels/expert_cpu.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "kernels/det_values.h"

namespace wideep {
namespace {

void naive_ffn(const float* x, int rows, int H, int F, const float* w1, const float* w2, float* y) {
  std::vector<double> h(F);
  for (int r = 0; r < rows; ++r) {
    for (int f = 0; f < F; ++f) {
      double acc = 0;
      for (int c = 0; c < H; ++c) acc += static_cast<double>(x[r * H + c]) * w1[c * F + f];
      h[f] = acc / (1.0 + std::exp(-acc));
    }
    for (int c = 0; c < H; ++c) {
      double acc = 0;
      for (int f = 0; f < F; ++f) acc += h[f] * w2[f * H + c];
      y[r * H + c] = static_cast<float>(acc);
    }
  }
}

TEST(ExpertCpu, FfnMatchesNaiveLoops) {
  cpu_kernels_init();
  const int H = 24, F = 40, rows = 13;
  std::vector<float> w1(H * F), w2(F * H), x(rows * H), h(rows * F), y(rows * H), ref(rows * H);
  generate_expert_weights(3, 1, 5, H, F, w1.data(), w2.data());
  for (int i = 0; i < rows * H; ++i) x[i] = token_activation(3, 0, 0, i / H, i % H);
  expert_ffn_cpu(x.data(), rows, H, F, w1.data(), w2.data(), h.data(), y.data());
  naive_ffn(x.data(), rows, H, F, w1.data(), w2.data(), ref.data());
  for (int i = 0; i < rows * H; ++i) EXPECT_NEAR(y[i], ref[i], 1e-5f);
}

TEST(ExpertCpu, WeightsAreDeterministicAndDistinct) {
  const int H = 8, F = 16;
  std::vector<float> a1(H * F), a2(H * F), b1(H * F), b2(H * F), c1(H * F), c2(H * F);
  generate_expert_weights(1, 0, 3, H, F, a1.data(), a2.data());
  generate_expert_weights(1, 0, 3, H, F, b1.data(), b2.data());
  generate_expert_weights(1, 0, 4, H, F, c1.data(), c2.data());
  EXPECT_EQ(a1, b1);
  EXPECT_EQ(a2, b2);
  EXPECT_NE(a1, c1);
  for (float v : a1) EXPECT_LE(std::fabs(v), 1.0f / std::sqrt(static_cast<float>(H)));
}

}  // namespace
}  // namespace wideep
