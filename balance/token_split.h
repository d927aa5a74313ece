// Exact split of each expert's tokens among its copies: every copy receives
// exactly its quota and every rank computes the same assignment from the
// gathered per-(rank, expert) counts, with no sampling. Rule: a copy first
// takes tokens from its own rank (up to its quota), then the remaining tokens,
// in global order (source rank, then token, then top-k position), fill the
// remaining quotas in slot order. With ranks_per_node > 0 a middle step comes
// between the two: the copies of a node, in slot order, take the node's
// remaining tokens in global order (less inter-node traffic).
#pragma once

#include <cstdint>

#include "balance/placement.h"

namespace wideep {

// rank_counts [R * E]: tokens per (source rank, expert), where a rank's tokens of
// expert e are its (t, k) pairs with topk_ids[t*K+k] == e in row-major order.
// copy_tokens [P]: quota per slot, summing per expert to its count.
// Writes slot_of_pair [T * K] for the tokens of `rank`.
void split_tokens(const Placement& p, const int64_t* rank_counts, const int64_t* copy_tokens,
                  int rank, const int32_t* topk_ids, int num_tokens, int topk,
                  int32_t* slot_of_pair);

// The same with the node step; ranks_per_node <= 0 means one node (the call above).
void split_tokens(const Placement& p, const int64_t* rank_counts, const int64_t* copy_tokens,
                  int rank, const int32_t* topk_ids, int num_tokens, int topk,
                  int ranks_per_node, int32_t* slot_of_pair);

}  // namespace wideep
