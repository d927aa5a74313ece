// ScratchBuffer: one allocation until a use needs more, one free at the end.
#include "runtime/step/scratch_buffer.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <vector>

namespace wideep {
namespace {

TEST(ScratchBuffer, AllocatesOnceGrowsWhenNeededFreesAtTheEnd) {
  std::vector<int64_t> allocs;
  int frees = 0;
  {
    ScratchBuffer b([&](int64_t n) { allocs.push_back(n); return std::calloc(1, n > 0 ? n : 1); },
                    [&](void* p) { ++frees; std::free(p); });
    EXPECT_EQ(allocs.size(), 0u);  // nothing before the first use
    void* p = b.reserve(100);
    EXPECT_EQ(b.reserve(100), p);
    EXPECT_EQ(b.reserve(40), p);   // smaller uses: the same memory
    EXPECT_EQ(allocs, (std::vector<int64_t>{100}));
    b.reserve(250);                // larger: one reallocation
    b.reserve(200);
    EXPECT_EQ(allocs, (std::vector<int64_t>{100, 250}));
    EXPECT_EQ(frees, 1);
    EXPECT_EQ(b.bytes(), 250);
  }
  EXPECT_EQ(frees, 2);
}

}  // namespace
}  // namespace wideep
