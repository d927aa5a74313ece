// The host kernel backend through the KernelBackend calls the pipeline makes
// (kernels/backend_step_testing.h): fp32 against an fp64 reference, the bf16
// device configuration within its stated bound, the first bad row named, and
// the compute mirror refreshed only for written slots.
#include "kernels/host_kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "kernels/backend_step_testing.h"
#include "kernels/det_values.h"
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
  // The bound --check applies to bf16 (runtime/step/moe_pipeline.cc check_limit: 2^-5),
  // and the rounding must really happen (an fp32 path would be ~1e-7 off).
  EXPECT_LT(err, 1.0 / 32);
  EXPECT_GT(err, 1e-4);
}

// Dispatch modes (issue 12). Low-latency: T*P single-pair rows wire_row(H, 1,
// dtype), one per pair, and the same output as flat up to summation order.
// Hierarchical: the forwarder's step (its tokens are stage-1's received rows,
// its node sums become stage-1's combine rows) gives the same output too; with
// bf16 combine rows it rounds twice, within twice the one rounding's bound.
TEST(HostKernels, DispatchModeStepsMatchFlat) {
  for (DType d : {DType::kF32, DType::kFP8}) {
    StepSetup s;
    s.hidden = 256;
    s.dispatch = d;
    int64_t flat_pairs = 0, ll_pairs = 0, fwd_pairs = 0;
    const std::vector<float> flat = host_step(s, &flat_pairs);
    StepSetup ll = s;
    ll.pair_rows = true;
    HostKernels k(step_shape(ll));
    EXPECT_EQ(k.wire().row_bytes, wire_row(256, 1, d).row_bytes);
    EXPECT_EQ(k.row_pairs(), 1);
    const std::vector<float> got_ll = host_step(ll, &ll_pairs);
    EXPECT_EQ(ll_pairs, flat_pairs);
    EXPECT_LT(max_rel_err(got_ll, std::vector<double>(flat.begin(), flat.end())), 1e-5) << dtype_name(d);
    HostKernels k1(step_shape(s));
    KernelShape fs = step_shape(s);
    fs.forwarder = true;
    HostKernels kf(fs);
    HostExpertStore store(s.layer + 1, s.experts, s.shared, s.hidden, s.ffn, s.seed, s.dtype);
    store.fill(one_rank_placement(s), 0);
    const std::vector<float> got_h = run_forwarded_step(s, k1, kf, store, kHostCopy, &fwd_pairs);
    EXPECT_EQ(fwd_pairs, flat_pairs);
    EXPECT_LT(max_rel_err(got_h, std::vector<double>(flat.begin(), flat.end())), 1e-5) << dtype_name(d);
    EXPECT_LT(max_rel_err(got_h, reference_step(s, /*wire_input=*/true)), 1e-5) << dtype_name(d);
  }
}

// fp8 dispatch rows: the step equals the fp64 reference of the input the
// experts receive (quantized per 128 channels), and the quantization is real:
// against the unquantized input it is far off. Same for bf16 rows under fp32
// compute. The dispatch rows are wire_row(H, P, dispatch dtype).
TEST(HostKernels, WireDtypeStepMatchesReferenceOfTheWireInput) {
  for (DType d : {DType::kFP8, DType::kBF16}) {
    StepSetup s;
    s.hidden = 256;
    s.dispatch = d;
    int64_t pairs = 0;
    const std::vector<float> out = host_step(s, &pairs);
    EXPECT_LT(max_rel_err(out, reference_step(s, /*wire_input=*/true)), 1e-5) << dtype_name(d);
    EXPECT_GT(max_rel_err(out, reference_step(s, false)), d == DType::kFP8 ? 1e-3 : 1e-4) << dtype_name(d);
    HostKernels k(step_shape(s));
    EXPECT_EQ(k.wire().row_bytes, wire_row(256, s.topk + s.shared, d).row_bytes);
    EXPECT_EQ(k.return_row_bytes(), 256u * 4);  // the combine dtype stays fp32
  }
}

// The send rows' token part is write_token_part of the compute-dtype
// activations (bit for bit; the device's kernel must give the same bytes),
// for every compute x dispatch dtype.
TEST(HostKernels, SendRowsCarryXInTheDispatchDtype) {
  for (DType compute : {DType::kF32, DType::kBF16})
    for (DType wire : {DType::kF32, DType::kBF16, DType::kFP8}) {
      StepSetup s;
      s.hidden = 200;  // a partial fp8 group
      s.dtype = compute;
      s.dispatch = wire;
      HostKernels k(step_shape(s));
      const int T = s.tokens, H = s.hidden, P = s.topk + s.shared;
      std::vector<int32_t> dest(static_cast<size_t>(T) * P, 0), slot(dest.size(), 0), off(2);
      std::vector<float> w(dest.size(), 0.5f);
      k.activations(s.step, s.layer, 0);
      k.layout(dest.data(), slot.data(), w.data(), off.data());
      ASSERT_EQ(off[1], T);  // one rank: row t is token t
      const WireRow wr = wire_row(H, P, wire);
      std::vector<unsigned char> row(wr.row_bytes), want(wr.slot_offset);
      std::vector<float> x(H);
      for (int t = 0; t < T; ++t) {
        for (int c = 0; c < H; ++c) x[c] = round_to(compute, token_activation(s.seed, s.step, s.layer, t, c));
        write_token_part(x.data(), H, wr, want.data());
        k.read_send_row(t, row.data());
        ASSERT_EQ(0, std::memcmp(row.data(), want.data(), wr.slot_offset))
            << dtype_name(compute) << " -> " << dtype_name(wire) << " token " << t;
        EXPECT_EQ(reinterpret_cast<const int32_t*>(row.data() + wr.slot_offset)[0], 0);
      }
    }
}

// bf16 combine rows under fp32 compute: the rounding happens (the output is
// not the fp32 one) and stays within 2^-8 of the pairs' magnitudes, the bound
// the --check reference allows (runtime/check/reference.h).
TEST(HostKernels, Bf16CombineRowsRoundOnceEach) {
  StepSetup s;
  s.combine = DType::kBF16;
  int64_t pairs = 0;
  const std::vector<float> out = host_step(s, &pairs);
  StepSetup f = s;
  f.combine = DType::kF32;
  const std::vector<float> exact = host_step(f, &pairs);
  double moved = 0, worst = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    moved = std::max(moved, std::fabs(static_cast<double>(out[i]) - exact[i]));
    worst = std::max(worst, std::fabs(static_cast<double>(out[i]) - exact[i]) / std::max(1e-30, std::fabs(static_cast<double>(exact[i]))));
  }
  EXPECT_GT(moved, 0.0);
  EXPECT_LE(worst, std::ldexp(1.0, -8));  // one row per token here: the row is the output
  HostKernels k(step_shape(s));
  EXPECT_EQ(k.return_row_bytes(), return_row_bytes(s.hidden, DType::kBF16));
}

// Combine rows are H values padded to 16 bytes, and the padding is sent:
// partial_combine and set_expert_rows write it (zeros) over whatever the
// buffer held, as the device's kernels do (compute-sanitizer's initcheck).
TEST(HostKernels, CombineRowPaddingIsWrittenAsZeros) {
  for (DType combine : {DType::kF32, DType::kBF16}) {
    StepSetup s;
    s.hidden = 41;  // fp32: 164 -> 176 bytes; bf16: 82 -> 96
    s.combine = combine;
    cpu_kernels_init();
    HostKernels k(step_shape(s));
    const size_t rrb = k.return_row_bytes(), values = dtype_bytes(combine) * s.hidden;
    ASSERT_GT(rrb, values);
    const int rows = s.tokens;  // one rank: a row per token
    k.reserve_receive(rows, static_cast<int64_t>(rows) * (s.topk + s.shared));
    auto expect_zero_padding = [&](const char* what) {
      const auto* out = static_cast<const unsigned char*>(k.expert_rows());
      for (int r = 0; r < rows; ++r)
        for (size_t b = values; b < rrb; ++b)
          ASSERT_EQ(out[rrb * r + b], 0) << what << " " << dtype_name(combine) << " row " << r << " byte " << b;
    };
    std::memset(k.expert_rows(), 0xAB, rrb * rows);
    HostExpertStore store(s.layer + 1, s.experts, s.shared, s.hidden, s.ffn, s.seed, s.dtype);
    store.fill(one_rank_placement(s), 0);
    int64_t pairs = 0;
    run_one_rank_step(s, k, store, kHostCopy, &pairs);
    expect_zero_padding("partial_combine");
    std::memset(k.expert_rows(), 0xAB, rrb * rows);
    const std::vector<float> sums(static_cast<size_t>(rows) * s.hidden, 1.5f);
    k.set_expert_rows(sums.data(), rows);
    expect_zero_padding("set_expert_rows");
  }
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
