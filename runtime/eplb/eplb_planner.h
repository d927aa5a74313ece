// The placement EPLB re-plans from a window of loads, shared by `wideep run`
// (EplbManager) and `wideep sim`: the topology placement when --topology is
// given, else the --eplb-policy (auto: the better predicted balancedness of
// wideep's packing and, where --groups divide over the nodes, DeepSeek's
// hierarchical policy), then the move-aware keep (--eplb-keep-within) and the
// cap on experts moved (--eplb-max-moves).
// Deterministic: every rank plans the same from the same window.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "balance/placement.h"
#include "balance/topology.h"
#include "runtime/io/config.h"
#include "runtime/io/metrics.h"

namespace wideep {

// loads [layers * experts]; current: the placement in force (for slot alignment
// and the keep). rec (optional) receives policy, kept_layers and experts_moved.
std::vector<Placement> plan_placement(const RunConfig& cfg, const std::vector<double>& loads,
                                      const Topology* topology,
                                      const std::vector<Placement>& current, RebalanceRecord* rec = nullptr);

// A re-plan that keeps every layer (--eplb-keep-within, or a cap that found
// no move worth making) moves nothing: it is reported as skipped.
inline bool replan_kept_all(const RunConfig& cfg, const RebalanceRecord& rec) {
  return (cfg.eplb_keep_within > 0 || cfg.eplb_max_moves > 0) && rec.kept_layers == cfg.layers;
}

// The record a re-plan at `step` starts with (its mode from --eplb-async and
// --eplb-layers-per-chunk), and the window's counts summed per (layer, expert):
// the first steps of EplbManager's and the sim's re-plan alike.
// window [W][L][E] ring of int64 counts; sum [L*E] is overwritten.
RebalanceRecord start_rebalance_record(const RunConfig& cfg, int step);
template <class T>
void sum_window(const std::vector<int64_t>& window, int step, int window_steps, std::vector<T>* sum) {
  const size_t n = sum->size();
  std::fill(sum->begin(), sum->end(), T(0));
  const int filled = step + 1 < window_steps ? step + 1 : window_steps;
  for (int w = 0; w < filled; ++w)
    for (size_t i = 0; i < n; ++i) (*sum)[i] += static_cast<T>(window[w * n + i]);
}

// One re-plan of EplbManager and of the sim alike: plan_placement on the
// window's loads, rec's predicted balancedness before and after, and whether
// the re-plan is skipped (its gain under --eplb-min-gain, or every layer kept).
std::vector<Placement> replan(const RunConfig& cfg, const std::vector<double>& loads, const Topology* topology,
                              const std::vector<Placement>& current, RebalanceRecord* rec, bool* skip);

// What --eplb-policy resolves to before any window exists, for the header:
// "topology", "deepseek-hierarchical", "deepseek-global", "wideep", or
// "auto (wideep | deepseek-hierarchical)".
std::string policy_description(const RunConfig& cfg, bool topology);

// The mean over layers of predicted_balancedness (balance/placement.h) of
// `placements` on loads [layers * experts]: what --eplb-min-gain compares.
double mean_predicted_balancedness(const std::vector<Placement>& placements, const std::vector<double>& loads);

}  // namespace wideep
