// The roofline's byte counts, FLOPs and routing, against values worked out by
// hand at a small shape (the formulas are those written in roofline_model.cc).
#include "kernels/roofline_model.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "common/check.h"

namespace wideep {
namespace {

// T 4, K 2, H 256, F 64, S 8, one rank, bf16 compute, fp8 dispatch, bf16 combine:
// rows 4, pairs 8. The fp8 wire row: x 256 B, scales 2 x 4 B padded to 16 (token
// part 272 B), slot[2] 8 B, w[2] 8 B: 288 B. A combine row: 256 x 2 = 512 B.
TEST(RooflineModel, BytesPerKernelByHand) {
  RooflineShape s;
  s.tokens = 4, s.topk = 2, s.hidden = 256, s.ffn = 64, s.slots = 8;
  std::map<std::string, std::pair<int64_t, int64_t>> want = {
      {"quantize", {4 * 256 * 2, 4 * 272}},                            // 2048, 1088
      {"layout", {4 * 2 * 4, 4 + 8 + 16 + 16 + 16 + 32}},              // 32, 92
      {"pack", {4 * 272 + 4 * 2 * 12 + 4 * 8, 4 * 288}},               // 1216, 1152
      {"count", {4 * 2 * 4, 8 * 4 + 4}},                               // 32, 36
      {"permute", {4 * (272 + 8) + 9 * 4, 8 * 256 * 2 + 4 * 2 * 4}},   // 1156, 4128
      {"silu", {8 * 64 * 2, 8 * 64 * 2}},                              // 1024, 1024
      {"unpermute_combine", {8 * 256 * 2 + 32 + 32, 4 * 512}},         // 4160, 2048
      {"final_combine", {32 + 4 * 256 * 2, 4 * 256 * 4}},              // 2080, 4096
  };
  const std::vector<KernelBytes> got = roofline_kernel_bytes(s);
  ASSERT_EQ(got.size(), want.size());
  for (const KernelBytes& k : got) {
    ASSERT_TRUE(want.count(k.name)) << k.name;
    EXPECT_EQ(k.read, want[k.name].first) << k.name;
    EXPECT_EQ(k.written, want[k.name].second) << k.name;
    EXPECT_EQ(k.moved(), k.read + k.written);
  }
  EXPECT_EQ(got[0].name, "quantize");  // launch order
  EXPECT_EQ(got.back().name, "final_combine");
}

// The DeepSeek-V3 shape at T 128: the bf16 grouped x alone is 1024 x 7168 x 2 B.
TEST(RooflineModel, DeepSeekShapePermuteAndFlops) {
  RooflineShape s;
  s.tokens = 128, s.topk = 8, s.hidden = 7168, s.ffn = 2048, s.slots = 256;
  // Token part: 7168 B of fp8 + 56 scales (224 B, a multiple of 16) = 7392 B.
  for (const KernelBytes& k : roofline_kernel_bytes(s))
    if (k.name == "permute") {
      EXPECT_EQ(k.read, 128 * (7392 + 32) + 257 * 4);
      EXPECT_EQ(k.written, 1024LL * 7168 * 2 + 1024 * 4);
    }
  EXPECT_DOUBLE_EQ(ffn_flops(s), 4.0 * 1024 * 7168 * 2048);  // 60.1 GFLOP
  const DenseGemmShape d = dense_equivalent(s);
  EXPECT_EQ(d.m, 1024);
  EXPECT_EQ(d.n, 4096);
  EXPECT_EQ(d.k, 7168);
  EXPECT_DOUBLE_EQ(2.0 * d.m * d.n * d.k, ffn_flops(s));
}

TEST(RooflineModel, RejectsMoreThanOneRank) {
  RooflineShape s;
  s.tokens = 4, s.topk = 2, s.hidden = 256, s.ffn = 64, s.slots = 8, s.ranks = 2;
  EXPECT_THROW(roofline_kernel_bytes(s), Error);
}

TEST(RooflineModel, RoutingDistinctNormalisedDeterministic) {
  const int T = 64, K = 8, E = 16;
  std::vector<int32_t> ids(T * K), ids2(T * K);
  std::vector<float> w(T * K), w2(T * K);
  roofline_routing(T, K, E, 7, ids.data(), w.data());
  roofline_routing(T, K, E, 7, ids2.data(), w2.data());
  EXPECT_EQ(ids, ids2);
  EXPECT_EQ(w, w2);
  std::vector<int> load(E, 0);
  for (int t = 0; t < T; ++t) {
    std::set<int32_t> seen(ids.begin() + t * K, ids.begin() + (t + 1) * K);
    EXPECT_EQ(seen.size(), static_cast<size_t>(K)) << "token " << t;
    float sum = 0;
    for (int k = 0; k < K; ++k) {
      EXPECT_GE(ids[t * K + k], 0);
      EXPECT_LT(ids[t * K + k], E);
      EXPECT_GT(w[t * K + k], 0.0f);
      sum += w[t * K + k];
      ++load[ids[t * K + k]];
    }
    EXPECT_NEAR(sum, 1.0f, 1e-6f);
  }
  // Uniform: 512 pairs over 16 experts, 32 each on average; none empty, none doubled.
  for (int e = 0; e < E; ++e) {
    EXPECT_GT(load[e], 8) << e;
    EXPECT_LT(load[e], 64) << e;
  }
  // K = E: every token takes every expert once.
  roofline_routing(3, 4, 4, 1, ids.data(), w.data());
  for (int t = 0; t < 3; ++t) EXPECT_EQ(std::set<int32_t>(ids.begin() + 4 * t, ids.begin() + 4 * t + 4).size(), 4u);
}

}  // namespace
}  // namespace wideep
