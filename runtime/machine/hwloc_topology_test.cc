// Binding near a device: without a GPU bus id, or with one this node does not
// have, the process's binding is reported and left exactly as it was. Discovery
// sees this node's cores, and the GPUs and NICs sysfs lists. The sanitizer build
// runs without hwloc's PCI plugin (docs/reliability.md "Sanitizers"; hwloc's
// Linux backend still reads the PCI devices from sysfs) and fails if it loads.
#include "runtime/machine/hwloc_topology.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <hwloc.h>
#include <sched.h>

#include <cstdlib>
#include <fstream>
#include <map>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WIDEEP_TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define WIDEEP_TEST_ASAN 1
#endif

namespace wideep {
namespace {

// Bus id -> "gpu" / "nic" for each PCI device of this node that sysfs lists
// with a display (0x03xx), network (0x02xx) or InfiniBand (0x0c06) class.
std::map<std::string, std::string> sysfs_gpus_and_nics() {
  std::map<std::string, std::string> out;
  const std::string root = "/sys/bus/pci/devices";
  DIR* d = opendir(root.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    const std::string id = e->d_name;
    if (id == "." || id == "..") continue;
    std::ifstream f(root + "/" + id + "/class");
    unsigned long cls = 0;
    if (!(f >> std::hex >> cls)) continue;
    if (cls >> 16 == 0x03) out[id] = "gpu";
    else if (cls >> 16 == 0x02 || cls >> 8 == 0x0c06) out[id] = "nic";
  }
  closedir(d);
  return out;
}

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

// Every GPU and NIC that sysfs lists is found, with its kind (none where sysfs
// lists none: then the check is that hwloc invents nothing). In both builds:
// without its PCI plugin hwloc's Linux backend reads the same sysfs.
TEST(HwlocTopology, DiscoverSeesThePciGpusAndNics) {
  const std::map<std::string, std::string> want = sysfs_gpus_and_nics();
  const NodeTopology t = discover_topology();
  std::map<std::string, std::string> got;
  for (const DeviceInfo& d : t.gpus) got[d.pci] = "gpu";
  for (const DeviceInfo& d : t.nics) got[d.pci] = "nic";
  EXPECT_EQ(got, want);
}

#ifdef WIDEEP_TEST_ASAN
// Whether hwloc's PCI plugin (hwloc_pci.so) is mapped into this process.
bool pci_plugin_mapped() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line))
    if (line.find("hwloc_pci") != std::string::npos) return true;
  return false;
}

// The sanitizer build only: its test environment keeps hwloc's PCI plugin out
// (cmake/WideepHelpers.cmake), and hwloc honours it: a loaded topology (which
// maps every plugin hwloc finds, until the last topology is destroyed) has no
// hwloc_pci.so mapped. With it, LeakSanitizer's tracer crashed at exit on some
// machines (issue 24).
TEST(HwlocTopology, SanitizerBuildRunsWithoutThePciPlugin) {
  const char* v = std::getenv("HWLOC_PLUGINS_BLACKLIST");
  EXPECT_TRUE(v && std::string(v).find("hwloc_pci") != std::string::npos)
      << "HWLOC_PLUGINS_BLACKLIST does not name hwloc_pci in the sanitizer build's test environment";
  hwloc_topology_t topo;
  ASSERT_EQ(hwloc_topology_init(&topo), 0);
  ASSERT_EQ(hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_IMPORTANT), 0);
  ASSERT_EQ(hwloc_topology_load(topo), 0);
  const bool mapped = pci_plugin_mapped();
  hwloc_topology_destroy(topo);
  EXPECT_FALSE(mapped) << "hwloc_pci.so is loaded";
}
#endif

}  // namespace
}  // namespace wideep
