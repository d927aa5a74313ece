// Layout and permute: every (token, expert) pair is carried exactly once, by the
// one row its token sends to the pair's destination rank.
#include "kernels/dispatch_layout.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <set>
#include <vector>

namespace wideep {
namespace {

TEST(DispatchLayout, TokenSentOncePerDestination) {
  // 3 tokens, 4 pairs, 3 ranks; token 0 has all pairs on rank 1.
  const int32_t dest[] = {1, 1, 1, 1,  0, 2, 0, 1,  2, 2, 0, 0};
  DispatchLayout l;
  l.init(3, 3, 4);
  build_layout(dest, &l);
  EXPECT_EQ(l.rank_rows[0], 2);  // tokens 1, 2
  EXPECT_EQ(l.rank_rows[1], 2);  // tokens 0, 1
  EXPECT_EQ(l.rank_rows[2], 2);  // tokens 1, 2
  EXPECT_EQ(l.total_rows, 6);
  EXPECT_EQ(l.rank_row_offset[3], 6);
  EXPECT_EQ(l.row_token[0], 1);
  EXPECT_EQ(l.row_token[1], 2);
  EXPECT_EQ(l.row_token[2], 0);
}

// A layout is rebuilt every layer: the second build equals a fresh one.
// A pair with destination -1 (a hierarchical forwarder's pair of another
// node) adds no row and no pair count; its row elsewhere carries slot -1 for it.
TEST(DispatchLayout, NoDestinationAddsNoRow) {
  // 2 tokens, P = 3, R = 2: token 0 -> {1, -1, 1}, token 1 -> {-1, -1, 0}.
  const int32_t dest[] = {1, -1, 1, -1, -1, 0};
  const int32_t slot[] = {4, 7, 5, 7, 7, 2};
  const float w[] = {0.5f, 0.25f, 0.125f, 1, 1, 0.75f};
  DispatchLayout l;
  l.init(2, 2, 3);
  build_layout(dest, &l);
  EXPECT_EQ(l.total_rows, 2);
  EXPECT_EQ(l.rank_rows[0], 1);
  EXPECT_EQ(l.rank_rows[1], 1);
  EXPECT_EQ(l.token_rows[0], 1);
  EXPECT_EQ(l.token_rows[1], -1);
  EXPECT_EQ(l.token_rows[3], 0);
  EXPECT_EQ(l.token_rows[4], -1);
  int64_t pairs[2];
  rank_pair_counts(dest, 2, 3, 2, pairs);
  EXPECT_EQ(pairs[0], 1);
  EXPECT_EQ(pairs[1], 2);
  const WireRow wr = wire_row(8, 3, DType::kF32);
  std::vector<unsigned char> tail(wr.row_bytes);
  write_row_tail(l, wr, 0, 1, dest, slot, w, tail.data());  // row 1: token 0 to rank 1
  const int32_t* slots = reinterpret_cast<const int32_t*>(tail.data() + wr.slot_offset);
  EXPECT_EQ(slots[0], 4);
  EXPECT_EQ(slots[1], -1);
  EXPECT_EQ(slots[2], 5);
}

TEST(DispatchLayout, RebuildEqualsFreshBuild) {
  const int32_t a[] = {1, 1, 1, 1, 0, 2, 0, 1, 2, 2, 0, 0};
  const int32_t b[] = {0, 2, 1, 1, 2, 2, 2, 2, 0, 1, 2, 0};
  DispatchLayout reused, fresh;
  reused.init(3, 3, 4);
  fresh.init(3, 3, 4);
  build_layout(a, &reused);
  build_layout(b, &reused);
  build_layout(b, &fresh);
  EXPECT_EQ(reused.token_rows, fresh.token_rows);
  EXPECT_EQ(reused.rank_row_offset, fresh.rank_row_offset);
  EXPECT_EQ(reused.row_token, fresh.row_token);
}

TEST(DispatchLayout, EveryPairAccountedOnceRandom) {
  std::mt19937 rng(7);
  for (int iter = 0; iter < 200; ++iter) {
    const int R = 1 + rng() % 8, T = rng() % 40, P = 1 + rng() % 9, H = 1 + rng() % 5;
    std::vector<int32_t> dest(T * P), slot(T * P);
    std::vector<float> w(T * P), x(T * H);
    for (int i = 0; i < T * P; ++i) {
      dest[i] = rng() % R;
      slot[i] = rng() % 7;
      w[i] = static_cast<float>(i) + 0.5f;
    }
    for (int i = 0; i < T * H; ++i) x[i] = static_cast<float>(i);
    DispatchLayout l;
    l.init(R, T, P);
    build_layout(dest.data(), &l);
    const WireRow wr = wire_row(H, P, DType::kF32);
    std::vector<unsigned char> buf(std::max<size_t>(1, l.total_rows * wr.row_bytes));
    pack_rows(l, wr, x.data(), sizeof(float) * H, dest.data(), slot.data(), w.data(), buf.data());
    std::multiset<std::pair<int, int>> seen;  // (token, pair)
    std::set<std::pair<int, int>> rows;        // (token, dest)
    for (int r = 0; r < l.total_rows; ++r) {
      const unsigned char* row = buf.data() + r * wr.row_bytes;
      const int t = l.row_token[r];
      EXPECT_EQ(0, std::memcmp(row, &x[t * H], sizeof(float) * H));
      for (size_t b = sizeof(float) * H; b < wr.slot_offset; ++b) ASSERT_EQ(row[b], 0) << "x padding";
      EXPECT_TRUE(rows.insert({t, l.row_rank[r]}).second) << "token sent twice to one rank";
      const int32_t* s = reinterpret_cast<const int32_t*>(row + wr.slot_offset);
      const float* ww = reinterpret_cast<const float*>(row + wr.weight_offset);
      for (int p = 0; p < P; ++p) {
        if (s[p] < 0) continue;
        EXPECT_EQ(dest[t * P + p], l.row_rank[r]);
        EXPECT_EQ(s[p], slot[t * P + p]);
        EXPECT_EQ(ww[p], w[t * P + p]);
        seen.insert({t, p});
      }
      for (size_t b = wr.weight_offset + 4u * P; b < wr.row_bytes; ++b) ASSERT_EQ(row[b], 0) << "tail padding";
    }
    ASSERT_EQ(static_cast<int>(seen.size()), T * P);
    for (int t = 0; t < T; ++t)
      for (int p = 0; p < P; ++p) EXPECT_EQ(seen.count({t, p}), 1u);
    for (int r = 0; r < R; ++r)
      for (int i = l.rank_row_offset[r]; i < l.rank_row_offset[r + 1]; ++i) EXPECT_EQ(l.row_rank[i], r);
    // The gathered send's tail is the packed row after x, byte for byte.
    const size_t tail = wr.row_bytes - sizeof(float) * H;
    std::vector<unsigned char> t_buf(tail);
    for (int r = 0; r < l.total_rows; ++r) {
      write_row_tail(l, wr, sizeof(float) * H, r, dest.data(), slot.data(), w.data(), t_buf.data());
      ASSERT_EQ(0, std::memcmp(t_buf.data(), buf.data() + r * wr.row_bytes + sizeof(float) * H, tail));
    }
    // Pairs per destination: what the receivers will group.
    std::vector<int64_t> pairs(R);
    rank_pair_counts(dest.data(), T, P, R, pairs.data());
    for (int r = 0; r < R; ++r) {
      int64_t n = 0;
      for (int i = 0; i < T * P; ++i) n += dest[i] == r;
      ASSERT_EQ(pairs[r], n);
    }
    // Each token's rows: all of them, once, in rank order, -1 after the last.
    std::vector<int> listed(l.total_rows, 0);
    for (int t = 0; t < T; ++t) {
      int i = 0;
      for (; i < P && l.token_rows[t * P + i] >= 0; ++i) {
        const int row = l.token_rows[t * P + i];
        ASSERT_EQ(l.row_token[row], t);
        ++listed[row];
        if (i > 0) ASSERT_LT(l.row_rank[l.token_rows[t * P + i - 1]], l.row_rank[row]);
      }
      for (; i < P; ++i) ASSERT_EQ(l.token_rows[t * P + i], -1);
    }
    for (int c : listed) ASSERT_EQ(c, 1);
  }
}

}  // namespace
}  // namespace wideep
