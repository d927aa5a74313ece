// Copy choice per (token, expert) pair: fixed rule, exact LP + split, waterfill.
#include "runtime/token_router.h"

#include <algorithm>

#include "balance/copy_rules.h"
#include "balance/token_split.h"
#include "balance/waterfill.h"
#include "common/check.h"

namespace wideep {

void TokenRouter::init(int num_ranks, int rank, int num_tokens, int topk, int shared,
                       int num_logical, bool lplb, bool waterfill, int ranks_per_node) {
  R_ = num_ranks;
  rank_ = rank;
  T_ = num_tokens;
  K_ = topk;
  S_ = shared;
  E_ = num_logical;
  rpn_ = ranks_per_node;
  lplb_ = lplb;
  waterfill_ = waterfill;
  slot_of_pair_.assign(static_cast<size_t>(T_) * K_, 0);
  lp_.init(R_, E_, static_cast<int64_t>(T_) * S_, waterfill_, rpn_);
  routed_load_.assign(R_, 0);
  expected_.assign(R_, 0);
  shared_pairs_.assign(R_, static_cast<int64_t>(T_) * S_);
  shared_move_.assign(static_cast<size_t>(R_) * R_, 0);
  seen_.assign(E_, 0);
  if (needs_counts()) rank_counts_.assign(static_cast<size_t>(R_) * E_, 0);
}

void TokenRouter::balance(Communicator& comm, const Placement& p, const int32_t* ids, const float* gate_w,
                          const int64_t* local_counts, RouteArrays* out, BalanceInfo* info) {
  const int64_t* gathered = nullptr;
  if (needs_counts()) {
    comm.allgather_int64(local_counts, E_, rank_counts_.data());
    gathered = rank_counts_.data();
  }
  assign(p, ids, gate_w, gathered, out, info);
}

void TokenRouter::assign(const Placement& p, const int32_t* ids, const float* gate_w,
                         const int64_t* rank_counts, RouteArrays* out, BalanceInfo* info) {
  const int P = K_ + S_;
  *info = BalanceInfo{};
  const int64_t shared_per_rank = static_cast<int64_t>(T_) * S_;
  if (lplb_) {
    lp_.solve(p, rank_counts, routed_load_.data());
    split_tokens(p, rank_counts, lp_.result().copy_tokens.data(), rank_, ids, T_, K_, rpn_, slot_of_pair_.data());
    info->lp_max_load = lp_.result().max_load;
    info->lp_opt = lp_.result().lp_opt;
  } else {
    static_copy_choice(p, ids, static_cast<int64_t>(T_) * K_, rank_, seen_.data(), slot_of_pair_.data());
    if (waterfill_) static_rank_loads(p, rank_counts, R_, routed_load_.data());
  }
  if (waterfill_) waterfill_shared(routed_load_.data(), shared_pairs_.data(), R_, shared_move_.data());
  for (int t = 0; t < T_; ++t) {
    for (int k = 0; k < K_; ++k) {
      const int slot = slot_of_pair_[t * K_ + k];
      const size_t q = static_cast<size_t>(t) * P + k;
      out->pair_dest_rank[q] = p.rank_of_slot(slot);
      out->pair_local_slot[q] = slot % p.slots_per_rank;
      out->pair_weight[q] = gate_w[t * K_ + k];
    }
  }
  if (S_ > 0) {
    place_shared_pairs(rank_, R_, T_, K_, S_, waterfill_ ? &shared_move_[static_cast<size_t>(rank_) * R_] : nullptr,
                       out->pair_dest_rank.data());
    for (int t = 0; t < T_; ++t)
      for (int j = 0; j < S_; ++j) {
        const size_t q = static_cast<size_t>(t) * P + K_ + j;
        out->pair_local_slot[q] = p.slots_per_rank + j;
        out->pair_weight[q] = 1.0f;
      }
  }
  if (needs_counts()) {
    expected_loads(routed_load_.data(), waterfill_ ? shared_move_.data() : nullptr, R_, shared_per_rank,
                   expected_.data());
    info->expected_load = expected_[rank_];
    info->max_expected_load = *std::max_element(expected_.begin(), expected_.end());
  }
}

}  // namespace wideep
