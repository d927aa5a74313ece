// Exact split of each expert's tokens among its copies: every copy receives
// exactly its quota and every rank computes the same assignment, with no
// sampling, from O(E + P) numbers (SplitCounts: an exclusive scan of the counts
// over ranks and per-slot own-rank/own-node counts), not the R x E matrix. Rule: a copy first
// takes tokens from its own rank (up to its quota), then the remaining tokens,
// in global order (source rank, then token, then top-k position), fill the
// remaining quotas in slot order. With ranks_per_node > 0 a middle step comes
// between the two: the copies of a node, in slot order, take the node's
// remaining tokens in global order (less inter-node traffic).
#pragma once

#include <cstdint>
#include <vector>

#include "balance/placement.h"

namespace wideep {

// What one rank knows of the others' counts after the O(E + P) exchange
// (runtime/step/token_router.cc). A rank's tokens of expert e are its (t, k) pairs
// with topk_ids[t*K+k] == e in row-major order.
struct SplitCounts {
  const int64_t* mine = nullptr;         // [E] this rank's tokens per expert
  const int64_t* before = nullptr;       // [E] tokens of all lower ranks (exclusive scan over ranks)
  const int64_t* node_before = nullptr;  // [E] tokens of the lower ranks of this rank's node
  const int64_t* slot_rank = nullptr;    // [P] tokens of phy2log[s] on s's rank (lp_slot_counts)
  const int64_t* slot_node = nullptr;    // [P] tokens of phy2log[s] on s's node
};

// The split from SplitCounts; node_before and slot_node are read only with
// 1 < ranks_per_node < R (the node step). Writes slot_of_pair [T * K].
void split_tokens(const Placement& p, const SplitCounts& c, const int64_t* copy_tokens, int rank,
                  const int32_t* topk_ids, int num_tokens, int topk, int ranks_per_node, int32_t* slot_of_pair);

// The split as a table (NodeLp merges it with the fixed rule's): this rank's
// k-th token of expert e (in row-major order) goes to slot flat[next[e] + k *
// step[e]] (step 0: all to one slot; no entry where mine[e] is 0).
struct SplitTable {
  std::vector<int64_t> next;
  std::vector<int32_t> step, flat;
};
void split_table(const Placement& p, const SplitCounts& c, const int64_t* copy_tokens, int rank, int ranks_per_node,
                 SplitTable* t);

// The same from the full matrix (tests, reference; O(rank * E) to derive SplitCounts).
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
