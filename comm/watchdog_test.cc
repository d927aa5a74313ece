// Unit tests of the per-rank watchdog: arming and disarming around waits that
// end in time never fires; a wait that outlives its deadline ends the process
// with kExitTimeout and one line naming the wait.
#include "comm/watchdog.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "common/exit_status.h"

namespace wideep {
namespace {

TEST(Watchdog, WaitsThatEndInTimeNeverFire) {
  Watchdog w;
  for (int i = 0; i < 1000; ++i) {
    WatchdogScope s(w, 0.2, "short wait " + std::to_string(i));
  }
  EXPECT_FALSE(w.armed());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // past every old deadline
}

TEST(Watchdog, DescribeKeepsTheDeadline) {
  Watchdog w;
  w.arm(0.3, "first");
  w.describe("second");
  EXPECT_TRUE(w.armed());
  w.disarm();
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
}

TEST(WatchdogDeathTest, FiresPastTheDeadlineNamingTheWait) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        Watchdog w;
        w.arm(0.1, "all-to-allv in step 3 layer 0 phase dispatch");
        w.describe("all-to-allv in step 3 layer 0 phase dispatch; not completed: receive from rank 1");
        std::this_thread::sleep_for(std::chrono::seconds(5));
      },
      testing::ExitedWithCode(kExitTimeout),
      "timeout \\(watchdog\\): all-to-allv in step 3 layer 0 phase dispatch; not completed: receive from rank 1");
}

}  // namespace
}  // namespace wideep
