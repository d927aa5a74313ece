// The per-step LPLB problem: given a placement and the global token count of
// each logical expert, choose integer tokens per physical copy so that every
// expert is fully served and the busiest rank's load is minimal. Solved exactly
// as a parametric max-flow (experts -> copies -> ranks); lp_opt is the exact
// fractional optimum and max_load == ceil(lp_opt). Pure and deterministic.
//
// Method: experts whose copies all sit on one rank are fixed load. The other
// experts join ranks into independent components of the copy graph (ranks linked
// by an expert with copies on both); each component is its own LP. A component's
// optimum is the largest density (base(U) + tokens of experts confined to U) / |U|
// over its rank sets U; Dinkelbach iterations of a max-flow find it as an exact
// fraction p/q (capacities scaled by q stay integers), then one integral max-flow
// at the component's level gives the copies. lp_opt is the largest component
// optimum (or lone rank's fixed load): the global optimum, as one global LP.
// Level of a component: max(ceil(its optimum), ceil(L)) with L = max(mean rank
// load, largest fixed rank load), a bound every rank computes from the global
// counts alone, so that a rank solving only the components it needs gets the
// same copies as one solving all, and light components keep room for locality.
// Warm start: each component starts Dinkelbach from the best of cheap lower
// bounds and of the density of the previous solve's critical rank set under
// the new counts (never above the optimum, so the result is unchanged);
// "kept" counts the solves where that set was still optimal (no Dinkelbach
// step), LpSolver::stats() reports it. (Not a warm start from the previous
// flow: that would make the copies depend on history, which ranks solving
// different components do not share; this one leaves the result unchanged.)
// Secondary rule (locality), among solutions at the level: the integral flow
// starts from (1) each copy taking its own rank's tokens of its expert, up to
// that rank's room (experts in id order, copies in slot order), (2) with
// ranks_per_node > 0, each copy taking tokens of its node that no copy on that
// node took yet, (3) a greedy fill of the rest (least flexible experts first,
// each spreading over its ranks in proportion to their room); Dinic augmenting paths then
// complete it, and may move some local tokens where the optimum needs it
// (locality is favoured, not maximised). Rules (1)-(2) need, per slot, only its
// expert's tokens on its own rank and node (slot_rank_counts, slot_node_counts):
// O(P) numbers, not the R x E matrix. Copies of one expert on one rank share
// that rank's tokens evenly (lower slots get the remainder).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "balance/placement.h"

namespace wideep {

struct LpInput {
  const Placement* placement = nullptr;
  const int64_t* counts = nullptr;       // [E] global tokens per logical expert
  const int64_t* rank_counts = nullptr;  // optional [R * E] tokens per (source rank, expert)
  const int64_t* base_load = nullptr;    // optional [R] load already fixed on each rank
  int ranks_per_node = 0;                // for the secondary (locality) objective; 0 = one node
  // The locality rule's inputs in O(P) form (lp_slot_counts); derived from
  // rank_counts when these are null and rank_counts is given.
  const int64_t* slot_rank_counts = nullptr;  // optional [P] tokens of phy2log[s] on s's rank
  const int64_t* slot_node_counts = nullptr;  // optional [P] tokens of phy2log[s] on s's node
  // Partial solve: only the components holding a copy of an expert with
  // need_expert[e] != 0, or holding rank need_rank (null / -1: everything).
  const uint8_t* need_expert = nullptr;  // optional [E]
  int need_rank = -1;
  // false: skip proving the fractional optimum (lp_opt = -1); the copies, the
  // loads and max_load are the same, found with about half the max-flows
  // (the runtime's setting: it needs the plan, not lp_opt).
  bool exact_opt = true;
};

struct LpResult {
  int64_t max_load = 0;              // largest rank load of the integer solution
  double lp_opt = 0;                 // exact optimum of the fractional LP (-1 without exact_opt)
  std::vector<int64_t> copy_tokens;  // [P] tokens per physical slot
  std::vector<int64_t> rank_loads;   // [R] including base_load
  // With need_expert/need_rank some components may stay unsolved: their slots
  // and ranks hold -1, and max_load / lp_opt are over what was solved.
  bool complete = true;
  int components = 0;     // components of the copy graph
  int solved = 0;         // of them solved in this call
};

// Counters over an LpSolver's life (warm start effectiveness).
struct LpStats {
  int64_t solves = 0;            // calls of solve()
  int64_t component_solves = 0;  // components solved
  int64_t warm_tried = 0;        // component solves with a previous critical set
  int64_t warm_kept = 0;         // ... where that set was still optimal (no Dinkelbach step)
  int64_t dinkelbach_steps = 0;  // infeasible levels met, over all component solves
};

// The locality rule's O(P) inputs from a full [R * E] matrix (what the
// simulator and `wideep lp` have): per slot, its expert's tokens on the slot's
// rank and, with 1 < ranks_per_node < R, on the slot's node (slot_node may be null).
void lp_slot_counts(const Placement& p, const int64_t* rank_counts, int ranks_per_node, int64_t* slot_rank,
                    int64_t* slot_node);

// Builds a placement like Placement::from_phy2log but lets an expert have no copy
// (allowed when its count is 0; the solver rejects a positive count without a copy).
// Throws UsageError naming `what` for a bad shape or an expert id out of range.
Placement lp_placement(int num_ranks, int num_logical, const std::vector<int>& phy2log,
                       const std::string& what);

// Keeps its work arrays between calls: no allocation once a shape has been
// seen. Keeps the prepared graphs and warm-start state of up to kCached recent
// placements (one per MoE layer of a run), least recently used replaced.
class LpSolver {
 public:
  LpSolver();
  ~LpSolver();
  LpSolver(const LpSolver&) = delete;
  LpSolver& operator=(const LpSolver&) = delete;

  // Throws UsageError when an expert with a positive count has no copy.
  void solve(const LpInput& in, LpResult* out);
  const LpStats& stats() const;
  // Forgets the previous solve's critical sets (results are the same either way).
  void clear_warm_start();

  static constexpr int kCached = 16;

 private:
  struct Impl;
  std::vector<Impl*> impls_;
  LpStats stats_;
  uint64_t tick_ = 0;
};

}  // namespace wideep
