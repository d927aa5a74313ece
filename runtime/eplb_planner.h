// The placement EPLB re-plans from a window of loads, shared by `wideep run`
// (EplbManager) and `wideep sim`: the topology placement when --topology is
// given, else the wideep EPLB policy over all ranks. Deterministic.
#pragma once

#include <vector>

#include "balance/placement.h"
#include "balance/topology.h"
#include "runtime/config.h"

namespace wideep {

// loads [layers * experts]; current: the placement in force (for slot alignment).
std::vector<Placement> plan_placement(const RunConfig& cfg, const std::vector<double>& loads,
                                      const Topology* topology,
                                      const std::vector<Placement>& current);

}  // namespace wideep
