// The placement EPLB re-plans from a window of loads, shared by `wideep run`
// (EplbManager) and `wideep sim`: the topology placement when --topology is
// given, DeepSeek's hierarchical policy when --groups fill the nodes, else the
// wideep EPLB policy over all ranks. Deterministic.
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

// The mean over layers of predicted_balancedness (balance/placement.h) of
// `placements` on loads [layers * experts]: what --eplb-min-gain compares.
double mean_predicted_balancedness(const std::vector<Placement>& placements, const std::vector<double>& loads);

}  // namespace wideep
