// The host plan of hierarchical dispatch (--dispatch-mode hierarchical,
// notes: docs/usage.md "Dispatch modes"): which rank each row goes to at each
// stage, and what the rows' slot fields carry. Nodes are `rpn` consecutive
// ranks (--gpus-per-node).
//
// Stage 1 (cross-node): a token goes once to every other node holding one of
// its pairs, to the forwarder there with this rank's local index (n*rpn +
// rank % rpn); the pairs of the own node go to this rank itself (it is its own
// node's forwarder). A stage-1 row is a flat wire row whose slot field names
// the pair's destination inside the node too: code = local index * S + slot,
// or -1 for a pair of another node.
// Stage 2 (intra-node): each forwarder decodes the rows it received (its own
// tokens' included) into pairs for the ranks of its node and sends them as
// flat rows of "forwarded tokens" (x as received, a new metadata tail).
// Combine mirrors it: stage 2 returns each rank's partial rows to the
// forwarder, which sums them per forwarded token (final combine, rank order)
// and returns one row per (token, node) to the source.
#pragma once

#include <cstdint>

namespace wideep {

// The forwarder of `node` for source `rank`.
inline int hier_forwarder(int node, int rank, int rpn) { return node * rpn + rank % rpn; }

// Stage 1 from this rank's pair arrays [n]: dest1 = the forwarder of the
// pair's node (this rank for its own node), code1 = its slot code.
void hier_stage1(const int32_t* pair_dest, const int32_t* pair_slot, int64_t n, int rank, int rpn, int S,
                 int32_t* dest1, int32_t* code1);

// Stage 2 on a forwarder from the slot codes of the V rows it received
// [V x P]: dest2 = the rank of its node the pair goes to, slot2 its slot
// there; -1 and -1 for an unused pair (code -1). Returns the first row with a
// code outside [-1, rpn * S), or -1 (then dest2/slot2 of it are -1 too).
int32_t hier_stage2(const int32_t* codes, int V, int P, int rank, int rpn, int S, int32_t* dest2, int32_t* slot2);

}  // namespace wideep
