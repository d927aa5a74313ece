// Step 3 of DESIGN.md (balance): chooses the physical copy of every (token,
// expert) pair of this rank and where each shared-expert pair runs.
//   none/eplb: fixed rule, the i-th token of expert e on rank r goes to copy (i + r) mod logcnt
//   lplb:      exact LP over the gathered R x E counts, then the exact token split;
//              --lplb-scope node: each node's own LP from its ranks' counts
//              (balance/node_lp.h), exchanged inside the node only
//   waterfill: shared-expert pairs move from ranks above the water level (exact
//              quotas), or by SGLang's per-token draw (--waterfill-mode sglang)
// All ranks compute the same global assignment from the same gathered counts.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "balance/copy_rules.h"
#include "balance/node_lp.h"
#include "balance/placement.h"
#include "balance/token_split.h"
#include "balance/waterfill.h"
#include "comm/communicator.h"
#include "runtime/step/router_core.h"

namespace wideep {

struct RouteArrays {
  std::vector<int32_t> pair_dest_rank;   // [T * P]
  std::vector<int32_t> pair_local_slot;  // [T * P]
  std::vector<float> pair_weight;        // [T * P]
};

struct BalanceInfo {
  int64_t expected_load = -1;  // pairs this rank must process (routed + shared), -1 unknown
  int64_t lp_max_load = -1;    // with lplb: max rank load of the LP components this rank solved
  double lp_opt = -1;          // -1: the run's LP proves the plan's level, not the fractional optimum
  int64_t max_expected_load = -1;  // -1 when this rank solved only part of the LP
  // lplb with --lplb-auto on: this layer-step's LP (of this rank's node, or the
  // global one) was predicted not to pay and the fixed rule served instead.
  bool lplb_skipped = false;
};

// lplb's counts exchange per layer-step, bytes one rank receives: the R x E
// allgather ((R - 1) E), or the allreduce of E + 2P (2(E + 2P): reduce-scatter
// + allgather) and exclusive scan of E + P (ceil(log2 R)(E + P): recursive
// doubling), 8 bytes each. balance() takes the allgather when it is not larger.
int64_t lplb_matrix_bytes(int num_ranks, int num_logical);
int64_t lplb_scan_bytes(int num_ranks, int num_logical, int num_slots);
bool lplb_uses_matrix(int num_ranks, int num_logical, int num_slots);
enum class LplbExchange { kAuto, kScan, kMatrix };  // env WIDEEP_LPLB_EXCHANGE (tests)

class TokenRouter : private RouterCore {
 public:
  void init(const RouterShape& shape, int rank);
  // The shape's fields in a row (tests); waterfill true: the exact mode.
  void init(int num_ranks, int rank, int num_tokens, int topk, int shared, int num_logical,
            bool lplb, WaterfillMode waterfill, int ranks_per_node) {
    init(RouterShape{num_ranks, num_tokens, topk, shared, num_logical, ranks_per_node, lplb, waterfill}, rank);
  }
  void init(int num_ranks, int rank, int num_tokens, int topk, int shared, int num_logical,
            bool lplb, bool waterfill, int ranks_per_node) {
    init(num_ranks, rank, num_tokens, topk, shared, num_logical, lplb, waterfill ? kWaterfillExact : kWaterfillOff,
         ranks_per_node);
  }

  // --lplb-scope node (node_scope) and --lplb-auto on (cost non-null: the
  // model it predicts with). Call after init(); the default is the global
  // scope without the automatic mode.
  // layers: the MoE layers the calls cycle through (the schedule's per-layer state).
  void set_lplb_mode(bool node_scope, const LplbCostModel* cost, int layers);

  // Whether assign() needs the gathered per-(rank, expert) counts.
  bool needs_counts() const { return lplb_ || waterfill_; }

  // The balance phase of one layer-step (collective when needs_counts()):
  // exchanges what the balancer needs of every rank's counts over `comm`,
  // then assign()s. local_counts [E] of this rank. The runner's one call site.
  void balance(Communicator& comm, const Placement& p, const int32_t* ids, const float* gate_w,
               const int64_t* local_counts, RouteArrays* out, BalanceInfo* info);

  // ids, gate_w [T*K]; rank_counts [R*E] when needs_counts(), else may be null.
  // (The matrix form: tests; lplb derives from it what balance() exchanges.)
  void assign(const Placement& p, const int32_t* ids, const float* gate_w,
              const int64_t* rank_counts, RouteArrays* out, BalanceInfo* info);

  using RouterCore::expect_lplb;

  // LP warm-start counters of this rank (how often the previous critical set was kept).
  const LpStats& lp_stats() const { return lp_.stats(); }

 private:
  // The lplb assignment from the exchanged counts: global counts [E] and SplitCounts.
  // rank_counts: the full matrix where it was gathered (null: the scan).
  void assign_lplb(const Placement& p, const int32_t* ids, const int64_t* counts, const SplitCounts& sc,
                   const int64_t* rank_counts);
  // Node scope: from this node's [n x E] rows (own_only: the others' plans
  // unknown), or from the full matrix (every node planned: all loads known).
  void assign_node(const Placement& p, const int32_t* ids, const int64_t* rank_counts, bool own_only);
  // Every pair by the fixed rule (the automatic mode's skip); loads from rank_counts where given.
  void fixed_rule(const Placement& p, const int32_t* ids, const int64_t* rank_counts);
  LplbGate& gate_of(int rank) { return lm_.gate_of(rank, R_, rpn_); }
  void finish(const Placement& p, const float* gate_w, RouteArrays* out, BalanceInfo* info);
  // --waterfill-mode sglang*: this rank's shared pairs by SGLang's draw (the
  // routed pairs' ranks already in pair_dest_rank); call keys the hash.
  void place_shared_sglang(int64_t call, int32_t* pair_dest_rank);

  int rank_ = 0;
  LplbExchange exchange_ = LplbExchange::kAuto;
  std::vector<int64_t> expected_;      // [R]
  std::vector<int64_t> rank_counts_;   // [R*E] gathered counts (balance(), waterfill alone)
  // lplb's exchange (balance()) and its matrix-form equivalents (assign()).
  std::vector<int64_t> counts_, before_, node_before_, slot_rank_, slot_node_;
  std::vector<int64_t> reduce_, scan_in_, scan_out_;  // [E + 2P], [E + P], [E + P]
  std::vector<uint8_t> need_;                   // [E] experts this rank has tokens of
  // --lplb-scope node / --lplb-auto: RouterCore's lm_ (own node's plans only without the full matrix).
  bool skipped_ = false;
  std::vector<int64_t> node_rows_;     // [n * E] this node's counts
  int node_used_ = -1;                 // node whose plan split this rank's pairs
  std::vector<P2PTransfer> node_sends_, node_recvs_;
  int64_t cur_call_ = 0;               // the current lplb layer-step's number
  bool in_balance_ = false;
  static constexpr int kNodeCountsTag = 31000;  // above EPLB's move tags (comm/mpi_communicator.cc)
  // What the lplb plan of the layer-step says of the ranks' loads.
  enum { kLoadsAll, kLoadsOwn, kLoadsNone } loads_ = kLoadsAll;
};

}  // namespace wideep
