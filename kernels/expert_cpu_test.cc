// CPU expert path against naive loops: the FFN, un-permute by slot, partial
// combine and final combine, and the determinism of generated weights.
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

// Two received rows, 3 local slots, P = 3: row 0 -> slots {2, 0}, row 1 -> slot {2}.
TEST(ExpertCpu, GroupRunAndCombinePartial) {
  cpu_kernels_init();
  const int H = 4, F = 6, P = 3, S = 3;
  const size_t rb = row_bytes(H, P);
  std::vector<unsigned char> buf(2 * rb);
  auto put = [&](int r, std::vector<float> x, std::vector<int32_t> s, std::vector<float> w) {
    std::memcpy(&buf[r * rb], x.data(), 4 * H);
    std::memcpy(&buf[r * rb + 4 * H], s.data(), 4 * P);
    std::memcpy(&buf[r * rb + 4 * H + 4 * P], w.data(), 4 * P);
  };
  put(0, {1, 2, 3, 4}, {2, -1, 0}, {0.25f, 0, 0.75f});
  put(1, {-1, 0, 1, 0}, {-1, 2, -1}, {0, 1.0f, 0});
  ExpertBatches b;
  b.init(S, 2, P, H, F);
  group_rows_by_slot(buf.data(), 2, &b);
  EXPECT_EQ(b.total_pairs, 3);
  EXPECT_EQ(b.slot_pairs[0], 1);
  EXPECT_EQ(b.slot_pairs[1], 0);
  EXPECT_EQ(b.slot_pairs[2], 2);
  std::vector<std::vector<float>> w1(S, std::vector<float>(H * F)), w2(S, std::vector<float>(F * H));
  std::vector<const float*> p1, p2;
  for (int s = 0; s < S; ++s) {
    generate_expert_weights(9, 0, s, H, F, w1[s].data(), w2[s].data());
    p1.push_back(w1[s].data());
    p2.push_back(w2[s].data());
  }
  run_local_experts(&b, p1, p2);
  std::vector<float> out(2 * H);
  combine_partial(b, 2, out.data());
  const float x0[] = {1, 2, 3, 4}, x1[] = {-1, 0, 1, 0};
  std::vector<float> y(H), expect0(H, 0.0f), expect1(H);
  naive_ffn(x0, 1, H, F, p1[2], p2[2], y.data());
  for (int c = 0; c < H; ++c) expect0[c] += 0.25f * y[c];
  naive_ffn(x0, 1, H, F, p1[0], p2[0], y.data());
  for (int c = 0; c < H; ++c) expect0[c] += 0.75f * y[c];
  naive_ffn(x1, 1, H, F, p1[2], p2[2], expect1.data());
  for (int c = 0; c < H; ++c) {
    EXPECT_NEAR(out[c], expect0[c], 1e-5f);
    EXPECT_NEAR(out[H + c], expect1[c], 1e-5f);
  }
}

// A row that names one slot twice (a duplicated pair) gives the slot more
// pairs than rows: the FFN runs it in pieces and computes every pair.
TEST(ExpertCpu, SlotWithMorePairsThanRowsRunsInPieces) {
  const int H = 8, F = 16, P = 3;
  std::vector<unsigned char> buf(row_bytes(H, P), 0);
  std::vector<float> x(H);
  for (int c = 0; c < H; ++c) x[c] = 0.1f * (c + 1);
  std::memcpy(buf.data(), x.data(), sizeof(float) * H);
  const int32_t slots[P] = {0, 0, 0};
  const float weights[P] = {1.0f, 0.5f, 0.25f};
  std::memcpy(&buf[4 * H], slots, sizeof slots);
  std::memcpy(&buf[4 * H + sizeof slots], weights, sizeof weights);
  std::vector<float> w1(H * F), w2(F * H);
  generate_expert_weights(3, 0, 0, H, F, w1.data(), w2.data());
  ExpertBatches b;
  b.init(1, 1, P, H, F);
  ASSERT_EQ(b.h_rows, 1);
  group_rows_by_slot(buf.data(), 1, &b);
  ASSERT_EQ(b.slot_pairs[0], 3);
  run_local_experts(&b, {w1.data()}, {w2.data()});
  std::vector<float> h(F), y(H);
  expert_ffn_cpu(x.data(), 1, H, F, w1.data(), w2.data(), h.data(), y.data());
  for (int i = 0; i < 3; ++i)
    for (int c = 0; c < H; ++c) ASSERT_EQ(b.y_grouped[static_cast<size_t>(i) * H + c], y[c]) << "pair " << i;
}

TEST(ExpertCpu, CorruptSlotIsRejected) {
  const int H = 2, P = 1;
  std::vector<unsigned char> buf(row_bytes(H, P), 0);
  const int32_t bad = 5;
  std::memcpy(&buf[4 * H], &bad, 4);
  ExpertBatches b;
  b.init(2, 1, P, H, 4);
  EXPECT_THROW(group_rows_by_slot(buf.data(), 1, &b), std::exception);
}

TEST(ExpertCpu, CombineRowsSumsEveryRowOfAToken) {
  const int H = 2;
  const int32_t dest[] = {0, 1, 1, 1};  // token 0 -> ranks 0,1; token 1 -> rank 1
  DispatchLayout l;
  l.init(2, 2, 2);
  build_layout(dest, &l);
  // rows: [rank0: token0], [rank1: token0, token1]
  const float returned[] = {1, 2, 10, 20, 100, 200};
  std::vector<float> out(2 * H);
  combine_rows(l, returned, H, out.data());
  EXPECT_EQ(out[0], 11);
  EXPECT_EQ(out[1], 22);
  EXPECT_EQ(out[2], 100);
  EXPECT_EQ(out[3], 200);
}

// The per-rank-block form reads each rank's rows wherever they lie and gives
// bit for bit the row-by-row sum in rank order; a token without rows gets 0.
TEST(ExpertCpu, CombineRowsFromSeparateBlocksEqualsNaiveSum) {
  std::mt19937 rng(21);
  for (int it = 0; it < 200; ++it) {
    const int R = 1 + rng() % 6, T = rng() % 30, P = 1 + rng() % 9, H = 1 + rng() % 17;
    std::vector<int32_t> dest(static_cast<size_t>(T) * P);
    for (int32_t& d : dest) d = rng() % R;
    if (T > 0 && it % 3 == 0) std::fill(dest.begin(), dest.begin() + P, 0);  // token 0 on one rank
    DispatchLayout l;
    l.init(R, T, P);
    build_layout(dest.data(), &l);
    std::vector<float> returned(static_cast<size_t>(l.total_rows) * H);
    for (float& v : returned) v = std::uniform_real_distribution<float>(-1, 1)(rng);
    std::vector<float> want(static_cast<size_t>(T) * H, 0.0f);
    for (int r = 0; r < R; ++r)  // rows are rank-major: this is rank order per token
      for (int row = l.rank_row_offset[r]; row < l.rank_row_offset[r + 1]; ++row)
        for (int c = 0; c < H; ++c) want[static_cast<size_t>(l.row_token[row]) * H + c] += returned[static_cast<size_t>(row) * H + c];
    // Every rank's block moved to a buffer of its own.
    std::vector<std::vector<float>> blocks(R);
    std::vector<const float*> base(R);
    for (int r = 0; r < R; ++r) {
      blocks[r].assign(returned.begin() + static_cast<size_t>(l.rank_row_offset[r]) * H,
                       returned.begin() + static_cast<size_t>(l.rank_row_offset[r + 1]) * H);
      blocks[r].push_back(0.0f);  // never empty: data() is a valid pointer
      base[r] = blocks[r].data();
    }
    std::vector<float> got(static_cast<size_t>(T) * H, 99.0f);
    combine_rows(l, base.data(), H, got.data());
    ASSERT_EQ(got, want) << "it " << it;
    std::fill(got.begin(), got.end(), 99.0f);
    combine_rows(l, returned.data(), H, got.data());
    ASSERT_EQ(got, want) << "it " << it;
  }
}

}  // namespace
}  // namespace wideep
