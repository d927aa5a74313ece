// Unit tests of the shared-memory transport's window arithmetic (layout and
// growth); the exchange itself is tested under mpirun by tests/shm.cmake.
#include "comm/shm_transport.h"

#include <gtest/gtest.h>

namespace wideep {
namespace {

TEST(ShmWindowLayout, CompactCacheLineAlignedSelfEmpty) {
  // 4 node ranks, this one is local 1: peers 0, 2, 3 send 100, 0 and 64 bytes.
  const int64_t recv[4] = {100, 999, 0, 64};
  int64_t off[4] = {-1, -1, -1, -1};
  const int64_t need = shm_window_layout(recv, 4, 1, off);
  EXPECT_EQ(off[0], 0);
  EXPECT_EQ(off[2], 128);  // 100 rounded up to two cache lines
  EXPECT_EQ(off[3], 128);  // peer 2 sends nothing
  EXPECT_EQ(need, 192);    // self's 999 bytes are not in the window
  for (int j : {0, 2, 3}) EXPECT_EQ(off[j] % 64, 0);
}

TEST(ShmWindowLayout, BlocksDoNotOverlap) {
  const int64_t recv[5] = {1, 65, 0, 4096, 3};
  int64_t off[5];
  const int64_t need = shm_window_layout(recv, 5, 2, off);
  for (int a = 0; a < 5; ++a)
    for (int b = 0; b < 5; ++b)
      if (a != b && a != 2 && b != 2 && recv[a] > 0 && recv[b] > 0)
        EXPECT_TRUE(off[a] + recv[a] <= off[b] || off[b] + recv[b] <= off[a]) << a << " " << b;
  for (int j = 0; j < 5; ++j)
    if (j != 2) EXPECT_LE(off[j] + recv[j], need);
}

TEST(ShmGrownCapacity, KeepsWhatFitsGrowsWithHeadroom) {
  EXPECT_EQ(shm_grown_capacity(65536, 65536), 65536);
  EXPECT_EQ(shm_grown_capacity(65536, 100), 65536);
  const int64_t grown = shm_grown_capacity(0, 100000);
  EXPECT_GE(grown, 125000);
  EXPECT_EQ(grown % 65536, 0);
  EXPECT_GE(shm_grown_capacity(grown, grown + 1), grown + 1);
}

}  // namespace
}  // namespace wideep
