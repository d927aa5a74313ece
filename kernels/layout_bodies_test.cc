// The device's dispatch layout (kernels/layout_kernels.cu: count per chunk of
// tokens and rank, one scan over (rank, chunk), fill per chunk and rank, rows
// per token) run as host loops over the same bodies (kernels/row_bodies.h),
// against build_layout() (kernels/dispatch_layout.h): the same arrays.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "kernels/dispatch_layout.h"
#include "kernels/row_bodies.h"

namespace wideep {
namespace {

struct DeviceLayout {
  std::vector<int32_t> rank_rows, rank_row_offset, row_token, row_rank, token_row, token_rows;
};

// Each loop nest below is one kernel; the order inside a block does not
// matter except in the scans, which CUB's block scans compute exactly.
DeviceLayout device_steps(const std::vector<int32_t>& dest, int T, int P, int R) {
  DeviceLayout d;
  d.rank_rows.assign(R, -7);
  d.rank_row_offset.assign(R + 1, -7);
  d.row_token.assign(static_cast<size_t>(T) * std::min(R, P), -7);
  d.row_rank = d.row_token;
  d.token_row.assign(static_cast<size_t>(R) * T, -7);  // scratch: never assumed zeroed
  d.token_rows.assign(static_cast<size_t>(T) * P, -7);
  const int chunks = layout_chunks(T);
  auto goes = [&](int t, int r) { return t < T && layout_goes_to(&dest[static_cast<size_t>(t) * P], P, r); };
  // count_chunk_rows_kernel: block (c, r).
  for (int c = 0; c < chunks; ++c)
    for (int r = 0; r < R; ++r) {
      int total = 0;
      for (int i = 0; i < kLayoutChunk; ++i) total += goes(c * kLayoutChunk + i, r) ? 1 : 0;
      d.token_row[layout_chunk_head(r * chunks + c, chunks, T)] = total;
    }
  // scan_chunk_rows_kernel: one block over (rank, chunk).
  const int n = R * chunks;
  int running = 0;
  for (int i = 0; i < n; ++i) {
    const size_t head = layout_chunk_head(i, chunks, T);
    const int count = d.token_row[head];
    d.token_row[head] = running;
    if (i % chunks == 0) d.rank_row_offset[i / chunks] = running;
    running += count;
  }
  if (n == 0) std::fill(d.rank_row_offset.begin(), d.rank_row_offset.end() - 1, 0);
  d.rank_row_offset[R] = running;
  for (int r = 0; r < R; ++r) d.rank_rows[r] = d.rank_row_offset[r + 1] - d.rank_row_offset[r];
  // fill_chunk_rows_kernel: block (c, r); thread 0 reads the head first.
  for (int c = 0; c < chunks; ++c)
    for (int r = 0; r < R; ++r) {
      const int first = d.token_row[layout_chunk_head(r * chunks + c, chunks, T)];
      int pos = 0;  // the block's exclusive scan of the flags
      for (int i = 0; i < kLayoutChunk; ++i) {
        const int t = c * kLayoutChunk + i;
        if (t >= T) break;
        const bool flag = goes(t, r);
        const int row = flag ? first + pos : -1;
        d.token_row[static_cast<size_t>(r) * T + t] = row;
        if (flag) {
          d.row_token[row] = t;
          d.row_rank[row] = r;
          ++pos;
        }
      }
    }
  // token_rows_kernel: one thread per token.
  for (int t = 0; t < T; ++t)
    layout_token_rows(&dest[static_cast<size_t>(t) * P], P, R, d.token_row.data(), T, t,
                      &d.token_rows[static_cast<size_t>(t) * P]);
  return d;
}

void expect_same_as_host(const std::vector<int32_t>& dest, int T, int P, int R) {
  DispatchLayout h;
  h.init(R, T, P);
  build_layout(dest.data(), &h);
  const DeviceLayout d = device_steps(dest, T, P, R);
  EXPECT_EQ(d.rank_rows, h.rank_rows);
  EXPECT_EQ(d.rank_row_offset, h.rank_row_offset);
  const int rows = h.total_rows;
  EXPECT_EQ(std::vector<int32_t>(d.row_token.begin(), d.row_token.begin() + rows),
            std::vector<int32_t>(h.row_token.begin(), h.row_token.begin() + rows));
  EXPECT_EQ(std::vector<int32_t>(d.row_rank.begin(), d.row_rank.begin() + rows),
            std::vector<int32_t>(h.row_rank.begin(), h.row_rank.begin() + rows));
  EXPECT_EQ(d.token_rows, h.token_rows);
  // The scratch: every (token, rank) with a row names it, every other is -1.
  std::vector<int32_t> want(static_cast<size_t>(R) * T, -1);
  for (int row = 0; row < rows; ++row) want[static_cast<size_t>(h.row_rank[row]) * T + h.row_token[row]] = row;
  EXPECT_EQ(d.token_row, want);
}

// 4 tokens, 2 pairs, 3 ranks: t0 -> {2, 0}, t1 -> {1, 1}, t2 -> {-1, 2}, t3 -> {0, 2}.
// Rows by rank then token: rank 0: t0, t3 (rows 0, 1); rank 1: t1 (row 2);
// rank 2: t0, t2, t3 (rows 3, 4, 5). Each token's rows in rank order.
TEST(LayoutBodies, HandCheckedCase) {
  const std::vector<int32_t> dest = {2, 0, 1, 1, -1, 2, 0, 2};
  const DeviceLayout d = device_steps(dest, 4, 2, 3);
  EXPECT_EQ(d.rank_rows, (std::vector<int32_t>{2, 1, 3}));
  EXPECT_EQ(d.rank_row_offset, (std::vector<int32_t>{0, 2, 3, 6}));
  EXPECT_EQ(d.row_token, (std::vector<int32_t>{0, 3, 1, 0, 2, 3, -7, -7}));  // 8 = T x min(R, P) places
  EXPECT_EQ(d.row_rank, (std::vector<int32_t>{0, 0, 1, 2, 2, 2, -7, -7}));
  EXPECT_EQ(d.token_rows, (std::vector<int32_t>{0, 3, 2, -1, 4, -1, 1, 5}));
  EXPECT_EQ(d.token_row, (std::vector<int32_t>{0, -1, -1, 1, -1, 2, -1, -1, 3, -1, 4, 5}));
  expect_same_as_host(dest, 4, 2, 3);
}

TEST(LayoutBodies, RandomCasesAcrossChunksMatchBuildLayout) {
  std::mt19937 rng(11);
  // Several chunks with a partial last one; whole chunks; one rank; no tokens.
  const int shapes[][3] = {{1000, 9, 7}, {2 * kLayoutChunk, 4, 1}, {kLayoutChunk + 1, 3, 16}, {37, 17, 5}, {0, 4, 3}};
  for (const auto& s : shapes) {
    const int T = s[0], P = s[1], R = s[2];
    std::uniform_int_distribution<int> pick(-1, R - 1);
    std::vector<int32_t> dest(static_cast<size_t>(T) * P);
    for (int32_t& v : dest) v = pick(rng);
    SCOPED_TRACE("T " + std::to_string(T) + " P " + std::to_string(P) + " R " + std::to_string(R));
    expect_same_as_host(dest, T, P, R);
  }
}

}  // namespace
}  // namespace wideep
