// The two EPLB policies behind rebalance_experts (balance/eplb.h), for the
// files that implement them: eplb.cc (deepseek) and eplb_wideep.cc (wideep).
// Inputs are already checked.
#pragma once

#include <vector>

#include "balance/eplb.h"

namespace wideep {

// DeepSeek EPLB's rebalance_experts, hierarchical when groups divide by nodes.
std::vector<Placement> rebalance_deepseek(const EplbInput& in);

// Packing without co-located copies, refined by local search; never above
// rebalance_deepseek's max GPU load on any layer.
std::vector<Placement> rebalance_wideep(const EplbInput& in);

}  // namespace wideep
