// runtime/machine/: the node (hwloc topology, binding, which ranks share a
// node). Includes nothing of runtime/.
//
// This node as hwloc sees it: packages, NUMA nodes, cores, GPUs and NICs with
// their locality (the NUMA node and cores nearest each device), and the core
// set, GPU and NIC each local rank gets for N ranks per node (`wideep topo`,
// launch/mpirun.sh). Every hwloc call is checked (WIDEEP_HWLOC_CHECK).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace wideep {

struct NumaInfo {
  int os_index = 0;
  uint64_t bytes = 0;
  std::vector<int> cores;  // logical indexes of the cores it holds
  std::string cpuset;      // PU list, e.g. "0-15"
};

struct DeviceInfo {
  std::string name;     // OS name (cuda0, nvidia0, mlx5_0, eth0) or "pci:BUSID"
  std::string kind;     // gpu | nic
  std::string pci;      // domain:bus:dev.fn
  std::string detail;   // hwloc's OS device subtype / PCI class
  int numa = -1;        // os index of the nearest NUMA node, -1 unknown
  std::string cpuset;   // PUs near the device
};

struct NodeTopology {
  std::string hostname;
  int packages = 0, numa_nodes = 0, cores = 0, pus = 0;
  std::vector<NumaInfo> numa;
  std::vector<std::vector<int>> core_pus;  // [cores] OS indexes of each core's PUs
  std::vector<DeviceInfo> gpus, nics;
};

struct RankBinding {
  int local_rank = 0;
  int numa = -1;             // os index of the NUMA node it is bound to
  std::vector<int> cores;    // logical core indexes
  std::string cpuset;        // OS indexes of those cores' PUs (taskset / --cpu-set list)
  int gpu = -1;              // index into NodeTopology::gpus, -1 none
  int nic = -1;              // index into NodeTopology::nics, -1 none
  bool oversubscribed = false;  // shares its cores with other ranks
};

// Reads this node through hwloc (I/O devices included).
NodeTopology discover_topology();

// Binds this process to the cores of the NUMA node nearest the PCI device
// `pci_bus_id` (a GPU), unless the launcher already bound it to fewer cores
// than the machine has (launch/mpirun.sh, --bind-to): that binding is kept.
// Returns what was done, for one line of the log; never fails the run (an
// unknown device or a refused binding is reported, not thrown).
std::string bind_near_device(const std::string& pci_bus_id);

// One rank per GPU when there are GPUs: rank i gets GPU i mod G, the cores of
// that GPU's NUMA node split evenly among the ranks sharing it, and the nearest
// NIC. Without GPUs: ranks spread in blocks over the cores (round-robin when
// there are more ranks than cores). Pure. ranks_per_node must be positive.
std::vector<RankBinding> plan_binding(const NodeTopology& t, int ranks_per_node);

}  // namespace wideep
