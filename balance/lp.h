// The per-step LPLB problem: given a placement and the global token count of
// each logical expert, choose integer tokens per physical copy so that every
// expert is fully served and the busiest rank's load is minimal. Solved exactly
// as a parametric max-flow (experts -> copies -> ranks); lp_opt is the exact
// fractional optimum and max_load == ceil(lp_opt). Pure and deterministic.
//
// Method: experts whose copies all sit on one rank are fixed load. lp_opt is the
// largest density (base(U) + tokens of experts confined to U) / |U| over rank sets
// U; Dinkelbach iterations find it as an exact fraction p/q (capacities scaled by
// q stay integers), then one integral max-flow at level ceil(p/q) gives the copies.
// Secondary rule (locality), among solutions with max_load == ceil(lp_opt): the
// integral flow starts from (1) each copy taking its own rank's tokens of its
// expert, up to that rank's room under the level (experts in id order, copies in
// slot order), (2) with ranks_per_node > 0, each copy taking tokens of its node
// that no copy on that node took yet, (3) a greedy fill of the rest; Dinic
// augmenting paths then complete it, and may move some local tokens where the
// optimum needs it (locality is favoured, not maximised). Copies of one expert on
// one rank share that rank's tokens evenly (lower slots get the remainder).
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
};

struct LpResult {
  int64_t max_load = 0;              // largest rank load of the integer solution
  double lp_opt = 0;                 // exact optimum of the fractional LP
  std::vector<int64_t> copy_tokens;  // [P] tokens per physical slot
  std::vector<int64_t> rank_loads;   // [R] including base_load
};

// Builds a placement like Placement::from_phy2log but lets an expert have no copy
// (allowed when its count is 0; the solver rejects a positive count without a copy).
// Throws UsageError naming `what` for a bad shape or an expert id out of range.
Placement lp_placement(int num_ranks, int num_logical, const std::vector<int>& phy2log,
                       const std::string& what);

// Keeps its work arrays between calls: no allocation once a shape has been seen.
class LpSolver {
 public:
  LpSolver();
  ~LpSolver();
  LpSolver(const LpSolver&) = delete;
  LpSolver& operator=(const LpSolver&) = delete;

  // Throws UsageError when an expert with a positive count has no copy.
  void solve(const LpInput& in, LpResult* out);

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace wideep
