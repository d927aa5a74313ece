// Tests of the deterministic values (kernels/det_values.h) that the runner,
// the device kernels and the --check reference all share: a bug here is shared
// with the reference path, so --check cannot see it and these properties must.
// Every key (seed, step, layer, token, column; seed, layer, expert, matrix,
// index) changes the values, and they are uniform in [-1, 1) times the scale.
#include "kernels/det_values.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <set>

namespace wideep {
namespace {

// How many of n values differ between two generators (a changed key must
// change nearly all of them; equal streams change none).
int differing(const std::function<float(int)>& a, const std::function<float(int)>& b, int n) {
  int d = 0;
  for (int i = 0; i < n; ++i) d += a(i) != b(i);
  return d;
}

TEST(DetValues, TokenActivationDependsOnEveryKey) {
  const int n = 256;
  auto act = [](uint64_t seed, int step, int layer, int64_t tok) {
    return [=](int c) { return token_activation(seed, step, layer, tok, c); };
  };
  EXPECT_EQ(differing(act(1, 2, 3, 40), act(1, 2, 3, 40), n), 0);  // deterministic
  EXPECT_GT(differing(act(1, 2, 3, 40), act(2, 2, 3, 40), n), n * 9 / 10);  // seed
  EXPECT_GT(differing(act(1, 2, 3, 40), act(1, 3, 3, 40), n), n * 9 / 10);  // step
  EXPECT_GT(differing(act(1, 2, 3, 40), act(1, 2, 4, 40), n), n * 9 / 10);  // layer
  EXPECT_GT(differing(act(1, 2, 3, 40), act(1, 2, 3, 41), n), n * 9 / 10);  // global token
  // Tokens far apart (rank r's token t vs rank 0's token t) differ too.
  EXPECT_GT(differing(act(1, 2, 3, 5), act(1, 2, 3, 5 + 4096), n), n * 9 / 10);
  // Columns of one token are not one repeated value.
  std::set<float> cols;
  for (int c = 0; c < n; ++c) cols.insert(token_activation(1, 2, 3, 40, c));
  EXPECT_GT(cols.size(), static_cast<size_t>(n * 9 / 10));
}

TEST(DetValues, ExpertWeightDependsOnEveryKey) {
  const int n = 256;
  auto w = [](uint64_t seed, int layer, int expert, int which) {
    return [=](int i) { return expert_weight(seed, layer, expert, which, static_cast<uint64_t>(i), 1.0f); };
  };
  EXPECT_EQ(differing(w(1, 0, 5, kMatrixW1), w(1, 0, 5, kMatrixW1), n), 0);
  EXPECT_GT(differing(w(1, 0, 5, kMatrixW1), w(2, 0, 5, kMatrixW1), n), n * 9 / 10);  // seed
  EXPECT_GT(differing(w(1, 0, 5, kMatrixW1), w(1, 1, 5, kMatrixW1), n), n * 9 / 10);  // layer
  EXPECT_GT(differing(w(1, 0, 5, kMatrixW1), w(1, 0, 6, kMatrixW1), n), n * 9 / 10);  // expert
  EXPECT_GT(differing(w(1, 0, 5, kMatrixW1), w(1, 0, 5, kMatrixW2), n), n * 9 / 10);  // W1 vs W2
  EXPECT_FLOAT_EQ(expert_weight(1, 0, 5, kMatrixW1, 7, 0.5f), 0.5f * expert_weight(1, 0, 5, kMatrixW1, 7, 1.0f));
}

// Uniform in [-1, 1): range, mean near 0 and variance near 1/3 over many draws.
TEST(DetValues, UnitFloatIsUniformOnMinusOneToOne) {
  const int n = 1 << 16;
  double sum = 0, sq = 0, lo = 1, hi = -1;
  for (int i = 0; i < n; ++i) {
    const double v = token_activation(9, 0, 0, i / 64, i % 64);
    sum += v, sq += v * v;
    lo = std::min(lo, v), hi = std::max(hi, v);
  }
  EXPECT_GE(lo, -1.0);
  EXPECT_LT(hi, 1.0);
  EXPECT_LT(lo, -0.99);  // the whole range is reached
  EXPECT_GT(hi, 0.99);
  EXPECT_NEAR(sum / n, 0.0, 0.02);
  EXPECT_NEAR(sq / n, 1.0 / 3.0, 0.02);
  EXPECT_EQ(unit_float(0), -1.0f);
  EXPECT_EQ(unit_float(~0ull), 1.0f - 1.0f / (1 << 23));
}

}  // namespace
}  // namespace wideep
