// The device side of the roofline (kernels/roofline_bench.h): the layer's
// launchers (kernels/device_api.h) on one stream, each timed with CUDA events
// against cudaMemcpyAsync D2D of the same bytes; the expert GEMM
// (kernels/expert_gemm.h) in each WIDEEP_GEMM mode against one dense
// cublasGemmEx of the same FLOPs. One rank: the send rows are the received
// rows (no exchange), all rows are this rank's own in the final combine.
#include "common/check.h"
#include "kernels/roofline_bench.h"

#ifdef WIDEEP_HAVE_CUDA
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>

#include "kernels/det_values.h"
#include "kernels/device_api.h"
#include "kernels/device_buffer.h"
#include "kernels/expert_cpu.h"
#include "kernels/expert_gemm.h"
#include "kernels/gemm_problems.h"
#endif

namespace wideep {

#ifdef WIDEEP_HAVE_CUDA
namespace {

// WIDEEP_GEMM set to `mode` while an ExpertGemm is made (it reads it once), then restored.
class GemmModeEnv {
 public:
  explicit GemmModeEnv(const char* mode) {
    const char* old = std::getenv("WIDEEP_GEMM");
    had_ = old != nullptr;
    if (had_) old_ = old;
    setenv("WIDEEP_GEMM", mode, 1);
  }
  ~GemmModeEnv() {
    if (had_) setenv("WIDEEP_GEMM", old_.c_str(), 1);
    else unsetenv("WIDEEP_GEMM");
  }

 private:
  bool had_ = false;
  std::string old_;
};

struct Timer {
  void* stream;
  double timeout_s;
  dev::EventTimer ev{2};
  // Median of `iters` timed runs after `warmup`; each run waited for (the GEMM's
  // pinned staging is reused from one run to the next).
  double median_us(int warmup, int iters, const std::function<void()>& run) {
    for (int i = 0; i < warmup; ++i) {
      run();
      dev::stream_wait(stream, timeout_s, "roofline warm-up");
    }
    std::vector<double> t;
    for (int i = 0; i < iters; ++i) {
      ev.record(0, stream);
      run();
      ev.record(1, stream);
      ev.wait(1, timeout_s, "roofline timing");
      t.push_back(static_cast<double>(ev.elapsed_ns(0, 1)) / 1e3);
    }
    return median_of(t);
  }
};

}  // namespace

RooflineResult measure_roofline_device(const RooflineConfig& cfg) {
  const RooflineShape& s = cfg.shape;
  WIDEEP_ASSERT(s.compute != DType::kFP8 && s.combine != DType::kFP8, "fp8 is a dispatch dtype only");
  const int T = s.tokens, K = s.topk, H = s.hidden, F = s.ffn, S = s.slots, R = 1;
  const size_t TK = static_cast<size_t>(T) * K, pairs = TK, c = dtype_bytes(s.compute), i4 = sizeof(int32_t);
  const WireRow wr = wire_row(H, K, s.dispatch);
  const size_t rr = return_row_bytes(H, s.combine);
  const bool convert = s.dispatch != s.compute;
  const size_t token_bytes = convert ? wr.slot_offset : static_cast<size_t>(H) * c;
  dev::StreamHandle stream_owner;
  void* st = stream_owner.get();
  Timer timer{st, cfg.timeout_s};

  // Routing and the pairs per slot, on the host.
  std::vector<int32_t> ids(TK), dest(TK, 0), count(S, 0), offsets(S + 1);
  std::vector<float> gate(TK);
  roofline_routing(T, K, S, cfg.seed, ids.data(), gate.data());
  for (int32_t e : ids) ++count[e];
  slot_offsets(count.data(), S, offsets.data());

  dev::DeviceBuffer x(T * H * c), xw(convert ? T * token_bytes : 0), d_dest(TK * i4), d_slot(TK * i4),
      d_weight(TK * 4), rank_rows(R * i4), rank_off((R + 1) * i4), row_token(T * i4), row_rank(T * i4),
      token_row(static_cast<size_t>(R) * T * i4), token_rows(TK * i4), send(T * wr.row_bytes),
      misc((3 * static_cast<size_t>(S) + 2) * i4), pair_pos(TK * i4), xg(pairs * H * c), hg(pairs * F * c),
      yg(pairs * H * c), expert_rows(T * rr), out(static_cast<size_t>(T) * H * 4);
  int32_t* d_count = misc.as<int32_t>();
  int32_t* d_offsets = d_count + S;
  int32_t* d_cursor = d_offsets + S + 1;
  int32_t* d_first_bad = d_cursor + S;
  dev::copy_async(d_dest.get(), dest.data(), TK * i4, st);
  dev::copy_async(d_slot.get(), ids.data(), TK * i4, st);
  dev::copy_async(d_weight.get(), gate.data(), TK * 4, st);
  dev::copy_async(d_offsets, offsets.data(), (S + 1) * i4, st);
  dev::launch_token_activations(x.get(), T, H, s.compute, cfg.seed, 0, 0, 0, st);

  // Expert weights in the compute dtype: generated per expert in fp32, converted.
  dev::DeviceBuffer w1(static_cast<size_t>(S) * H * F * c), w2(static_cast<size_t>(S) * H * F * c),
      wf(2 * static_cast<size_t>(H) * F * 4);
  std::vector<const void*> w1p(S), w2p(S);
  const size_t hf = static_cast<size_t>(H) * F;
  for (int e = 0; e < S; ++e) {
    dev::launch_expert_weights(wf.as<float>(), cfg.seed, 0, e, H, F, 1.0f / std::sqrt(static_cast<float>(H)),
                               1.0f / std::sqrt(static_cast<float>(F)), st);
    unsigned char* a = w1.as<unsigned char>() + e * hf * c;
    unsigned char* b = w2.as<unsigned char>() + e * hf * c;
    if (s.compute == DType::kBF16) {
      dev::launch_to_bf16(wf.as<float>(), a, static_cast<int64_t>(hf), st);
      dev::launch_to_bf16(wf.as<float>() + hf, b, static_cast<int64_t>(hf), st);
    } else {
      dev::copy_async(a, wf.get(), hf * 4, st);
      dev::copy_async(b, wf.as<float>() + hf, hf * 4, st);
    }
    w1p[e] = a;  // wf is reused by the next expert: in stream order, no wait needed
    w2p[e] = b;
  }
  dev::stream_wait(st, cfg.timeout_s, "roofline: expert weights");
  FfnProblems problems;
  build_ffn_problems(offsets.data(), S, H, F, c, w1p.data(), w2p.data(), xg.get(), hg.get(), yg.get(), &problems);

  const void* tokens = convert ? xw.get() : x.get();
  auto quantize = [&] {
    if (convert) dev::launch_wire_tokens(x.get(), T, H, s.compute, wr, xw.get(), st);
  };
  auto layout = [&] {
    dev::launch_dispatch_layout(d_dest.as<int32_t>(), T, K, R, rank_rows.as<int32_t>(), rank_off.as<int32_t>(),
                                row_token.as<int32_t>(), row_rank.as<int32_t>(), token_row.as<int32_t>(),
                                token_rows.as<int32_t>(), st);
  };
  auto pack = [&] {
    dev::launch_pack_rows(tokens, token_bytes, token_bytes, 1, K, R, wr, rank_off.as<int32_t>(),
                          row_token.as<int32_t>(), row_rank.as<int32_t>(), T, d_dest.as<int32_t>(),
                          d_slot.as<int32_t>(), d_weight.as<float>(), send.get(), st);
  };
  // One rank: the send buffer is the receive buffer.
  auto count_slots = [&] { dev::launch_count_slots(send.get(), T, H, K, wr.dtype, S, d_count, d_first_bad, st); };
  auto permute = [&] {
    dev::launch_group_by_slot(send.get(), T, H, K, wr.dtype, s.compute, S, d_offsets, d_cursor,
                              pair_pos.as<int32_t>(), xg.get(), st);
  };
  auto silu = [&] { dev::launch_silu(hg.get(), static_cast<int64_t>(pairs) * F, s.compute, st); };
  auto unpermute_combine = [&] {
    dev::launch_combine_partial(send.get(), T, H, K, wr.dtype, s.compute, s.combine, pair_pos.as<int32_t>(),
                                yg.get(), expert_rows.get(), st);
  };
  auto final_combine = [&] {
    dev::launch_final_combine(expert_rows.get(), expert_rows.get(), 0, T, T, H, K, s.combine,
                              token_rows.as<int32_t>(), out.as<float>(), st);
  };
  const std::vector<std::function<void()>> runs = {quantize, layout, pack,          count_slots,
                                                   permute,  silu,   unpermute_combine, final_combine};
  for (const auto& r : runs) r();
  // The device's counts are the host's: the kernels ran on the routing above.
  std::vector<int32_t> dev_count(S + 1);
  dev::copy_async(dev_count.data(), d_count, S * i4, st);
  dev::copy_async(&dev_count[S], d_first_bad, i4, st);
  dev::stream_wait(st, cfg.timeout_s, "roofline: slot counts");
  for (int e = 0; e < S; ++e)
    WIDEEP_ASSERT(dev_count[e] == count[e], "roofline: the device's pairs per slot differ from the routing's");
  WIDEEP_ASSERT(dev_count[S] == -1, "roofline: a received row names a bad slot");

  RooflineResult res;
  res.backend = "cuda";
  cudaDeviceProp prop{};
  int devno = 0;
  WIDEEP_CUDA_CHECK(cudaGetDevice(&devno));
  WIDEEP_CUDA_CHECK(cudaGetDeviceProperties(&prop, devno));
  res.device = prop.name;
  res.flops = ffn_flops(s);
  const std::vector<KernelBytes> bytes = roofline_kernel_bytes(s);
  WIDEEP_ASSERT(bytes.size() == runs.size(), "one launcher per counted kernel");
  size_t max_copy = 0;
  for (const KernelBytes& b : bytes) max_copy = std::max(max_copy, static_cast<size_t>(b.moved() / 2));
  {
    dev::DeviceBuffer src(max_copy), dst(max_copy);
    dev::memset_async(src.get(), 1, max_copy, st);
    for (size_t i = 0; i < runs.size(); ++i) {
      KernelTiming k;
      k.bytes = bytes[i];
      k.kernel_us = timer.median_us(cfg.warmup, cfg.iters, runs[i]);
      const size_t n = static_cast<size_t>(bytes[i].moved() / 2);
      k.copy_us = timer.median_us(cfg.warmup, cfg.iters, [&] {
        WIDEEP_CUDA_CHECK(cudaMemcpyAsync(dst.get(), src.get(), n, cudaMemcpyDeviceToDevice,
                                          static_cast<cudaStream_t>(st)));
      });
      res.kernels.push_back(k);
    }
  }

  // One dense GEMM of the same FLOPs: C [m x n] = A [m x k] · B [k x n], column-major;
  // A is the grouped x (pairs x H values, as permute left them), B a constant.
  const DenseGemmShape d = dense_equivalent(s);
  dev::DeviceBuffer db(static_cast<size_t>(d.k * d.n) * c), dc(static_cast<size_t>(d.m * d.n) * c);
  dev::memset_async(db.get(), 0x3c, db.bytes(), st);  // bf16 0x3c3c = 0.0115
  cublasHandle_t h = nullptr;
  WIDEEP_CUBLAS_CHECK(cublasCreate(&h));
  WIDEEP_CUBLAS_CHECK(cublasSetStream(h, static_cast<cudaStream_t>(st)));
  const cudaDataType_t t = s.compute == DType::kBF16 ? CUDA_R_16BF : CUDA_R_32F;
  const float one = 1.0f, zero = 0.0f;
  double dense_us = 0;
  try {
    dense_us = timer.median_us(cfg.warmup, cfg.iters, [&] {
      WIDEEP_CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(d.m), static_cast<int>(d.n),
                                       static_cast<int>(d.k), &one, xg.get(), t, static_cast<int>(d.m), db.get(), t,
                                       static_cast<int>(d.k), &zero, dc.get(), t, static_cast<int>(d.m),
                                       CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    });
  } catch (...) {
    cublasDestroy(h);
    throw;
  }
  cublasDestroy(h);
  for (const char* mode : {"grouped", "loop"}) {
    GemmModeEnv env(mode);
    dev::ExpertGemm gemm(S, 2, st);
    GemmTiming g;
    g.mode = mode;
    g.dense_us = dense_us;
    g.grouped_us = timer.median_us(cfg.warmup, cfg.iters, [&] {
      gemm.run(problems.up, s.compute, 0);
      gemm.run(problems.down, s.compute, 1);
    });
    res.gemm.push_back(g);
  }
  // The layer's kernels back to back in the default GEMM mode, no host wait between.
  dev::ExpertGemm gemm(S, 2, st);
  res.layer_kernels_us = timer.median_us(cfg.warmup, cfg.iters, [&] {
    quantize(), layout(), pack(), count_slots(), permute();
    gemm.run(problems.up, s.compute, 0);
    silu();
    gemm.run(problems.down, s.compute, 1);
    unpermute_combine(), final_combine();
  });
  return res;
}

#else  // no CUDA in this build

RooflineResult measure_roofline_device(const RooflineConfig&) {
  throw UsageError("--backend cuda: this build has no CUDA device path (configure with WIDEEP_CUDA=ON)");
}

#endif

}  // namespace wideep
