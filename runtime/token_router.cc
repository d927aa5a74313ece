// Copy choice per (token, expert) pair: fixed rule, exact LP + split, waterfill.
#include "runtime/token_router.h"

#include <algorithm>

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
  counts_.assign(E_, 0);
  base_load_.assign(R_, 0);
  routed_load_.assign(R_, 0);
  shared_pairs_.assign(R_, static_cast<int64_t>(T_) * S_);
  shared_move_.assign(static_cast<size_t>(R_) * R_, 0);
  seen_.assign(E_, 0);
}

void TokenRouter::assign_static(const Placement& p, const int32_t* ids) {
  std::fill(seen_.begin(), seen_.end(), 0);
  for (int i = 0; i < T_ * K_; ++i) {
    const int e = ids[i];
    const int c = p.logcnt[e];
    slot_of_pair_[i] = p.copies(e)[(seen_[e]++ + rank_) % c];
  }
}

// Per-rank routed loads of the fixed rule, from counts alone: of rank r's n
// tokens of expert e, copy j receives those i in [0, n) with (i + r) mod c == j.
void TokenRouter::static_rank_loads(const Placement& p, const int64_t* rank_counts) {
  std::fill(routed_load_.begin(), routed_load_.end(), 0);
  for (int r = 0; r < R_; ++r) {
    for (int e = 0; e < E_; ++e) {
      const int64_t n = rank_counts[static_cast<size_t>(r) * E_ + e];
      const int c = p.logcnt[e];
      for (int j = 0; j < c; ++j) {
        const int64_t first = ((j - r) % c + c) % c;  // smallest i with (i + r) mod c == j
        const int64_t got = n > first ? (n - first + c - 1) / c : 0;
        routed_load_[p.rank_of_slot(p.copies(e)[j])] += got;
      }
    }
  }
}

// Rank r's shared pairs, indexed t*S + j, stay local up to shared_move[r][r],
// then fill the other destinations in increasing rank order.
void TokenRouter::assign_shared(RouteArrays* out) {
  const int P = K_ + S_;
  const int64_t* move = &shared_move_[static_cast<size_t>(rank_) * R_];
  int dest = rank_;
  int64_t left = waterfill_ ? move[rank_] : static_cast<int64_t>(T_) * S_;
  int next = 0;
  for (int t = 0; t < T_; ++t) {
    for (int j = 0; j < S_; ++j) {
      while (left == 0) {
        if (next == rank_) ++next;
        WIDEEP_ASSERT(next < R_, "waterfill quotas do not cover this rank's shared pairs");
        dest = next;
        left = move[next++];
      }
      --left;
      const size_t q = static_cast<size_t>(t) * P + K_ + j;
      out->pair_dest_rank[q] = dest;
      out->pair_local_slot[q] = -1 - j;  // resolved by the caller: slots_per_rank + j
      out->pair_weight[q] = 1.0f;
    }
  }
}

void TokenRouter::assign(const Placement& p, const int32_t* ids, const float* gate_w,
                         const int64_t* rank_counts, RouteArrays* out, BalanceInfo* info) {
  const int P = K_ + S_;
  *info = BalanceInfo{};
  const int64_t shared_per_rank = static_cast<int64_t>(T_) * S_;
  if (lplb_) {
    std::fill(counts_.begin(), counts_.end(), 0);
    for (int r = 0; r < R_; ++r)
      for (int e = 0; e < E_; ++e) counts_[e] += rank_counts[static_cast<size_t>(r) * E_ + e];
    std::fill(base_load_.begin(), base_load_.end(), waterfill_ ? 0 : shared_per_rank);
    LpInput in;
    in.placement = &p;
    in.counts = counts_.data();
    in.rank_counts = rank_counts;
    in.base_load = base_load_.data();
    in.ranks_per_node = rpn_;
    solver_.solve(in, &lp_);
    split_tokens(p, rank_counts, lp_.copy_tokens.data(), rank_, ids, T_, K_, rpn_, slot_of_pair_.data());
    for (int r = 0; r < R_; ++r) routed_load_[r] = lp_.rank_loads[r] - base_load_[r];
    info->lp_max_load = lp_.max_load;
    info->lp_opt = lp_.lp_opt;
  } else {
    assign_static(p, ids);
    if (waterfill_) static_rank_loads(p, rank_counts);
  }
  if (waterfill_) {
    waterfill_shared(routed_load_.data(), shared_pairs_.data(), R_, shared_move_.data());
  }
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
    assign_shared(out);
    for (int t = 0; t < T_; ++t)
      for (int j = 0; j < S_; ++j) {
        const size_t q = static_cast<size_t>(t) * P + K_ + j;
        out->pair_local_slot[q] = p.slots_per_rank + j;
      }
  }
  if (needs_counts()) {
    // What every rank must process: routed load plus shared pairs it keeps or receives.
    int64_t mx = 0;
    for (int r = 0; r < R_; ++r) {
      int64_t shared_in = 0;
      if (waterfill_) {
        for (int s = 0; s < R_; ++s) shared_in += shared_move_[static_cast<size_t>(s) * R_ + r];
      } else {
        shared_in = shared_per_rank;
      }
      const int64_t load = routed_load_[r] + shared_in;
      if (r == rank_) info->expected_load = load;
      mx = std::max(mx, load);
    }
    info->max_expected_load = mx;
  }
}

}  // namespace wideep
