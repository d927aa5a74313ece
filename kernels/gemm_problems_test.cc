// The FFN's GEMM problem list (column-major, as cuBLAS takes it) run through
// cblas_sgemm equals the row-major CPU expert FFN slot by slot: a layout or
// leading-dimension mistake in the list fails here, not on a GPU.
#include "kernels/gemm_problems.h"

#include <gtest/gtest.h>

#include <random>

#include "kernels/det_values.h"
#include "kernels/expert_cpu.h"
#include "kernels/host_kernels.h"
#include "kernels/row_bodies.h"

namespace wideep {
namespace {

TEST(GemmProblems, ListThroughCblasEqualsTheCpuFfn) {
  cpu_kernels_init();
  std::mt19937 rng(3);
  const int H = 24, F = 40, S = 5;
  for (int iter = 0; iter < 20; ++iter) {
    std::vector<int32_t> off(S + 1, 0);
    for (int s = 0; s < S; ++s) off[s + 1] = off[s] + static_cast<int>(rng() % 7) * (s != 2);  // slot 2 empty
    const int n = off[S];
    std::vector<float> x(static_cast<size_t>(n) * H), h(static_cast<size_t>(n) * F), y(x.size());
    for (size_t i = 0; i < x.size(); ++i) x[i] = token_activation(9, iter, 0, static_cast<int64_t>(i / H), i % H);
    std::vector<std::vector<float>> w(S, std::vector<float>(2 * static_cast<size_t>(H) * F));
    std::vector<const void*> w1(S), w2(S);
    for (int s = 0; s < S; ++s) {
      generate_expert_weights(1, 0, s, H, F, w[s].data(), w[s].data() + H * F);
      w1[s] = w[s].data();
      w2[s] = w[s].data() + H * F;
    }
    FfnProblems pr;
    build_ffn_problems(off.data(), S, H, F, sizeof(float), w1.data(), w2.data(), x.data(), h.data(), y.data(), &pr);
    ASSERT_EQ(pr.total_pairs, n);
    int nonempty = 0;
    for (int s = 0; s < S; ++s) nonempty += off[s + 1] > off[s];
    ASSERT_EQ(static_cast<int>(pr.up.size()), nonempty);
    run_problems_cblas(pr.up);
    for (size_t i = 0; i < h.size(); ++i) h[i] = silu_elem(h[i]);
    run_problems_cblas(pr.down);
    for (int s = 0; s < S; ++s) {
      const int rows = off[s + 1] - off[s];
      std::vector<float> hh(static_cast<size_t>(rows) * F), want(static_cast<size_t>(rows) * H);
      expert_ffn_cpu(&x[static_cast<size_t>(off[s]) * H], rows, H, F, w[s].data(), w[s].data() + H * F, hh.data(),
                     want.data());
      for (int i = 0; i < rows * H; ++i) ASSERT_NEAR(y[static_cast<size_t>(off[s]) * H + i], want[i], 1e-5f);
    }
  }
}

TEST(GemmProblems, SlotOffsetsAreTheExclusivePrefix) {
  const int32_t pairs[] = {3, 0, 4, 1};
  int32_t off[5] = {-1, -1, -1, -1, -1};
  EXPECT_EQ(slot_offsets(pairs, 4, off), 8);
  EXPECT_EQ(std::vector<int32_t>(off, off + 5), (std::vector<int32_t>{0, 3, 3, 7, 8}));
}

TEST(GemmProblems, ShapesAndLeadingDimensionsAsCublasTakesThem) {
  const int32_t off[] = {0, 3, 3, 7};
  float x[7 * 4], h[7 * 6], y[7 * 4], a = 0, b = 0, c = 0, d = 0;
  const void* w1[] = {&a, &b, &c};
  const void* w2[] = {&d, &d, &d};
  FfnProblems pr;
  build_ffn_problems(off, 3, 4, 6, sizeof(float), w1, w2, x, h, y, &pr);
  ASSERT_EQ(pr.up.size(), 2u);
  const GemmProblem& u = pr.up[1];  // slot 2: pairs 3..6
  EXPECT_EQ(u.m, 6);
  EXPECT_EQ(u.n, 4);
  EXPECT_EQ(u.k, 4);
  EXPECT_EQ(u.lda, 6);
  EXPECT_EQ(u.ldb, 4);
  EXPECT_EQ(u.ldc, 6);
  EXPECT_EQ(u.a, &c);
  EXPECT_EQ(u.b, x + 3 * 4);
  EXPECT_EQ(u.c, h + 3 * 6);
  const GemmProblem& dn = pr.down[1];
  EXPECT_EQ(dn.m, 4);
  EXPECT_EQ(dn.k, 6);
  EXPECT_EQ(dn.lda, 4);
  EXPECT_EQ(dn.ldb, 6);
  EXPECT_EQ(dn.b, u.c);
  EXPECT_EQ(dn.c, y + 3 * 4);
}

}  // namespace
}  // namespace wideep
