// The host side of the roofline (kernels/roofline_bench.h): the layer's
// kernels as host loops over the same bodies (kernels/row_bodies.h), bf16
// buffers as the device holds them, against memcpy and one cblas_sgemm. Its
// numbers describe this CPU only; it exists so that the stage rehearses here.
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <cstring>

#include "common/check.h"
#include "kernels/dispatch_layout.h"
#include "kernels/expert_cpu.h"
#include "kernels/gemm_problems.h"
#include "kernels/host_kernels.h"
#include "kernels/roofline_bench.h"
#include "kernels/row_bodies.h"

namespace wideep {

double median_of(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

namespace {
template <typename F>
double host_median_us(int warmup, int iters, F&& run) {
  for (int i = 0; i < warmup; ++i) run();
  std::vector<double> t;
  for (int i = 0; i < iters; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    t.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  return median_of(t);
}
}  // namespace

RooflineResult measure_roofline_host(const RooflineConfig& cfg) {
  const RooflineShape& s = cfg.shape;
  WIDEEP_ASSERT(s.compute == DType::kBF16 && s.combine == DType::kBF16,
                "the host roofline runs bf16 compute and combine, as the device");
  cpu_kernels_init();
  const int T = s.tokens, K = s.topk, H = s.hidden, F = s.ffn, S = s.slots;
  const size_t TK = static_cast<size_t>(T) * K, pairs = TK;
  const WireRow wr = wire_row(H, K, s.dispatch);
  const size_t rr = return_row_bytes(H, s.combine);
  std::vector<int32_t> ids(TK), dest(TK, 0);
  std::vector<float> gate(TK);
  roofline_routing(T, K, S, cfg.seed, ids.data(), gate.data());
  std::vector<uint16_t> x(static_cast<size_t>(T) * H);
  for (int t = 0; t < T; ++t)
    for (int c = 0; c < H; ++c) x[static_cast<size_t>(t) * H + c] = activation_elem<uint16_t>(cfg.seed, 0, 0, t, c);
  std::vector<unsigned char> xw(T * wr.slot_offset), send(T * wr.row_bytes), rows_out(T * rr);
  DispatchLayout layout;
  layout.init(1, T, K);
  std::vector<int32_t> count(S), offsets(S + 1), cursor(S), pair_pos(TK);
  std::vector<uint16_t> xg(pairs * H), hg(pairs * F), yg(pairs * H);
  std::vector<float> out(static_cast<size_t>(T) * H);
  int32_t first_bad = -1;

  auto quantize = [&] {
    for (int t = 0; t < T; ++t) write_token_part(&x[static_cast<size_t>(t) * H], H, wr, &xw[t * wr.slot_offset]);
  };
  auto do_layout = [&] { build_layout(dest.data(), &layout); };
  auto pack = [&] { pack_rows(layout, wr, xw.data(), wr.slot_offset, dest.data(), ids.data(), gate.data(), send.data()); };
  auto count_slots = [&] {
    std::fill(count.begin(), count.end(), 0);
    for (int r = 0; r < T; ++r) {
      const auto* sl = reinterpret_cast<const int32_t*>(&send[r * wr.row_bytes + wr.slot_offset]);
      for (int p = 0; p < K; ++p) {
        if (sl[p] < -1 || sl[p] >= S) first_bad = first_bad < 0 ? r : first_bad;
        else if (sl[p] >= 0) ++count[sl[p]];
      }
    }
  };
  auto permute = [&] {
    std::copy(offsets.begin(), offsets.end() - 1, cursor.begin());
    for (int r = 0; r < T; ++r) {
      const unsigned char* row = &send[r * wr.row_bytes];
      const auto* sl = reinterpret_cast<const int32_t*>(row + wr.slot_offset);
      for (int p = 0; p < K; ++p) {
        const int32_t i = cursor[sl[p]]++;
        pair_pos[static_cast<size_t>(r) * K + p] = i;
        for (int c = 0; c < H; ++c) xg[static_cast<size_t>(i) * H + c] = float_to_bf16(wire_x_value(row, wr, c));
      }
    }
  };
  auto silu = [&] {
    for (uint16_t& h : hg) h = silu_elem(h);
  };
  auto unpermute_combine = [&] {
    for (int r = 0; r < T; ++r) {
      const auto* w = reinterpret_cast<const float*>(&send[r * wr.row_bytes + wr.weight_offset]);
      auto* dst = reinterpret_cast<uint16_t*>(&rows_out[r * rr]);
      for (int c = 0; c < H; ++c)
        dst[c] = float_to_bf16(partial_combine_elem(&pair_pos[static_cast<size_t>(r) * K], w, K, yg.data(), H, c));
    }
  };
  auto final_combine = [&] {
    for (int t = 0; t < T; ++t)
      for (int c = 0; c < H; ++c)
        out[static_cast<size_t>(t) * H + c] = final_combine_elem<uint16_t>(
            &layout.token_rows[static_cast<size_t>(t) * K], K, rows_out.data(), rows_out.data(), 0, T, rr, c);
  };
  // One pass in order sets up what each kernel reads (offsets from the counts).
  quantize(), do_layout(), pack(), count_slots();
  slot_offsets(count.data(), S, offsets.data());
  WIDEEP_ASSERT(first_bad < 0 && offsets[S] == static_cast<int32_t>(pairs), "host roofline: every pair grouped");
  permute(), silu(), unpermute_combine(), final_combine();

  // The GEMMs in fp32 (OpenBLAS has no bf16 GEMM): the problem list of the layer.
  std::vector<float> w(static_cast<size_t>(S) * 2 * H * F), xf(pairs * H), hf(pairs * F), yf(pairs * H);
  std::vector<const void*> w1(S), w2(S);
  for (int e = 0; e < S; ++e) {
    float* we = &w[static_cast<size_t>(e) * 2 * H * F];
    generate_expert_weights(cfg.seed, 0, e, H, F, we, we + static_cast<size_t>(H) * F);
    w1[e] = we;
    w2[e] = we + static_cast<size_t>(H) * F;
  }
  for (size_t i = 0; i < xf.size(); ++i) xf[i] = bf16_to_float(xg[i]);
  FfnProblems problems;
  build_ffn_problems(offsets.data(), S, H, F, sizeof(float), w1.data(), w2.data(), xf.data(), hf.data(), yf.data(),
                     &problems);
  const DenseGemmShape d = dense_equivalent(s);
  std::vector<float> da(static_cast<size_t>(d.m * d.k), 0.01f), db(static_cast<size_t>(d.k * d.n), 0.02f),
      dc(static_cast<size_t>(d.m * d.n));

  RooflineResult res;
  res.backend = "host";
  res.device = "host CPU (OpenBLAS, memcpy)";
  res.flops = ffn_flops(s);
  const std::vector<std::function<void()>> runs = {quantize, do_layout, pack,          count_slots,
                                                   permute,  silu,      unpermute_combine, final_combine};
  const std::vector<KernelBytes> bytes = roofline_kernel_bytes(s);
  WIDEEP_ASSERT(bytes.size() == runs.size(), "one host loop per counted kernel");
  size_t max_copy = 0;
  for (const KernelBytes& b : bytes) max_copy = std::max(max_copy, static_cast<size_t>(b.moved() / 2));
  std::vector<unsigned char> src(max_copy, 1), dst(max_copy);
  for (size_t i = 0; i < runs.size(); ++i) {
    KernelTiming k;
    k.bytes = bytes[i];
    k.kernel_us = host_median_us(cfg.warmup, cfg.iters, runs[i]);
    const size_t n = static_cast<size_t>(bytes[i].moved() / 2);
    k.copy_us = host_median_us(cfg.warmup, cfg.iters, [&] { std::memcpy(dst.data(), src.data(), n); });
    res.kernels.push_back(k);
  }
  GemmTiming g;
  g.mode = "cblas";
  g.grouped_us = host_median_us(cfg.warmup, cfg.iters, [&] {
    run_problems_cblas(problems.up);
    run_problems_cblas(problems.down);
  });
  g.dense_us = host_median_us(cfg.warmup, cfg.iters, [&] {
    cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(d.m), static_cast<int>(d.n),
                static_cast<int>(d.k), 1.0f, da.data(), static_cast<int>(d.m), db.data(), static_cast<int>(d.k), 0.0f,
                dc.data(), static_cast<int>(d.m));
  });
  res.gemm.push_back(g);
  res.layer_kernels_us = host_median_us(cfg.warmup, cfg.iters, [&] {
    quantize(), do_layout(), pack(), count_slots(), permute();
    run_problems_cblas(problems.up);
    silu();
    run_problems_cblas(problems.down);
    unpermute_combine(), final_combine();
  });
  return res;
}

}  // namespace wideep
