// Unit tests of WaitSlice: the slice is short while it is held and the
// thread's own comes back, on kernels that take the hint (SKIP elsewhere).
#include "comm/wait_slice.h"

#include <gtest/gtest.h>

#include <thread>

namespace wideep {
namespace {

TEST(WaitSlice, ShortWhileHeldThenRestored) {
  const int64_t before = thread_slice_ns();
  if (before < 0) GTEST_SKIP() << "sched_getattr is not available here";
  {
    WaitSlice w(true);
    w.shorten();
    const int64_t during = thread_slice_ns();
    // A kernel before EEVDF's custom slices (6.12) takes the call and keeps 0.
    if (during != kWaitSliceNs) GTEST_SKIP() << "this kernel does not keep a SCHED_OTHER slice (" << during << ")";
    w.shorten();  // a second call changes nothing
    EXPECT_EQ(thread_slice_ns(), kWaitSliceNs);
  }
  EXPECT_EQ(thread_slice_ns(), before);
}

TEST(WaitSlice, DisabledTouchesNothing) {
  const int64_t before = thread_slice_ns();
  if (before < 0) GTEST_SKIP() << "sched_getattr is not available here";
  WaitSlice w(false);
  w.shorten();
  EXPECT_EQ(thread_slice_ns(), before);
}

TEST(NodeOversubscribed, MoreRanksThanCpus) {
  const int cpus = static_cast<int>(std::thread::hardware_concurrency());
  if (cpus <= 0) GTEST_SKIP() << "the CPU count is unknown";
  EXPECT_FALSE(node_oversubscribed(1));
  EXPECT_TRUE(node_oversubscribed(cpus + 1));
}

}  // namespace
}  // namespace wideep
