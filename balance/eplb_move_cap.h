// The cap on experts moved per EPLB re-plan (--eplb-max-moves, the bound that
// vLLM-Ascend's SwiftBalancer puts on its moves): of a re-plan's slot changes,
// a greedy keeps the few that raise the predicted balancedness most. Pure and
// deterministic: every rank caps the same re-plan alike.
#pragma once

#include <cstdint>
#include <vector>

#include "balance/placement.h"

namespace wideep {

// One move is one slot whose expert changes (what a re-plan's experts_moved
// counts): slot s of layer l takes target[l].phy2log[s] in place of
// current[l].phy2log[s]; the other slots keep their experts.
//
// Where the target changes at most max_moves slots (all layers together), or
// max_moves <= 0, returns target. Otherwise makes target slot changes, one
// candidate at a time: a change that leaves every expert of its layer served
// (the expert it evicts has another copy), or else a chain of up to 4 target
// changes in one layer that gives the evicted expert a copy first (where the
// target puts one; that change may need one before it, and so on), weighed
// per move. The candidate made is the one that ranks best by
//   1. the gain in its layer's predicted balancedness (balance/placement.h:
//      mean / max rank load, each expert's load split evenly over its copies;
//      the mean over layers, which a re-plan reports, gains 1/L of it), then
//   2. the drop in its layer's sum of squared rank loads, as a share of that
//      sum (evens the ranks below the maximum, so that later moves can lower
//      it: two ranks tied at the maximum need two moves), then
//   3. the lowest (layer, slot);
// and the greedy stops at max_moves moves (a chain must fit in what is left)
// or when no candidate gains on 1 or 2 (a move that gains on neither is not
// worth its weights). loads: [layers * experts].
// Shapes must match (UsageError otherwise).
std::vector<Placement> cap_expert_moves(const std::vector<Placement>& current, const std::vector<Placement>& target,
                                        const std::vector<double>& loads, int64_t max_moves);

// Slots (all layers) whose expert differs between a and b (same shapes).
int64_t slots_changed(const std::vector<Placement>& a, const std::vector<Placement>& b);

}  // namespace wideep
