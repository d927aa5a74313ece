// Every CUDA kernel of the device path against the CPU reference on random
// inputs, including empty experts, a token whose pairs all sit on one rank and
// a rank with zero tokens. Each test skips (GTEST_SKIP, a CTest skip) where no
// GPU is visible or the build has no CUDA.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/det_values.h"
#include "kernels/device_layout.h"
#include "kernels/dispatch_layout.h"
#include "kernels/expert_cpu.h"
#include "kernels/expert_store.h"
#include "kernels/gpu_info.h"

#ifdef WIDEEP_HAVE_CUDA
#include "kernels/device_api.h"
#include "kernels/device_buffer.h"
#include "kernels/device_expert_store.h"
#include "kernels/expert_gemm.h"
#endif

namespace wideep {
namespace {

#define REQUIRE_GPU()                                                         \
  do {                                                                        \
    if (!built_with_cuda()) GTEST_SKIP() << "built without CUDA";             \
    if (visible_gpu_count() == 0) GTEST_SKIP() << "no GPU visible";           \
  } while (0)

#ifdef WIDEEP_HAVE_CUDA
using dev::DeviceBuffer;

constexpr double kWait = 60;

struct Gpu {
  dev::StreamHandle stream;
  void* s() const { return stream.get(); }
  template <typename T>
  DeviceBuffer up(const std::vector<T>& v, size_t min_elems = 1) {
    DeviceBuffer b(sizeof(T) * std::max(v.size(), min_elems));
    dev::copy_async(b.get(), v.data(), sizeof(T) * v.size(), s());
    dev::stream_wait(s(), kWait, "upload");
    return b;
  }
  template <typename T>
  DeviceBuffer zeros(size_t n) {
    DeviceBuffer b(sizeof(T) * std::max<size_t>(n, 1));
    dev::memset_async(b.get(), 0, b.bytes(), s());
    return b;
  }
  template <typename T>
  std::vector<T> down(const DeviceBuffer& b, size_t n) {
    std::vector<T> v(n);
    dev::copy_async(v.data(), b.get(), sizeof(T) * n, s());
    dev::stream_wait(s(), kWait, "download");
    return v;
  }
};

// Pair destinations for T tokens, P pairs, R ranks: random, except token 0
// (when present) whose pairs all go to one rank.
std::vector<int32_t> random_dests(int T, int P, int R, std::mt19937& rng) {
  std::uniform_int_distribution<int> d(0, R - 1);
  std::vector<int32_t> v(static_cast<size_t>(T) * P);
  for (auto& x : v) x = d(rng);
  if (T > 0)
    for (int p = 0; p < P; ++p) v[p] = R - 1;
  return v;
}

std::vector<float> random_floats(size_t n, std::mt19937& rng, bool bf16) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = bf16 ? bf16_to_float(float_to_bf16(u(rng))) : u(rng);
  return v;
}

// Host values in the device dtype (raw bytes).
std::vector<unsigned char> to_dtype(const std::vector<float>& v, DType d) {
  std::vector<unsigned char> out(v.size() * dtype_bytes(d));
  for (size_t i = 0; i < v.size(); ++i) {
    if (d == DType::kF32) {
      std::memcpy(&out[4 * i], &v[i], 4);
    } else {
      const uint16_t b = float_to_bf16(v[i]);
      std::memcpy(&out[2 * i], &b, 2);
    }
  }
  return out;
}

float dtype_at(const unsigned char* p, size_t i, DType d) {
  if (d == DType::kF32) {
    float f;
    std::memcpy(&f, p + 4 * i, 4);
    return f;
  }
  uint16_t b;
  std::memcpy(&b, p + 2 * i, 2);
  return bf16_to_float(b);
}

double rel_err(const std::vector<float>& got, const std::vector<float>& want) {
  double err = 0, scale = 1e-30;
  for (size_t i = 0; i < want.size(); ++i) {
    err = std::max(err, std::fabs(static_cast<double>(got[i]) - want[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(want[i])));
  }
  return err / scale;
}
#endif  // WIDEEP_HAVE_CUDA

TEST(DeviceKernels, TokenActivationsMatchHost) {
  REQUIRE_GPU();
#ifdef WIDEEP_HAVE_CUDA
  Gpu g;
  const int T = 37, H = 100;
  for (DType d : {DType::kF32, DType::kBF16}) {
    DeviceBuffer x(static_cast<size_t>(T) * H * dtype_bytes(d));
    dev::launch_token_activations(x.get(), T, H, d, 7, 3, 1, 1000, g.s());
    const auto raw = g.down<unsigned char>(x, x.bytes());
    for (int t = 0; t < T; ++t)
      for (int c = 0; c < H; ++c) {
        const float want = token_activation(7, 3, 1, 1000 + t, c);
        const float expect = d == DType::kF32 ? want : bf16_to_float(float_to_bf16(want));
        ASSERT_EQ(dtype_at(raw.data(), static_cast<size_t>(t) * H + c, d), expect) << t << " " << c;
      }
  }
#endif
}

TEST(DeviceKernels, HistogramCountsEveryExpertIncludingEmptyOnes) {
  REQUIRE_GPU();
#ifdef WIDEEP_HAVE_CUDA
  Gpu g;
  std::mt19937 rng(1);
  for (int E : {64, 20000}) {  // shared-memory and global-atomic paths
    for (int T : {0, 1, 1000}) {
      const int K = 8;
      std::uniform_int_distribution<int> d(0, E / 2);  // upper half stays empty
      std::vector<int32_t> ids(static_cast<size_t>(T) * K);
      for (auto& x : ids) x = d(rng);
      std::vector<int64_t> want(E, 0);
      for (int32_t x : ids) ++want[x];
      DeviceBuffer ids_d = g.up(ids);
      DeviceBuffer counts_d(sizeof(int64_t) * E);
      dev::launch_expert_histogram(ids_d.as<int32_t>(), T, K, E, counts_d.as<int64_t>(), g.s());
      EXPECT_EQ(g.down<int64_t>(counts_d, E), want) << "E " << E << " T " << T;
    }
  }
#endif
}

#ifdef WIDEEP_HAVE_CUDA
// Device layout + permute of one rank vs build_layout + pack_rows.
void check_layout(int T, int P, int R, int H, DType dt, std::mt19937& rng) {
  Gpu g;
  const auto dest = random_dests(T, P, R, rng);
  std::vector<int32_t> slot(dest.size());
  std::uniform_int_distribution<int> sd(0, 5);
  for (auto& s : slot) s = sd(rng);
  const auto weight = random_floats(dest.size(), rng, false);
  const auto x = random_floats(static_cast<size_t>(T) * H, rng, dt == DType::kBF16);

  DispatchLayout cpu;
  cpu.init(R, T, P);
  build_layout(dest.data(), &cpu);
  std::vector<unsigned char> cpu_rows(row_bytes(H, P) * std::max(cpu.total_rows, 1));
  pack_rows(cpu, x.data(), H, dest.data(), slot.data(), weight.data(), cpu_rows.data());

  const DevicePlan plan(R, T, P, H, 8, 6, 8, 1, dt);
  DeviceBuffer dest_d = g.up(dest), slot_d = g.up(slot), weight_d = g.up(weight);
  DeviceBuffer x_d = g.up(to_dtype(x, dt));
  DeviceBuffer rank_rows = g.zeros<int32_t>(R), offs = g.zeros<int32_t>(R + 1);
  DeviceBuffer row_token = g.zeros<int32_t>(plan.max_send_rows), row_rank = g.zeros<int32_t>(plan.max_send_rows);
  DeviceBuffer token_row = g.zeros<int32_t>(static_cast<size_t>(T) * R);
  DeviceBuffer send(std::max<size_t>(plan.send_bytes(), 16));
  dev::launch_dispatch_layout(dest_d.as<int32_t>(), T, P, R, rank_rows.as<int32_t>(), offs.as<int32_t>(),
                              row_token.as<int32_t>(), row_rank.as<int32_t>(), token_row.as<int32_t>(), g.s());
  dev::launch_pack_rows(x_d.get(), H, P, R, dt, offs.as<int32_t>(), row_token.as<int32_t>(), row_rank.as<int32_t>(),
                        static_cast<int>(plan.max_send_rows), dest_d.as<int32_t>(), slot_d.as<int32_t>(),
                        weight_d.as<float>(), send.get(), g.s());
  EXPECT_EQ(g.down<int32_t>(rank_rows, R), cpu.rank_rows);
  EXPECT_EQ(g.down<int32_t>(offs, R + 1), cpu.rank_row_offset);
  const int rows = cpu.total_rows;
  const auto rt = g.down<int32_t>(row_token, rows), rr = g.down<int32_t>(row_rank, rows);
  const auto tr = g.down<int32_t>(token_row, static_cast<size_t>(T) * R);
  for (int i = 0; i < rows; ++i) {
    ASSERT_EQ(rt[i], cpu.row_token[i]) << "row " << i;
    ASSERT_EQ(rr[i], cpu.row_rank[i]) << "row " << i;
    ASSERT_EQ(tr[static_cast<size_t>(rt[i]) * R + rr[i]], i);
  }
  int listed = 0;
  for (int32_t v : tr) listed += v >= 0;
  EXPECT_EQ(listed, rows);
  if (T > 0) {  // token 0: all pairs on rank R-1, so exactly one row
    for (int r = 0; r < R - 1; ++r)
      if (tr[r] >= 0) {
        bool any = false;
        for (int p = 0; p < P; ++p) any |= dest[p] == r;
        EXPECT_TRUE(any);
      }
  }
  const WireRow wr = plan.row;
  const auto dev_rows = g.down<unsigned char>(send, static_cast<size_t>(rows) * wr.row_bytes);
  const size_t crb = row_bytes(H, P);
  for (int i = 0; i < rows; ++i) {
    const unsigned char* d = &dev_rows[i * wr.row_bytes];
    const unsigned char* c = &cpu_rows[i * crb];
    for (int col = 0; col < H; ++col) {
      float cf;
      std::memcpy(&cf, c + 4 * col, 4);
      ASSERT_EQ(dtype_at(d, col, dt), cf) << "row " << i << " col " << col;
    }
    ASSERT_EQ(std::memcmp(d + wr.slot_offset, c + 4 * H, 8u * P), 0) << "metadata of row " << i;
  }
}
#endif

TEST(DeviceKernels, LayoutAndPermuteMatchCpu) {
  REQUIRE_GPU();
#ifdef WIDEEP_HAVE_CUDA
  std::mt19937 rng(2);
  for (DType dt : {DType::kF32, DType::kBF16})
    for (int R : {1, 3, 8})
      for (int T : {0, 1, 37, 700})
        for (int P : {1, 8, 10}) {
          SCOPED_TRACE(testing::Message() << "R " << R << " T " << T << " P " << P << " " << dtype_name(dt));
          check_layout(T, P, R, 64, dt, rng);
        }
  check_layout(50, 8, 4, 33, DType::kBF16, rng);  // odd hidden: unaligned copies
#endif
}

#ifdef WIDEEP_HAVE_CUDA
// Received rows -> un-permute -> FFN -> partial combine, device vs CPU.
void check_expert_path(int rows, int P, int S, int H, int F, DType dt, bool loop, std::mt19937& rng) {
  Gpu g;
  const bool bf = dt == DType::kBF16;
  // Slots from the first half only (the rest stay empty), -1 for unused pairs;
  // row 0 (when present) names slot 0 in every position (all pairs on this rank).
  std::uniform_int_distribution<int> sd(-1, std::max(0, S / 2 - 1));
  const size_t crb = row_bytes(H, P);
  std::vector<unsigned char> cpu_rows(crb * std::max(rows, 1));
  const auto xs = random_floats(static_cast<size_t>(rows) * H, rng, bf);
  const auto ws = random_floats(static_cast<size_t>(rows) * P, rng, false);
  for (int r = 0; r < rows; ++r) {
    unsigned char* row = &cpu_rows[crb * r];
    std::memcpy(row, &xs[static_cast<size_t>(r) * H], 4u * H);
    int32_t* sl = reinterpret_cast<int32_t*>(row + 4u * H);
    float* w = reinterpret_cast<float*>(sl + P);
    for (int p = 0; p < P; ++p) {
      sl[p] = r == 0 ? 0 : sd(rng);
      w[p] = sl[p] < 0 ? 0.0f : ws[static_cast<size_t>(r) * P + p];
    }
  }
  // Weights per slot (bf16-exact values when testing bf16, so both sides agree on inputs).
  const size_t n = static_cast<size_t>(H) * F;
  std::vector<std::vector<float>> w(S, std::vector<float>(2 * n));
  for (int s = 0; s < S; ++s) {
    generate_expert_weights(3, 0, s, H, F, w[s].data(), w[s].data() + n);
    if (bf)
      for (auto& v : w[s]) v = bf16_to_float(float_to_bf16(v));
  }
  ExpertBatches b;
  b.init(S, std::max(rows, 1), P, H, F);
  group_rows_by_slot(cpu_rows.data(), rows, &b);
  std::vector<const float*> w1(S), w2(S);
  for (int s = 0; s < S; ++s) {
    w1[s] = w[s].data();
    w2[s] = w[s].data() + n;
  }
  run_local_experts(&b, w1, w2);
  std::vector<float> want(static_cast<size_t>(rows) * H);
  combine_partial(b, rows, want.data());

  // Device rows in the device wire format.
  const WireRow wr = wire_row(H, P, dt);
  std::vector<unsigned char> dev_rows(wr.row_bytes * std::max(rows, 1), 0);
  for (int r = 0; r < rows; ++r) {
    const std::vector<float> xr(&xs[static_cast<size_t>(r) * H], &xs[static_cast<size_t>(r) * H] + H);
    const auto xb = to_dtype(xr, dt);
    std::memcpy(&dev_rows[wr.row_bytes * r], xb.data(), xb.size());
    std::memcpy(&dev_rows[wr.row_bytes * r + wr.slot_offset], &cpu_rows[crb * r + 4u * H], 8u * P);
  }
  DeviceBuffer recv = g.up(dev_rows);
  const int64_t max_pairs = static_cast<int64_t>(std::max(rows, 1)) * P;
  DeviceBuffer count = g.zeros<int32_t>(S), offs = g.zeros<int32_t>(S + 1), cursor = g.zeros<int32_t>(S);
  DeviceBuffer err = g.zeros<int32_t>(1), pos = g.zeros<int32_t>(max_pairs), prow = g.zeros<int32_t>(max_pairs);
  DeviceBuffer xg(max_pairs * H * dtype_bytes(dt)), h(max_pairs * F * dtype_bytes(dt)), y(max_pairs * H * dtype_bytes(dt));
  DeviceBuffer out(std::max<size_t>(static_cast<size_t>(rows) * return_row_bytes(H, dt), 16));
  dev::launch_count_slots(recv.get(), rows, H, P, dt, S, count.as<int32_t>(), offs.as<int32_t>(), err.as<int32_t>(), g.s());
  dev::launch_group_by_slot(recv.get(), rows, H, P, dt, S, offs.as<int32_t>(), cursor.as<int32_t>(),
                            pos.as<int32_t>(), prow.as<int32_t>(), xg.get(), g.s());
  const auto off_h = g.down<int32_t>(offs, S + 1);
  EXPECT_EQ(off_h, b.slot_offset);
  EXPECT_EQ(g.down<int32_t>(err, 1)[0], 0);
  std::vector<DeviceBuffer> wd;
  std::vector<const void*> w1d(S), w2d(S);
  for (int s = 0; s < S; ++s) {
    wd.push_back(g.up(to_dtype(w[s], dt)));
    w1d[s] = wd.back().get();
    w2d[s] = static_cast<const unsigned char*>(wd.back().get()) + n * dtype_bytes(dt);
  }
  if (loop) setenv("WIDEEP_GEMM", "loop", 1);
  dev::ExpertGemm gemm(S, g.s());
  unsetenv("WIDEEP_GEMM");
  EXPECT_EQ(gemm.grouped(), !loop);
  gemm.run(off_h.data(), S, H, F, dt, w1d.data(), w2d.data(), xg.get(), h.get(), y.get());
  dev::launch_combine_partial(recv.get(), rows, H, P, dt, pos.as<int32_t>(), y.get(), out.get(), g.s());
  const auto raw = g.down<unsigned char>(out, static_cast<size_t>(rows) * return_row_bytes(H, dt));
  std::vector<float> got(want.size());
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < H; ++c)
      got[static_cast<size_t>(r) * H + c] = dtype_at(&raw[return_row_bytes(H, dt) * r], c, dt);
  if (rows > 0) {
    EXPECT_LT(rel_err(got, want), bf ? 3e-2 : 1e-5);
  }
}
#endif

TEST(DeviceKernels, ExpertPathMatchesCpuFp32) {
  REQUIRE_GPU();
#ifdef WIDEEP_HAVE_CUDA
  std::mt19937 rng(3);
  for (bool loop : {false, true})
    for (int rows : {0, 1, 40, 300}) {
      SCOPED_TRACE(testing::Message() << "rows " << rows << (loop ? " loop" : " grouped"));
      check_expert_path(rows, 8, 6, 64, 96, DType::kF32, loop, rng);
    }
  check_expert_path(64, 9, 5, 36, 20, DType::kF32, false, rng);  // shapes not multiples of 8
#endif
}

TEST(DeviceKernels, ExpertPathMatchesCpuBf16) {
  REQUIRE_GPU();
#ifdef WIDEEP_HAVE_CUDA
  std::mt19937 rng(4);
  for (bool loop : {false, true})
    for (int rows : {0, 1, 40, 300}) {
      SCOPED_TRACE(testing::Message() << "rows " << rows << (loop ? " loop" : " grouped"));
      check_expert_path(rows, 8, 6, 64, 96, DType::kBF16, loop, rng);
    }
#endif
}

TEST(DeviceKernels, CorruptSlotIsReported) {
  REQUIRE_GPU();
#ifdef WIDEEP_HAVE_CUDA
  Gpu g;
  const int H = 16, P = 4, S = 3, rows = 5;
  const WireRow wr = wire_row(H, P, DType::kF32);
  std::vector<unsigned char> buf(wr.row_bytes * rows, 0);
  for (int r = 0; r < rows; ++r)
    for (int p = 0; p < P; ++p)
      reinterpret_cast<int32_t*>(&buf[wr.row_bytes * r + wr.slot_offset])[p] = r == 3 && p == 2 ? S : -1;
  DeviceBuffer recv = g.up(buf);
  DeviceBuffer count = g.zeros<int32_t>(S), offs = g.zeros<int32_t>(S + 1), err = g.zeros<int32_t>(1);
  dev::launch_count_slots(recv.get(), rows, H, P, DType::kF32, S, count.as<int32_t>(), offs.as<int32_t>(),
                          err.as<int32_t>(), g.s());
  EXPECT_EQ(g.down<int32_t>(err, 1)[0], 3 + 1);
  EXPECT_EQ(g.down<int32_t>(offs, S + 1), std::vector<int32_t>(S + 1, 0));
#endif
}

TEST(DeviceKernels, FinalCombineMatchesCpu) {
  REQUIRE_GPU();
#ifdef WIDEEP_HAVE_CUDA
  Gpu g;
  std::mt19937 rng(5);
  for (DType dt : {DType::kF32, DType::kBF16})
    for (int T : {0, 1, 77}) {
      const int R = 4, P = 8, H = 48;
      const auto dest = random_dests(T, P, R, rng);
      DispatchLayout cpu;
      cpu.init(R, T, P);
      build_layout(dest.data(), &cpu);
      const int rows = cpu.total_rows;
      const auto ret = random_floats(static_cast<size_t>(rows) * H, rng, dt == DType::kBF16);
      std::vector<float> want(static_cast<size_t>(T) * H);
      combine_rows(cpu, ret.data(), H, want.data());
      // Device: the layout's token_row, rows padded to return_row_bytes.
      DeviceBuffer dest_d = g.up(dest, 1);
      DeviceBuffer rank_rows = g.zeros<int32_t>(R), offs = g.zeros<int32_t>(R + 1);
      DeviceBuffer row_token = g.zeros<int32_t>(static_cast<size_t>(T) * R), row_rank = g.zeros<int32_t>(static_cast<size_t>(T) * R);
      DeviceBuffer token_row = g.zeros<int32_t>(static_cast<size_t>(T) * R);
      dev::launch_dispatch_layout(dest_d.as<int32_t>(), T, P, R, rank_rows.as<int32_t>(), offs.as<int32_t>(),
                                  row_token.as<int32_t>(), row_rank.as<int32_t>(), token_row.as<int32_t>(), g.s());
      const size_t rrb = return_row_bytes(H, dt);
      std::vector<unsigned char> padded(rrb * std::max(rows, 1), 0);
      for (int r = 0; r < rows; ++r) {
        const std::vector<float> one(&ret[static_cast<size_t>(r) * H], &ret[static_cast<size_t>(r) * H] + H);
        const auto b = to_dtype(one, dt);
        std::memcpy(&padded[rrb * r], b.data(), b.size());
      }
      DeviceBuffer ret_d = g.up(padded);
      DeviceBuffer out = g.zeros<float>(static_cast<size_t>(T) * H);
      dev::launch_combine_rows(ret_d.get(), T, H, R, dt, token_row.as<int32_t>(), out.as<float>(), g.s());
      EXPECT_EQ(g.down<float>(out, static_cast<size_t>(T) * H), want) << "T " << T << " " << dtype_name(dt);
    }
#endif
}

TEST(DeviceKernels, DeviceWeightsMatchTheCpuRuleBitForBit) {
  REQUIRE_GPU();
#ifdef WIDEEP_HAVE_CUDA
  Gpu g;
  const int H = 48, F = 80;
  DeviceBuffer w(sizeof(float) * 2 * H * F);
  for (int expert : {0, 5, 63}) {
    dev::launch_expert_weights(w.as<float>(), 11, 1, expert, H, F, 1.0f / std::sqrt(static_cast<float>(H)),
                               1.0f / std::sqrt(static_cast<float>(F)), g.s());
    const auto got = g.down<float>(w, 2 * H * F);
    EXPECT_EQ(ExpertStore::checksum_words(got.data(), got.size()),
              ExpertStore::expected_checksum(11, 1, expert, H, F));
  }
#endif
}

TEST(DeviceKernels, DeviceExpertStoreFillCopyChecksumFlip) {
  REQUIRE_GPU();
#ifdef WIDEEP_HAVE_CUDA
  Gpu g;
  const int H = 32, F = 40;
  Placement p;
  p.num_logical = 4;
  p.num_ranks = 2;
  p.slots_per_rank = 2;
  p.phy2log = {0, 1, 2, 3};
  std::vector<Placement> pl{p};
  for (DType dt : {DType::kF32, DType::kBF16}) {
    DeviceExpertStore a(1, 2, 1, H, F, 9, dt, g.s(), kWait), b(1, 2, 1, H, F, 9, DType::kF32, g.s(), kWait);
    a.fill(pl, 1);  // rank 1: experts 2, 3, then shared expert 4
    b.fill(pl, 0);
    EXPECT_EQ(a.checksum(0, 0), ExpertStore::expected_checksum(9, 0, 2, H, F));
    EXPECT_EQ(a.checksum(0, 2), ExpertStore::expected_checksum(9, 0, 4, H, F));
    a.copy_slot(0, 1, b, 0);  // expert 0 into slot 1
    EXPECT_EQ(a.checksum(0, 1), ExpertStore::expected_checksum(9, 0, 0, H, F));
    if (dt == DType::kBF16) {  // the GEMM copy follows the fp32 master
      DeviceBuffer tmp(sizeof(float) * H * F);
      dev::launch_to_f32(a.w1(0, 1), dt, tmp.as<float>(), static_cast<int64_t>(H) * F, g.s());
      const auto got = g.down<float>(tmp, static_cast<size_t>(H) * F);
      std::vector<float> w(2 * static_cast<size_t>(H) * F);
      generate_expert_weights(9, 0, 0, H, F, w.data(), w.data() + H * F);
      for (int i = 0; i < H * F; ++i) ASSERT_EQ(got[i], bf16_to_float(float_to_bf16(w[i])));
    }
    a.flip_byte(0, 1, 7);
    EXPECT_NE(a.checksum(0, 1), ExpertStore::expected_checksum(9, 0, 0, H, F));
  }
#endif
}

}  // namespace
}  // namespace wideep
