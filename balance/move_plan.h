// Planning of the expert-weight moves between two placements (all layers).
// Nothing that stays moves; a same-node holder is preferred as source; sending
// is spread so the busiest sender sends as little as possible; the list order
// is the posting order on every rank (matching sends and receives, no deadlock).
#pragma once

#include <cstdint>
#include <vector>

#include "balance/placement.h"

namespace wideep {

struct WeightMove {
  int layer;
  int expert;
  int src_rank, src_slot;
  int dst_rank, dst_slot;
};

struct MovePlan {
  std::vector<WeightMove> transfers;    // src_rank != dst_rank, in posting order
  std::vector<WeightMove> local_copies; // src_rank == dst_rank, slot to slot
  int64_t naive_transfers = 0;          // a naive plan: every slot whose expert changed, from its first holder
  int64_t max_sends_per_rank = 0;
  int64_t cross_node_transfers = 0;
};

MovePlan plan_weight_moves(const std::vector<Placement>& old_placement,
                           const std::vector<Placement>& new_placement, int ranks_per_node);

}  // namespace wideep
