// The host-wait log keeps one entry per name, in first-seen order, summing
// counts and times; reset empties it (what `wideep run` does after warm-up).
#include "kernels/host_wait_log.h"

#include <gtest/gtest.h>

namespace wideep {
namespace {

TEST(HostWaitLog, SumsByNameInFirstSeenOrder) {
  reset_host_waits();
  record_host_wait("layout (rows per destination)", 100);
  record_host_wait("expert (pairs per slot)", 40);
  record_host_wait("layout (rows per destination)", 300);
  const std::vector<HostWait> w = host_waits();
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].what, "layout (rows per destination)");
  EXPECT_EQ(w[0].count, 2);
  EXPECT_EQ(w[0].ns, 400);
  EXPECT_EQ(w[1].what, "expert (pairs per slot)");
  EXPECT_EQ(w[1].count, 1);
  EXPECT_EQ(w[1].ns, 40);
  reset_host_waits();
  EXPECT_TRUE(host_waits().empty());
}

}  // namespace
}  // namespace wideep
