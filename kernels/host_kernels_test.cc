// The host kernel backend through the KernelBackend calls the pipeline makes
// (kernels/backend_step_testing.h): fp32 against an fp64 reference, the bf16
// device configuration within its stated bound, the first bad row named, and
// the compute mirror refreshed only for written slots.
#include "kernels/host_kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "kernels/backend_step_testing.h"
#include "kernels/expert_cpu.h"
#include "kernels/row_bodies.h"

namespace wideep {
namespace {

const CopyIn kHostCopy = [](void* dst, const void* src, size_t n) { std::memcpy(dst, src, n); };

double max_rel_err(const std::vector<float>& got, const std::vector<double>& want) {
  double err = 0, scale = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    err = std::max(err, std::fabs(got[i] - want[i]));
    scale = std::max(scale, std::fabs(want[i]));
  }
  return std::isnan(err) ? INFINITY : err / scale;
}

std::vector<float> host_step(const StepSetup& s, int64_t* pairs, int corrupt_row = -1, int32_t* bad = nullptr) {
  cpu_kernels_init();
  HostKernels k(step_shape(s));
  HostExpertStore store(s.layer + 1, s.experts, s.shared, s.hidden, s.ffn, s.seed, s.dtype);
  store.fill(one_rank_placement(s), 0);
  return run_one_rank_step(s, k, store, kHostCopy, pairs, corrupt_row, bad);
}

// Where the device stores bf16, the host rounds: h as cuBLAS writes it, then
// SiLU(h) as the SiLU kernel writes it. Recomputed here from the same GEMM
// list (cblas again: bit-identical), every value must match bit for bit.
TEST(HostKernels, Bf16RoundsWhereTheDeviceStores) {
  StepSetup s;
  s.dtype = DType::kBF16;
  cpu_kernels_init();
  HostKernels k(step_shape(s));
  HostExpertStore store(s.layer + 1, s.experts, s.shared, s.hidden, s.ffn, s.seed, s.dtype);
  store.fill(one_rank_placement(s), 0);
  int64_t pairs = 0;
  FfnProblems pr;
  run_one_rank_step(s, k, store, kHostCopy, &pairs, -1, nullptr, &pr);
  ASSERT_FALSE(pr.up.empty());
  int64_t differ = 0;
  for (const GemmProblem& g : pr.up) {
    std::vector<float> h(static_cast<size_t>(g.m) * g.n);
    GemmProblem mine = g;
    mine.c = h.data();
    run_problems_cblas({mine});
    const float* got = static_cast<const float*>(g.c);
    for (size_t i = 0; i < h.size(); ++i) {
      const float want = round_bf16(silu_elem(round_bf16(h[i])));
      differ += std::memcmp(&want, &got[i], sizeof want) != 0;
    }
  }
  EXPECT_EQ(differ, 0) << "values of SiLU(h) not rounded as the device rounds them";
}

TEST(HostKernels, Fp32StepMatchesReference) {
  StepSetup s;
  int64_t pairs = 0;
  const std::vector<float> out = host_step(s, &pairs);
  EXPECT_EQ(pairs, static_cast<int64_t>(s.tokens) * (s.topk + s.shared));
  EXPECT_LT(max_rel_err(out, reference_step(s)), 1e-5);
}

TEST(HostKernels, Bf16StepWithinItsBoundAndNotExact) {
  StepSetup s;
  s.dtype = DType::kBF16;
  int64_t pairs = 0;
  const double err = max_rel_err(host_step(s, &pairs), reference_step(s));
  // The bound --check applies to bf16 (runtime/moe_pipeline.cc check_limit: 2^-5),
  // and the rounding must really happen (an fp32 path would be ~1e-7 off).
  EXPECT_LT(err, 1.0 / 32);
  EXPECT_GT(err, 1e-4);
}

TEST(HostKernels, CountSlotsNamesTheFirstBadRow) {
  StepSetup s;
  int64_t pairs = 0;
  int32_t bad = -1;
  host_step(s, &pairs, 5, &bad);
  EXPECT_EQ(bad, 5);
  host_step(s, &pairs, -1, &bad);
  EXPECT_EQ(bad, -1);
}

TEST(HostKernels, GrowsReceiveBuffersAndReportsTheBytes) {
  StepSetup s;
  HostKernels k(step_shape(s));
  int64_t h0 = 0, d0 = 0, h1 = 0, d1 = 0;
  k.allocated_bytes(&h0, &d0);
  const int64_t added = k.reserve_receive(10, 30);
  k.allocated_bytes(&h1, &d1);
  EXPECT_GT(added, 0);
  EXPECT_EQ(h1 - h0, added);
  EXPECT_EQ(d1, 0);
  EXPECT_EQ(k.reserve_receive(5, 20), 0);  // fits: nothing grows
}

TEST(ExpertStoreMirror, OnlyWrittenSlotsAreRefreshed) {
  HostExpertStore a(1, 3, 0, 8, 4, 3, DType::kBF16), b(1, 3, 0, 8, 4, 3, DType::kBF16);
  Placement p;
  p.num_ranks = 1;
  p.num_logical = 3;
  p.slots_per_rank = 3;
  p.phy2log = {0, 1, 2};
  a.fill({p}, 0);
  b.fill({p}, 0);
  for (int s = 0; s < 3; ++s) a.w1(0, s);
  const int64_t after_fill = a.mirror_refreshes();
  EXPECT_EQ(after_fill, 3);
  // A send reads the master: no refresh.
  std::vector<unsigned char> sent(a.slot_bytes());
  std::memcpy(sent.data(), a.slot_read(0, 1), sent.size());
  for (int s = 0; s < 3; ++s) a.w1(0, s);
  EXPECT_EQ(a.mirror_refreshes(), after_fill);
  // A receive writes the master: that slot alone is refreshed, and the mirror follows it.
  std::memcpy(a.slot_write(0, 2), b.slot_read(0, 0), a.slot_bytes());
  const float* m = static_cast<const float*>(a.w2(0, 2));
  EXPECT_EQ(a.mirror_refreshes(), after_fill + 1);
  const float* src = static_cast<const float*>(b.slot_read(0, 0)) + a.matrix_elems();
  for (size_t i = 0; i < a.matrix_elems(); ++i) ASSERT_EQ(m[i], round_bf16(src[i]));
}

}  // namespace
}  // namespace wideep
