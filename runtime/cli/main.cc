// build/wideep: dispatches to the subcommands run, plan, lp, sim, topo, mem and roofline.
#include <cstdio>
#include <cstring>
#include <exception>

#include "common/check.h"
#include "runtime/cli/commands.h"

namespace {
void usage(FILE* out) {
  std::fprintf(out,
               "usage: wideep <command> [options]   (wideep <command> --help for its options)\n"
               "  run    the MoE layer step loop (under mpirun; 1 rank also works)\n"
               "  plan   offline EPLB placement from a load matrix\n"
               "  lp     offline per-step LP solve for a placement and counts\n"
               "  sim    cluster-scale simulation with a cost model\n"
               "  topo   hwloc view of this node: cores, NUMA, GPUs, NICs\n"
               "  mem    per-rank memory plan of a run (host and device bytes by buffer)\n"
               "  roofline  one layer's kernels on one rank against copy and dense-GEMM speed\n");
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const char* cmd = argv[1];
  try {
    if (!std::strcmp(cmd, "run")) return wideep::run_main(argc - 1, argv + 1);
    if (!std::strcmp(cmd, "plan")) return wideep::plan_main(argc - 1, argv + 1);
    if (!std::strcmp(cmd, "lp")) return wideep::lp_main(argc - 1, argv + 1);
    if (!std::strcmp(cmd, "sim")) return wideep::sim_main(argc - 1, argv + 1);
    if (!std::strcmp(cmd, "topo")) return wideep::topo_main(argc - 1, argv + 1);
    if (!std::strcmp(cmd, "mem")) return wideep::mem_main(argc - 1, argv + 1);
    if (!std::strcmp(cmd, "roofline")) return wideep::roofline_main(argc - 1, argv + 1);
  } catch (const wideep::UsageError& e) {
    std::fprintf(stderr, "wideep %s: error: %s\n", cmd, e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wideep %s: %s\n", cmd, e.what());
    return 1;
  }
  std::fprintf(stderr, "wideep: unknown command '%s'\n", cmd);
  usage(stderr);
  return 2;
}
