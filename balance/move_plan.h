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
  int64_t naive_max_sends_per_rank = 0; // the naive plan's busiest sender (cross-rank sends only)
};

// Sources name slots of the OLD placement: a rank reads (or sends) what it held
// before the move, so it must stage a source slot before overwriting it. A new
// slot that gets an expert its rank held before is a local copy; otherwise one
// transfer from a holder in the old placement (same node first, then the holder
// with the fewest sends). Throws UsageError when the shapes differ or
// ranks_per_node does not divide the ranks.
MovePlan plan_weight_moves(const std::vector<Placement>& old_placement,
                           const std::vector<Placement>& new_placement, int ranks_per_node);

}  // namespace wideep
