// wideep topo: this node through hwloc (packages, NUMA nodes, cores, GPUs and
// NICs with their locality) and the binding each local rank gets for
// --ranks-per-node N; --json prints one JSON object (read by launch/mpirun.sh).
#include <fmt/core.h>
#include <hwloc.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/check.h"
#include "common/exit_status.h"
#include "runtime/cli/commands.h"
#include "runtime/io/config.h"
#include "runtime/machine/hwloc_topology.h"

namespace wideep {
namespace {

std::string dev_name(const std::vector<DeviceInfo>& v, int i) { return i >= 0 ? v[i].name : "-"; }

nlohmann::json to_json(const NodeTopology& t, const std::vector<RankBinding>& b, int rpn) {
  nlohmann::json j;
  j["hostname"] = t.hostname;
  j["hwloc_version"] = HWLOC_VERSION;
  j["packages"] = t.packages;
  j["numa_nodes"] = t.numa_nodes;
  j["cores"] = t.cores;
  j["pus"] = t.pus;
  for (const NumaInfo& n : t.numa)
    j["numa"].push_back({{"os_index", n.os_index}, {"bytes", n.bytes}, {"cores", n.cores}, {"pus", n.cpuset}});
  auto devs = [](const std::vector<DeviceInfo>& v) {
    nlohmann::json a = nlohmann::json::array();
    for (const DeviceInfo& d : v)
      a.push_back({{"name", d.name}, {"pci", d.pci}, {"detail", d.detail}, {"numa", d.numa}, {"pus", d.cpuset}});
    return a;
  };
  j["gpus"] = devs(t.gpus);
  j["nics"] = devs(t.nics);
  j["ranks_per_node"] = rpn;
  j["binding"] = nlohmann::json::array();
  for (const RankBinding& r : b)
    j["binding"].push_back({{"local_rank", r.local_rank}, {"numa", r.numa}, {"cores", r.cores},
                            {"pus", r.cpuset}, {"gpu", r.gpu}, {"nic", dev_name(t.nics, r.nic)},
                            {"oversubscribed", r.oversubscribed}});
  return j;
}

void print_table(const NodeTopology& t, const std::vector<RankBinding>& b, int rpn) {
  fmt::print("# wideep topo: host {} (hwloc {})\n", t.hostname, HWLOC_VERSION);
  fmt::print("packages {}  NUMA nodes {}  cores {}  PUs {}\n", t.packages, t.numa_nodes, t.cores, t.pus);
  for (const NumaInfo& n : t.numa)
    fmt::print("  NUMA {}: {:.0f} MiB, {} cores, PUs {}\n", n.os_index, n.bytes / 1048576.0, n.cores.size(), n.cpuset);
  if (t.gpus.empty())
    fmt::print("GPUs: none (hwloc sees no PCI display or 3D controller): a CPU machine, ranks bind to cores\n");
  else
    fmt::print("GPUs: {}\n", t.gpus.size());
  for (const DeviceInfo& d : t.gpus)
    fmt::print("  {:<16} pci {}  NUMA {}  PUs {}  [{}]\n", d.name, d.pci, d.numa, d.cpuset, d.detail);
  fmt::print("NICs: {}\n", t.nics.empty() ? "none" : std::to_string(t.nics.size()));
  for (const DeviceInfo& d : t.nics)
    fmt::print("  {:<16} pci {}  NUMA {}  PUs {}  [{}]\n", d.name, d.pci, d.numa, d.cpuset, d.detail);
  fmt::print("binding for --ranks-per-node {}:\n", rpn);
  fmt::print("{:>10} {:>5} {:>12} {:>12} {:>16} {:>16}  {}\n", "local rank", "NUMA", "cores", "PUs", "GPU", "NIC", "note");
  for (const RankBinding& r : b) {
    std::string cores;
    for (int c : r.cores) cores += (cores.empty() ? "" : ",") + std::to_string(c);
    fmt::print("{:>10} {:>5} {:>12} {:>12} {:>16} {:>16}  {}\n", r.local_rank, r.numa, cores, r.cpuset,
               dev_name(t.gpus, r.gpu), dev_name(t.nics, r.nic), r.oversubscribed ? "shares its cores" : "");
  }
}

}  // namespace

int topo_main(int argc, char** argv) {
  CLI::App app{"wideep topo: this node through hwloc and the binding of each local rank"};
  app.name("wideep topo");
  int rpn = 0;
  bool json = false;
  app.add_option("--ranks-per-node", rpn, "local ranks to plan the binding for (default: GPUs, else cores)");
  app.add_flag("--json", json, "one JSON object instead of the table");
  try {
    if (!parse_cli(app, argc, argv)) return kExitOk;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "wideep topo: error: %s\n", e.what());
    return kExitUsage;
  }
  if (app.count("--ranks-per-node") && (rpn <= 0 || rpn > 4096)) {
    std::fprintf(stderr, "wideep topo: error: --ranks-per-node must be in [1, 4096] (got %d)\n", rpn);
    return kExitUsage;
  }
  const NodeTopology t = discover_topology();
  if (rpn == 0) rpn = !t.gpus.empty() ? static_cast<int>(t.gpus.size()) : std::max(1, t.cores);
  const std::vector<RankBinding> b = plan_binding(t, rpn);
  if (json)
    fmt::print("{}\n", to_json(t, b, rpn).dump());
  else
    print_table(t, b, rpn);
  return kExitOk;
}

}  // namespace wideep
