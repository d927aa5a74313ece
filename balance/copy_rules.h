// The copy-choice rules of DESIGN.md step 3 (balance) that the run's
// TokenRouter (one rank) and the simulator's ClusterRouter (all ranks) share:
// the fixed copy rule, LPLB's per-layer-step LP over the gathered counts, where
// shared-expert pairs run, and the load every rank must then process.
#pragma once

#include <cstdint>
#include <vector>

#include "balance/lp.h"
#include "balance/placement.h"

namespace wideep {

// The fixed rule (balancers none/eplb): the i-th pair of expert e on `rank` goes
// to copy (i + rank) mod logcnt[e]. ids [pairs] logical experts of one rank;
// seen [E] scratch; slot_of_pair [pairs] receives global physical slots.
void static_copy_choice(const Placement& p, const int32_t* ids, int64_t pairs, int rank,
                        int32_t* seen, int32_t* slot_of_pair);

// The same rule's routed load per rank from counts alone, for all ranks: of
// rank r's n tokens of expert e, copy j gets those i < n with (i + r) mod c == j.
// rank_counts [R*E]; routed_load [R].
void static_rank_loads(const Placement& p, const int64_t* rank_counts, int num_ranks,
                       int64_t* routed_load);

// LPLB's LP of one layer-step: the global counts and per-slot locality
// counts, each rank's shared pairs as a fixed base load (unless Waterfill
// moves them, then 0), the exact solve.
class LayerLp {
 public:
  void init(int num_ranks, int num_logical, int64_t shared_per_rank, bool waterfill_moves_shared,
            int ranks_per_node);
  // From what the O(E + P) counts exchange gives every rank: global counts
  // [E], per-slot own-rank and own-node counts [P] (slot_node null: no node
  // step). need_expert [E] / need_rank as in LpInput (null / -1: solve all).
  // routed_load [R] receives each rank's LP load without its base load, -1
  // for ranks left unsolved. The plan only: lp_opt is -1 (LpInput::exact_opt).
  void solve(const Placement& p, const int64_t* counts, const int64_t* slot_rank, const int64_t* slot_node,
             const uint8_t* need_expert, int need_rank, int64_t* routed_load);
  // The same from the full [R*E] matrix (tests): derives the O(E + P) inputs.
  void solve(const Placement& p, const int64_t* rank_counts, int64_t* routed_load);
  const LpResult& result() const { return lp_; }
  const LpStats& stats() const { return solver_.stats(); }

 private:
  int R_ = 0, E_ = 0, rpn_ = 0;
  std::vector<int64_t> base_load_;  // [R]
  std::vector<int64_t> counts_, slot_rank_, slot_node_;  // the matrix form's inputs
  LpSolver solver_;
  LpResult lp_;
};

// Where `rank`'s shared pairs (t*S + j) run: at home up to move_row[rank], then
// filling the other destinations of move_row in increasing rank order; with
// move_row null all stay home. pair_dest_rank [T*(K+S)] is that rank's, the
// shared pairs at t*(K+S) + K + j.
void place_shared_pairs(int rank, int num_ranks, int tokens, int topk, int shared,
                        const int64_t* move_row, int32_t* pair_dest_rank);

// What each rank must process: its routed load plus the shared pairs it keeps
// or receives (shared_move [R*R] from waterfill_shared, or null: every rank
// keeps its shared_per_rank). expected [R].
void expected_loads(const int64_t* routed_load, const int64_t* shared_move, int num_ranks,
                    int64_t shared_per_rank, int64_t* expected);

}  // namespace wideep
