// Step 3 of DESIGN.md (balance): chooses the physical copy of every (token,
// expert) pair of this rank and where each shared-expert pair runs.
//   none/eplb: fixed rule, the i-th token of expert e on rank r goes to copy (i + r) mod logcnt
//   lplb:      exact LP over the gathered R x E counts, then the exact token split
//   waterfill: shared-expert pairs move from ranks above the water level
// All ranks compute the same global assignment from the same gathered counts.
#pragma once

#include <cstdint>
#include <vector>

#include "balance/copy_rules.h"
#include "balance/placement.h"
#include "comm/communicator.h"

namespace wideep {

struct RouteArrays {
  std::vector<int32_t> pair_dest_rank;   // [T * P]
  std::vector<int32_t> pair_local_slot;  // [T * P]
  std::vector<float> pair_weight;        // [T * P]
};

struct BalanceInfo {
  int64_t expected_load = -1;  // pairs this rank must process (routed + shared), -1 unknown
  int64_t lp_max_load = -1;    // with lplb: max rank load of the LP solution
  double lp_opt = -1;
  int64_t max_expected_load = -1;
};

class TokenRouter {
 public:
  void init(int num_ranks, int rank, int num_tokens, int topk, int shared, int num_logical,
            bool lplb, bool waterfill, int ranks_per_node);

  // Whether assign() needs the gathered per-(rank, expert) counts.
  bool needs_counts() const { return lplb_ || waterfill_; }

  // The balance phase of one layer-step (collective when needs_counts()):
  // exchanges what the balancer needs of every rank's counts over `comm`,
  // then assign()s. local_counts [E] of this rank. The runner's one call site.
  void balance(Communicator& comm, const Placement& p, const int32_t* ids, const float* gate_w,
               const int64_t* local_counts, RouteArrays* out, BalanceInfo* info);

  // ids, gate_w [T*K]; rank_counts [R*E] when needs_counts(), else may be null.
  void assign(const Placement& p, const int32_t* ids, const float* gate_w,
              const int64_t* rank_counts, RouteArrays* out, BalanceInfo* info);

 private:
  int R_ = 0, rank_ = 0, T_ = 0, K_ = 0, S_ = 0, E_ = 0, rpn_ = 0;
  bool lplb_ = false, waterfill_ = false;
  std::vector<int32_t> slot_of_pair_;  // [T*K] global physical slot
  std::vector<int64_t> routed_load_;   // [R]
  std::vector<int64_t> expected_;      // [R]
  std::vector<int64_t> shared_pairs_;  // [R]
  std::vector<int64_t> shared_move_;   // [R*R]
  std::vector<int32_t> seen_;          // [E] per-rank running index of expert e
  std::vector<int64_t> rank_counts_;   // [R*E] gathered counts (balance())
  LayerLp lp_;
};

}  // namespace wideep
