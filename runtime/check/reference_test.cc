// Tests of --check's reference (runtime/check/reference.h) against an independent
// naive MoE of the same tokens: it regenerates its own inputs from (seed, step,
// layer, global token), so outputs built from the wrong tokens fail; and a NaN
// or an infinity anywhere in the output fails the check (issue 15, gaps 3, 4).
#include "runtime/check/reference.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/det_values.h"
#include "kernels/expert_cpu.h"
#include "kernels/row_bodies.h"

namespace wideep {
namespace {

RunConfig tiny_config() {
  RunConfig c;
  c.experts = 8;
  c.topk = 2;
  c.hidden = 8;
  c.ffn = 16;
  c.tokens = 5;
  c.layers = 2;
  c.seed = 3;
  c.shared_experts = 1;
  c.workload = parse_workload("zipf:1.2");
  return c;
}

// The MoE output of global tokens first..first+T-1 by naive double loops: the
// definition of DESIGN.md, written independently of reference.cc.
// wire (optional): the input as the experts receive it through that dispatch
// row under `compute` (kernels/row_bodies.h wire_roundtrip).
std::vector<float> naive_moe(const RunConfig& c, const Workload& wl, int step, int layer, int64_t first,
                             const WireRow* wire = nullptr, DType compute = DType::kF32) {
  const int T = c.tokens, K = c.topk, H = c.hidden, F = c.ffn;
  std::vector<int32_t> ids(T * K);
  std::vector<float> gw(T * K), w1(H * F), w2(F * H), out(T * H, 0.0f);
  wl.route(step, layer, first, T, ids.data(), gw.data());
  for (int t = 0; t < T; ++t) {
    std::vector<double> acc(H, 0.0), x(H), h(F);
    for (int col = 0; col < H; ++col) x[col] = token_activation(c.seed, step, layer, first + t, col);
    if (wire) {
      std::vector<float> xf(H);
      std::vector<unsigned char> scratch(wire->slot_offset);
      for (int col = 0; col < H; ++col) xf[col] = static_cast<float>(x[col]);
      wire_roundtrip(xf.data(), H, compute, *wire, scratch.data(), xf.data());
      for (int col = 0; col < H; ++col) x[col] = xf[col];
    }
    for (int k = 0; k <= K; ++k) {  // k == K: the shared expert, weight 1
      const int e = k < K ? ids[t * K + k] : c.experts;
      const double g = k < K ? gw[t * K + k] : 1.0;
      generate_expert_weights(c.seed, layer, e, H, F, w1.data(), w2.data());
      for (int f = 0; f < F; ++f) {
        double a = 0;
        for (int col = 0; col < H; ++col) a += x[col] * w1[col * F + f];
        h[f] = a / (1.0 + std::exp(-a));
      }
      for (int col = 0; col < H; ++col) {
        double a = 0;
        for (int f = 0; f < F; ++f) a += h[f] * w2[f * H + col];
        acc[col] += g * a;
      }
    }
    for (int col = 0; col < H; ++col) out[t * H + col] = static_cast<float>(acc[col]);
  }
  return out;
}

// cmd_run's verdict: the relative error against the reference's scale.
bool check_fails(const CheckResult& r) { return !(r.max_abs_err / std::max(r.scale, 1e-30) <= 1e-4); }

TEST(Reference, MatchesNaiveMoeOfTheGlobalTokens) {
  cpu_kernels_init();
  const RunConfig c = tiny_config();
  const Workload wl(c.workload, c.experts, c.topk, c.layers, c.seed, nullptr);
  Reference ref(c, wl);
  for (int step : {0, 3})
    for (int layer : {0, 1})
      for (int64_t first : {int64_t{0}, int64_t{5}, int64_t{15}}) {  // ranks 0, 1, 3 of T = 5
        const std::vector<float> out = naive_moe(c, wl, step, layer, first);
        const CheckResult r = ref.compare(step, layer, first, out.data());
        EXPECT_FALSE(check_fails(r)) << "step " << step << " layer " << layer << " first " << first
                                     << ": max abs err " << r.max_abs_err;
        EXPECT_GT(r.scale, 0.0);
        // Its inputs are the generator's, not anyone else's.
        EXPECT_EQ(ref.input()[c.hidden + 1], token_activation(c.seed, step, layer, first + 1, 1));
      }
}

// Rank 1's outputs computed from the tokens of rank 0 (a runner that uses the
// local token index), of another step or of another layer: the check fails.
TEST(Reference, OutputsOfOtherTokensFail) {
  cpu_kernels_init();
  const RunConfig c = tiny_config();
  const Workload wl(c.workload, c.experts, c.topk, c.layers, c.seed, nullptr);
  Reference ref(c, wl);
  EXPECT_TRUE(check_fails(ref.compare(2, 0, 5, naive_moe(c, wl, 2, 0, 0).data())));  // local index
  EXPECT_TRUE(check_fails(ref.compare(2, 0, 5, naive_moe(c, wl, 1, 0, 5).data())));  // step
  EXPECT_TRUE(check_fails(ref.compare(2, 0, 5, naive_moe(c, wl, 2, 1, 5).data())));  // layer
  EXPECT_FALSE(check_fails(ref.compare(2, 0, 5, naive_moe(c, wl, 2, 0, 5).data())));
}

// A NaN or an infinity in any output fails the check and names its token,
// whatever the errors before it (a NaN compares false with everything).
TEST(Reference, NanAndInfinityInTheOutputFail) {
  cpu_kernels_init();
  const RunConfig c = tiny_config();
  const Workload wl(c.workload, c.experts, c.topk, c.layers, c.seed, nullptr);
  Reference ref(c, wl);
  const std::vector<float> good = naive_moe(c, wl, 1, 1, 10);
  const float bad_values[] = {std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::quiet_NaN(),
                              std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()};
  for (float v : bad_values) {
    for (int pos : {0, 3 * c.hidden + 2, c.tokens * c.hidden - 1}) {  // first, middle, last output
      std::vector<float> out = good;
      out[pos] = v;
      const CheckResult r = ref.compare(1, 1, 10, out.data());
      EXPECT_TRUE(check_fails(r)) << v << " at " << pos;
      EXPECT_TRUE(std::isinf(r.max_abs_err)) << v << " at " << pos << ": " << r.max_abs_err;
      EXPECT_EQ(r.worst_token, pos / c.hidden) << v << " at " << pos;
    }
  }
  // A NaN after a large finite error still wins.
  std::vector<float> out = good;
  out[0] += 1000.0f;
  out[c.tokens * c.hidden - 1] = std::numeric_limits<float>::quiet_NaN();
  const CheckResult r = ref.compare(1, 1, 10, out.data());
  EXPECT_TRUE(std::isinf(r.max_abs_err));
  EXPECT_EQ(r.worst_token, c.tokens - 1);
}

// --dispatch-dtype fp8: the reference's input is the token's activations
// quantized per 128 channels as the wire carries them (bit for bit), so a
// runner that dispatches fp8 passes at fp32's 1e-4 and one that skipped the
// quantization (or the reference's) fails; bf16 compute rounds first.
TEST(Reference, InputIsWhatTheWireDelivers) {
  cpu_kernels_init();
  RunConfig c = tiny_config();
  c.hidden = 256;
  c.dispatch_dtype = "fp8";
  const Workload wl(c.workload, c.experts, c.topk, c.layers, c.seed, nullptr);
  const WireRow wr = wire_row(c.hidden, c.pairs_per_token(), DType::kFP8);
  for (DType compute : {DType::kF32, DType::kBF16}) {
    Reference ref(c, wl, compute);
    const std::vector<float> wired = naive_moe(c, wl, 1, 0, 5, &wr, compute);
    const CheckResult r = ref.compare(1, 0, 5, wired.data());
    EXPECT_LT(r.max_abs_err / r.scale, 1e-5) << dtype_name(compute);
    std::vector<float> x(c.hidden), scratch_x(c.hidden);
    std::vector<unsigned char> scratch(wr.slot_offset);
    for (int col = 0; col < c.hidden; ++col) x[col] = token_activation(c.seed, 1, 0, 5 + 2, col);
    wire_roundtrip(x.data(), c.hidden, compute, wr, scratch.data(), scratch_x.data());
    int differ = 0, moved = 0;
    for (int col = 0; col < c.hidden; ++col) {
      differ += ref.input()[2 * c.hidden + col] != scratch_x[col];
      moved += scratch_x[col] != x[col];
    }
    EXPECT_EQ(differ, 0) << dtype_name(compute);
    EXPECT_GT(moved, c.hidden / 2) << dtype_name(compute);
  }
  // The unquantized output fails fp32's limit: the quantization is visible to the check.
  Reference ref(c, wl, DType::kF32);
  EXPECT_TRUE(check_fails(ref.compare(1, 0, 5, naive_moe(c, wl, 1, 0, 5).data())));
  // bf16 dispatch under fp32 compute: the reference rounds its input to bf16.
  c.dispatch_dtype = "bf16";
  Reference rb(c, wl, DType::kF32);
  rb.compare(1, 0, 5, naive_moe(c, wl, 1, 0, 5).data());
  EXPECT_EQ(rb.input()[3], round_bf16(token_activation(c.seed, 1, 0, 5, 3)));
}

// --combine-dtype bf16 under fp32 compute: an output within 2^-8 of its pairs'
// magnitudes (what one bf16 rounding per returned row can do) passes, with
// its raw error still reported; the same output fails with fp32 combine rows;
// a larger error, a NaN, still fail.
TEST(Reference, Bf16CombineRowsGetTheirRoundingAllowance) {
  cpu_kernels_init();
  RunConfig c = tiny_config();
  const Workload wl(c.workload, c.experts, c.topk, c.layers, c.seed, nullptr);
  std::vector<float> out = naive_moe(c, wl, 2, 1, 0);
  for (float& v : out) v = round_bf16(v);  // one returned row per token, rounded
  c.combine_dtype = "bf16";
  Reference ref(c, wl, DType::kF32);
  ASSERT_TRUE(ref.combine_allowance());
  CheckResult r = ref.compare(2, 1, 0, out.data());
  EXPECT_FALSE(check_fails(r)) << r.max_abs_err;
  EXPECT_GT(r.raw_abs_err / r.scale, 1e-4);  // it would fail without the allowance
  out[7] += static_cast<float>(0.01 * r.scale);
  EXPECT_TRUE(check_fails(ref.compare(2, 1, 0, out.data())));
  out[7] = std::numeric_limits<float>::quiet_NaN();
  r = ref.compare(2, 1, 0, out.data());
  EXPECT_TRUE(std::isinf(r.max_abs_err));
  // fp32 combine rows: no allowance; bf16 compute: its own limit covers it.
  c.combine_dtype = "fp32";
  Reference exact(c, wl, DType::kF32);
  EXPECT_FALSE(exact.combine_allowance());
  std::vector<float> rounded = naive_moe(c, wl, 2, 1, 0);
  for (float& v : rounded) v = round_bf16(v);
  EXPECT_TRUE(check_fails(exact.compare(2, 1, 0, rounded.data())));
  c.combine_dtype = "auto";
  EXPECT_FALSE(Reference(c, wl, DType::kBF16).combine_allowance());
}

// --check holds a few experts' weights, not every expert of every layer
// (issue 24): 8 experts + 1 shared, uniform routing of 64 tokens x top-2, so
// every expert is used in every compare(). Layer 0 of step 0 generates all 9;
// layer 0 of step 1 finds the 4 it used last still cached and uses them first
// (9 + 5 = 14 generated; using them in expert order would evict each one just
// before its turn: 18); layer 1 shares nothing with layer 0 (14 + 9 = 23).
// The cache holds 4 x (W1 + W2) = 4 x 2 x 8 x 16 x 4 bytes, and the outputs
// still match the naive MoE.
TEST(Reference, KeepsAFewExpertsAndUsesTheCachedOnesFirst) {
  cpu_kernels_init();
  RunConfig c = tiny_config();
  c.tokens = 64;
  c.workload = parse_workload("uniform");
  const Workload wl(c.workload, c.experts, c.topk, c.layers, c.seed, nullptr);
  Reference ref(c, wl);
  EXPECT_EQ(reference_cache_slots(c), 4);
  const int64_t expected[3] = {9, 14, 23};
  const int calls[3][2] = {{0, 0}, {1, 0}, {1, 1}};  // (step, layer)
  for (int i = 0; i < 3; ++i) {
    const int step = calls[i][0], layer = calls[i][1];
    const CheckResult r = ref.compare(step, layer, 64, naive_moe(c, wl, step, layer, 64).data());
    EXPECT_FALSE(check_fails(r)) << "step " << step << " layer " << layer << ": max abs err " << r.max_abs_err;
    std::vector<bool> used(c.experts, false);
    for (int32_t e : ref.topk_ids()) used[e] = true;
    ASSERT_EQ(std::count(used.begin(), used.end(), true), c.experts) << "the test needs every expert used";
    EXPECT_EQ(ref.weights_generated(), expected[i]) << "step " << step << " layer " << layer;
    EXPECT_EQ(ref.cache_bytes(), 4 * 2 * 8 * 16 * 4);
  }
}

// The reference's own generator gives the experts' weights bit for bit, in
// its vector loop and its plain one (H and F not multiples of the vector width).
TEST(Reference, RegeneratedWeightsAreTheExperts) {
  const int H = 24, F = 37;
  std::vector<float> w1(H * F), w2(F * H), r1(H * F), r2(F * H);
  for (int expert : {0, 5})
    for (bool vector : {true, false}) {
      generate_expert_weights(7, 3, expert, H, F, w1.data(), w2.data());
      std::fill(r1.begin(), r1.end(), -9.0f);
      std::fill(r2.begin(), r2.end(), -9.0f);
      reference_expert_weights(7, 3, expert, H, F, r1.data(), r2.data(), vector);
      EXPECT_EQ(0, std::memcmp(w1.data(), r1.data(), sizeof(float) * w1.size())) << "expert " << expert << " vector " << vector;
      EXPECT_EQ(0, std::memcmp(w2.data(), r2.data(), sizeof(float) * w2.size())) << "expert " << expert << " vector " << vector;
    }
}

}  // namespace
}  // namespace wideep
