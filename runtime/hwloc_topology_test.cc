// Binding near a device: without a GPU bus id, or with one this node does not
// have, the process's binding is reported and left exactly as it was.
#include "runtime/hwloc_topology.h"

#include <gtest/gtest.h>
#include <sched.h>

namespace wideep {
namespace {

cpu_set_t current_affinity() {
  cpu_set_t set;
  CPU_ZERO(&set);
  EXPECT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  return set;
}

TEST(HwlocTopology, BindNearDeviceWithoutBusIdChangesNothing) {
  const cpu_set_t before = current_affinity();
  EXPECT_NE(bind_near_device("").find("binding left to the launcher"), std::string::npos);
  const cpu_set_t after = current_affinity();
  EXPECT_TRUE(CPU_EQUAL(&before, &after));
}

TEST(HwlocTopology, BindNearAnUnknownDeviceChangesNothing) {
  const cpu_set_t before = current_affinity();
  const std::string how = bind_near_device("ffff:ff:1f.7");
  EXPECT_TRUE(how.find("not in hwloc's topology") != std::string::npos ||
              how.find("kept the launcher's binding") != std::string::npos)
      << how;
  const cpu_set_t after = current_affinity();
  EXPECT_TRUE(CPU_EQUAL(&before, &after));
}

TEST(HwlocTopology, DiscoverSeesThisNode) {
  const NodeTopology t = discover_topology();
  EXPECT_GE(t.cores, 1);
  EXPECT_GE(t.pus, t.cores);
  EXPECT_GE(t.numa_nodes, 1);
  const std::vector<RankBinding> b = plan_binding(t, 4);
  ASSERT_EQ(b.size(), 4u);
  for (const RankBinding& r : b) EXPECT_FALSE(r.cores.empty());
}

}  // namespace
}  // namespace wideep
