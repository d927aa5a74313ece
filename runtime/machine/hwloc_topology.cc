// hwloc discovery of the node (packages, NUMA, cores, PCI GPUs and NICs) and
// the pure per-rank binding plan. All hwloc objects are released by RAII.
#include "runtime/machine/hwloc_topology.h"

#include <hwloc.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>

#include "common/check.h"

namespace wideep {
namespace detail {
[[noreturn]] void hwloc_fail(int code, const char* call, const char* file, int line) {
  const int err = errno;
  fail_call(ErrorCategory::kSystem, "hwloc", code, err ? std::strerror(err) : "failed", call, file, line);
}
}  // namespace detail

namespace {

// A hwloc call that returns a pointer: NULL is a failure.
template <typename T>
T* checked_ptr(T* p, const char* call, const char* file, int line) {
  if (!p) detail::hwloc_fail(-1, call, file, line);
  return p;
}
#define WIDEEP_HWLOC_PTR(call) checked_ptr((call), #call, __FILE__, __LINE__)

struct TopologyHandle {
  hwloc_topology_t topo = nullptr;
  TopologyHandle() {
    WIDEEP_HWLOC_CHECK(hwloc_topology_init(&topo));
    WIDEEP_HWLOC_CHECK(hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_IMPORTANT));
    WIDEEP_HWLOC_CHECK(hwloc_topology_load(topo));
  }
  ~TopologyHandle() { hwloc_topology_destroy(topo); }
  TopologyHandle(const TopologyHandle&) = delete;
  TopologyHandle& operator=(const TopologyHandle&) = delete;
};

std::string set_list(hwloc_const_bitmap_t set) {
  if (!set) return "";
  char* s = nullptr;
  WIDEEP_HWLOC_CHECK(hwloc_bitmap_list_asprintf(&s, set));
  std::string out(s);
  std::free(s);
  return out;
}

std::string pci_id(hwloc_obj_t pci) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%04x:%02x:%02x.%01x", pci->attr->pcidev.domain, pci->attr->pcidev.bus,
                pci->attr->pcidev.dev, pci->attr->pcidev.func);
  return buf;
}

// The first NUMA node whose nodeset intersects the device's non-I/O ancestor.
void locality(hwloc_topology_t topo, hwloc_obj_t dev, DeviceInfo* d) {
  hwloc_obj_t anc = hwloc_get_non_io_ancestor_obj(topo, dev);
  if (!anc) return;
  d->cpuset = set_list(anc->cpuset);
  hwloc_obj_t numa = nullptr;
  while ((numa = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, numa)) != nullptr) {
    if (anc->nodeset && hwloc_bitmap_isset(anc->nodeset, numa->os_index)) {
      d->numa = static_cast<int>(numa->os_index);
      break;
    }
  }
}

const char* osdev_kind(hwloc_obj_osdev_type_t t) {
  switch (t) {
    case HWLOC_OBJ_OSDEV_GPU: return "gpu";
    case HWLOC_OBJ_OSDEV_COPROC: return "coproc";
    case HWLOC_OBJ_OSDEV_NETWORK: return "network";
    case HWLOC_OBJ_OSDEV_OPENFABRICS: return "openfabrics";
    default: return "other";
  }
}

// PCI class: 0x02xx network, 0x0207 InfiniBand; 0x03xx display (0x0302 3D controller).
void scan_pci(hwloc_topology_t topo, NodeTopology* t) {
  hwloc_obj_t pci = nullptr;
  while ((pci = hwloc_get_next_pcidev(topo, pci)) != nullptr) {
    const unsigned cls = pci->attr->pcidev.class_id >> 8;
    const bool is_gpu = cls == 0x03, is_nic = cls == 0x02 || pci->attr->pcidev.class_id == 0x0c06;
    if (!is_gpu && !is_nic) continue;
    DeviceInfo d;
    d.kind = is_gpu ? "gpu" : "nic";
    d.pci = pci_id(pci);
    char cls_buf[64];
    std::snprintf(cls_buf, sizeof(cls_buf), "PCI class %04x vendor %04x", pci->attr->pcidev.class_id,
                  pci->attr->pcidev.vendor_id);
    d.detail = cls_buf;
    d.name = "pci:" + d.pci;
    // OS devices below the PCI device give the names users know.
    std::string names, kinds;
    for (hwloc_obj_t c = pci->io_first_child; c; c = c->next_sibling) {
      if (c->type != HWLOC_OBJ_OS_DEVICE) continue;
      names += (names.empty() ? "" : ",") + std::string(c->name ? c->name : "?");
      kinds += (kinds.empty() ? "" : ",") + std::string(osdev_kind(c->attr->osdev.type));
    }
    if (!names.empty()) {
      d.name = names;
      d.detail += " (" + kinds + ")";
    }
    locality(topo, pci, &d);
    (is_gpu ? t->gpus : t->nics).push_back(d);
  }
}

}  // namespace

std::string bind_near_device(const std::string& pci_bus_id) {
  if (pci_bus_id.empty()) return "no PCI bus id for the GPU: binding left to the launcher";
  std::unique_ptr<TopologyHandle> h;
  try {
    h = std::make_unique<TopologyHandle>();
  } catch (const std::exception& e) {
    return std::string("hwloc could not read this node (") + e.what() + "): binding left to the launcher";
  }
  hwloc_topology_t topo = h->topo;
  hwloc_bitmap_t bound = hwloc_bitmap_alloc();
  if (!bound) return "hwloc_bitmap_alloc failed: binding left to the launcher";
  const bool have = hwloc_get_cpubind(topo, bound, HWLOC_CPUBIND_PROCESS) == 0;
  const bool launcher_bound = have && !hwloc_bitmap_iszero(bound) &&
                              !hwloc_bitmap_isincluded(hwloc_topology_get_allowed_cpuset(topo), bound);
  std::string out;
  if (launcher_bound) {
    out = "kept the launcher's binding to PUs " + set_list(bound);
  } else if (hwloc_obj_t dev = hwloc_get_pcidev_by_busidstring(topo, pci_bus_id.c_str()); !dev) {
    out = "GPU " + pci_bus_id + " not in hwloc's topology: binding left to the launcher";
  } else {
    hwloc_obj_t near = hwloc_get_non_io_ancestor_obj(topo, dev);
    if (!near || !near->cpuset) {
      out = "no CPU locality for GPU " + pci_bus_id + ": not bound";
    } else if (hwloc_set_cpubind(topo, near->cpuset, HWLOC_CPUBIND_PROCESS) != 0) {
      out = "binding to PUs " + set_list(near->cpuset) + " near GPU " + pci_bus_id + " refused: not bound";
    } else {
      out = "bound to PUs " + set_list(near->cpuset) + " near GPU " + pci_bus_id;
    }
  }
  hwloc_bitmap_free(bound);
  return out;
}

NodeTopology discover_topology() {
  TopologyHandle h;
  hwloc_topology_t topo = h.topo;
  NodeTopology t;
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) == 0) t.hostname = host;
  WIDEEP_HWLOC_CHECK(t.packages = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE));
  WIDEEP_HWLOC_CHECK(t.numa_nodes = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE));
  WIDEEP_HWLOC_CHECK(t.cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE));
  WIDEEP_HWLOC_CHECK(t.pus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU));
  for (int c = 0; c < t.cores; ++c) {
    hwloc_obj_t core = WIDEEP_HWLOC_PTR(hwloc_get_obj_by_type(topo, HWLOC_OBJ_CORE, c));
    std::vector<int> pus;
    for (int id = hwloc_bitmap_first(core->cpuset); id >= 0; id = hwloc_bitmap_next(core->cpuset, id))
      pus.push_back(id);
    t.core_pus.push_back(pus);
  }
  for (int i = 0; i < t.numa_nodes; ++i) {
    hwloc_obj_t n = WIDEEP_HWLOC_PTR(hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, i));
    NumaInfo ni;
    ni.os_index = static_cast<int>(n->os_index);
    ni.bytes = n->attr ? n->attr->numanode.local_memory : 0;
    ni.cpuset = set_list(n->cpuset);
    for (int c = 0; c < t.cores; ++c) {
      hwloc_obj_t core = WIDEEP_HWLOC_PTR(hwloc_get_obj_by_type(topo, HWLOC_OBJ_CORE, c));
      if (core->cpuset && n->cpuset && hwloc_bitmap_intersects(core->cpuset, n->cpuset)) ni.cores.push_back(c);
    }
    t.numa.push_back(ni);
  }
  scan_pci(topo, &t);
  return t;
}

namespace {
std::string int_list(const std::vector<int>& cores) {
  std::string s;
  for (size_t i = 0; i < cores.size(); ++i) {
    size_t j = i;
    while (j + 1 < cores.size() && cores[j + 1] == cores[j] + 1) ++j;
    s += (s.empty() ? "" : ",") + std::to_string(cores[i]) + (j > i ? "-" + std::to_string(cores[j]) : "");
    i = j;
  }
  return s;
}

const NumaInfo* numa_by_os(const NodeTopology& t, int os) {
  for (const NumaInfo& n : t.numa)
    if (n.os_index == os) return &n;
  return t.numa.empty() ? nullptr : &t.numa[0];
}

// Splits `cores` into `parts` blocks; part i of them, or one core round-robin
// when there are fewer cores than parts.
std::vector<int> block(const std::vector<int>& cores, int parts, int i, bool* shared) {
  const int c = static_cast<int>(cores.size());
  if (c == 0) return {};
  if (parts > c) {
    *shared = true;
    return {cores[i % c]};
  }
  const int per = c / parts;
  return std::vector<int>(cores.begin() + i * per, cores.begin() + (i + 1) * per);
}
}  // namespace

std::vector<RankBinding> plan_binding(const NodeTopology& t, int ranks_per_node) {
  std::vector<RankBinding> out(ranks_per_node);
  std::vector<int> all_cores;
  for (const NumaInfo& n : t.numa) all_cores.insert(all_cores.end(), n.cores.begin(), n.cores.end());
  std::sort(all_cores.begin(), all_cores.end());
  all_cores.erase(std::unique(all_cores.begin(), all_cores.end()), all_cores.end());
  if (all_cores.empty())
    for (int c = 0; c < t.cores; ++c) all_cores.push_back(c);
  const int G = static_cast<int>(t.gpus.size());
  if (G > 0) {
    // Ranks that share a NUMA node split its cores in rank order.
    std::map<int, std::vector<int>> ranks_on_numa;
    for (int i = 0; i < ranks_per_node; ++i) {
      RankBinding& b = out[i];
      b.local_rank = i;
      b.gpu = i % G;
      b.oversubscribed = ranks_per_node > G;
      const NumaInfo* n = numa_by_os(t, t.gpus[b.gpu].numa);
      b.numa = n ? n->os_index : -1;
      ranks_on_numa[b.numa].push_back(i);
    }
    for (const auto& kv : ranks_on_numa) {
      const NumaInfo* n = numa_by_os(t, kv.first);
      const std::vector<int>& cores = n && !n->cores.empty() ? n->cores : all_cores;
      for (size_t k = 0; k < kv.second.size(); ++k) {
        RankBinding& b = out[kv.second[k]];
        bool shared = false;
        b.cores = block(cores, static_cast<int>(kv.second.size()), static_cast<int>(k), &shared);
        b.oversubscribed = b.oversubscribed || shared;
      }
    }
  } else {
    for (int i = 0; i < ranks_per_node; ++i) {
      RankBinding& b = out[i];
      b.local_rank = i;
      bool shared = false;
      b.cores = block(all_cores, ranks_per_node, i, &shared);
      b.oversubscribed = shared;
      for (const NumaInfo& n : t.numa)
        if (!b.cores.empty() && std::find(n.cores.begin(), n.cores.end(), b.cores[0]) != n.cores.end())
          b.numa = n.os_index;
    }
  }
  // The nearest NIC: one on the rank's NUMA node (round-robin among them), else any.
  const int N = static_cast<int>(t.nics.size());
  for (RankBinding& b : out) {
    std::vector<int> pus;
    for (int c : b.cores)
      if (c < static_cast<int>(t.core_pus.size())) pus.insert(pus.end(), t.core_pus[c].begin(), t.core_pus[c].end());
    std::sort(pus.begin(), pus.end());
    b.cpuset = int_list(pus);
    if (N == 0) continue;
    std::vector<int> near;
    for (int k = 0; k < N; ++k)
      if (t.nics[k].numa == b.numa) near.push_back(k);
    b.nic = near.empty() ? b.local_rank % N : near[b.local_rank % near.size()];
  }
  return out;
}

}  // namespace wideep
