// Step 3 of DESIGN.md (balance) for all R virtual ranks of `wideep sim` at once:
// the same rules as TokenRouter (static copy rule, exact LP + split, shared-expert
// waterfill), with the LP and the waterfill solved ONCE per layer-step and timed.
// Its per-rank output equals TokenRouter::assign's (runtime/sim/sim_router_test.cc).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "balance/copy_rules.h"
#include "balance/node_lp.h"
#include "balance/placement.h"
#include "balance/waterfill.h"
#include "runtime/sim/sim_split.h"
#include "runtime/step/router_core.h"

namespace wideep {

struct ClusterRouting {
  std::vector<int32_t> pair_dest_rank;   // [R * T * P], rank r's pairs at r*T*P
  std::vector<int32_t> pair_local_slot;  // [R * T * P]
  std::vector<int64_t> expected_load;    // [R] the balancer's plan; -1 when it has none
  int64_t lp_max_load = -1;
  double lp_opt = -1;
  double solve_us = 0;   // measured: the global solve (LP and/or waterfill), once per layer-step
  double assign_us = 0;  // measured: copy choice of all ranks' pairs (static rule or split)
  // lplb: per rank, whether its scope (its node, or the job) exchanged counts
  // this layer-step, and the measured plan + split of that scope as one of its
  // ranks runs it (-1: not per rank; solve_us and assign_us hold the time).
  std::vector<uint8_t> exchanged;   // [R]
  std::vector<double> scope_us;     // [R]
  int64_t lplb_skipped = 0;         // scopes (nodes, or the one global LP) that took the fixed rule
};

class ClusterRouter : private RouterCore {
 public:
  // split_ranks_per_node: the node step of the split as TokenRouter uses it
  // (its ranks_per_node since the split gained node locality; 0: none).
  void init(const RouterShape& shape, int split_ranks_per_node);
  // The shape's fields in a row (tests); waterfill true: the exact mode.
  void init(int num_ranks, int num_tokens, int topk, int shared, int num_logical, bool lplb,
            WaterfillMode waterfill, int ranks_per_node, int split_ranks_per_node) {
    init(RouterShape{num_ranks, num_tokens, topk, shared, num_logical, ranks_per_node, lplb, waterfill},
         split_ranks_per_node);
  }
  void init(int num_ranks, int num_tokens, int topk, int shared, int num_logical, bool lplb,
            bool waterfill, int ranks_per_node, int split_ranks_per_node) {
    init(num_ranks, num_tokens, topk, shared, num_logical, lplb, waterfill ? kWaterfillExact : kWaterfillOff,
         ranks_per_node, split_ranks_per_node);
  }

  bool needs_counts() const { return lplb_ || waterfill_; }
  // --lplb-scope node / --lplb-auto (cost non-null), as TokenRouter::set_lplb_mode.
  void set_lplb_mode(bool node_scope, const LplbCostModel* cost, int layers);
  using RouterCore::expect_lplb;  // as TokenRouter's: the forecast after a re-plan
  // The LP's warm-start counters (how often the previous critical set was kept).
  const LpStats& lp_stats() const { return lp_.stats(); }

  // ids [R*T*K]; rank_counts [R*E].
  void assign(const Placement& p, const int32_t* ids, const int64_t* rank_counts, ClusterRouting* out);

 private:
  int split_rpn_ = 0;
  std::vector<int64_t> counts_, slot_rank_, slot_node_;  // lplb: what the run's exchange gives
  int dumped_ = 0;                                        // WIDEEP_LP_DUMP
  AllRankSplit split_;
  std::vector<uint8_t> want_;  // [nodes] scratch: the schedule's choice
  void assign_nodes(const Placement& p, const int32_t* ids, const int64_t* rank_counts, int64_t call,
                    ClusterRouting* out);
};

}  // namespace wideep
