// All-rank copy choice of `wideep sim`, mirroring runtime/token_router.cc.
#include "runtime/sim_router.h"

#include <algorithm>
#include <chrono>

#include "balance/waterfill.h"
#include "common/check.h"

namespace wideep {
namespace {
double now_us() {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

void ClusterRouter::init(int num_ranks, int num_tokens, int topk, int shared, int num_logical,
                         bool lplb, bool waterfill, int ranks_per_node, int split_ranks_per_node) {
  R_ = num_ranks;
  T_ = num_tokens;
  K_ = topk;
  S_ = shared;
  E_ = num_logical;
  rpn_ = ranks_per_node;
  split_rpn_ = split_ranks_per_node;
  lplb_ = lplb;
  waterfill_ = waterfill;
  slot_of_pair_.assign(static_cast<size_t>(R_) * T_ * K_, 0);
  counts_.assign(E_, 0);
  base_load_.assign(R_, 0);
  routed_load_.assign(R_, 0);
  shared_pairs_.assign(R_, static_cast<int64_t>(T_) * S_);
  shared_move_.assign(waterfill ? static_cast<size_t>(R_) * R_ : 0, 0);
  seen_.assign(E_, 0);
}

// The fixed rule: the i-th pair of expert e on rank r goes to copy (i + r) mod logcnt.
void ClusterRouter::assign_static(const Placement& p, const int32_t* ids) {
  const int64_t tk = static_cast<int64_t>(T_) * K_;
  for (int r = 0; r < R_; ++r) {
    std::fill(seen_.begin(), seen_.end(), 0);
    const int32_t* in = ids + r * tk;
    int32_t* out = &slot_of_pair_[r * tk];
    for (int64_t i = 0; i < tk; ++i) {
      const int e = in[i];
      out[i] = p.copies(e)[(seen_[e]++ + r) % p.logcnt[e]];
    }
  }
}

// Rank r's shared pairs (t*S + j) stay local up to shared_move[r][r], then fill
// the other destinations in increasing rank order (TokenRouter::assign_shared).
void ClusterRouter::assign_shared(int rank, ClusterRouting* out) const {
  const int P = K_ + S_;
  const size_t base = static_cast<size_t>(rank) * T_ * P;
  const int64_t* move = waterfill_ ? &shared_move_[static_cast<size_t>(rank) * R_] : nullptr;
  int dest = rank, next = 0;
  int64_t left = waterfill_ ? move[rank] : static_cast<int64_t>(T_) * S_;
  for (int t = 0; t < T_; ++t) {
    for (int j = 0; j < S_; ++j) {
      while (left == 0) {
        if (next == rank) ++next;
        WIDEEP_ASSERT(next < R_, "waterfill quotas do not cover this rank's shared pairs");
        dest = next;
        left = move[next++];
      }
      --left;
      out->pair_dest_rank[base + static_cast<size_t>(t) * P + K_ + j] = dest;
    }
  }
}

void ClusterRouter::assign(const Placement& p, const int32_t* ids, const int64_t* rank_counts,
                           ClusterRouting* out) {
  const int P = K_ + S_;
  const int64_t shared_per_rank = static_cast<int64_t>(T_) * S_;
  out->pair_dest_rank.resize(static_cast<size_t>(R_) * T_ * P);
  out->pair_local_slot.resize(static_cast<size_t>(R_) * T_ * P);
  out->expected_load.assign(R_, -1);
  out->lp_max_load = -1;
  out->lp_opt = -1;
  out->solve_us = 0;
  double t0 = now_us();
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
    out->solve_us = now_us() - t0;
    t0 = now_us();
    split_.run(p, rank_counts, lp_.copy_tokens.data(), split_rpn_, ids, T_, K_, slot_of_pair_.data());
    for (int r = 0; r < R_; ++r) routed_load_[r] = lp_.rank_loads[r] - base_load_[r];
    out->lp_max_load = lp_.max_load;
    out->lp_opt = lp_.lp_opt;
  } else {
    assign_static(p, ids);
    if (waterfill_) {
      std::fill(routed_load_.begin(), routed_load_.end(), 0);
      for (int32_t s : slot_of_pair_) ++routed_load_[p.rank_of_slot(s)];
    }
  }
  out->assign_us = now_us() - t0;
  if (waterfill_) {
    t0 = now_us();
    waterfill_shared(routed_load_.data(), shared_pairs_.data(), R_, shared_move_.data());
    out->solve_us += now_us() - t0;
  }
  t0 = now_us();
  for (int r = 0; r < R_; ++r) {
    const int32_t* slots = &slot_of_pair_[static_cast<size_t>(r) * T_ * K_];
    const size_t base = static_cast<size_t>(r) * T_ * P;
    for (int t = 0; t < T_; ++t) {
      for (int k = 0; k < K_; ++k) {
        const int slot = slots[t * K_ + k];
        out->pair_dest_rank[base + static_cast<size_t>(t) * P + k] = p.rank_of_slot(slot);
        out->pair_local_slot[base + static_cast<size_t>(t) * P + k] = slot % p.slots_per_rank;
      }
      for (int j = 0; j < S_; ++j) out->pair_local_slot[base + static_cast<size_t>(t) * P + K_ + j] = p.slots_per_rank + j;
    }
    if (S_ > 0) assign_shared(r, out);
  }
  out->assign_us += now_us() - t0;
  if (needs_counts()) {
    std::vector<int64_t> shared_in(R_, waterfill_ ? 0 : shared_per_rank);
    if (waterfill_)
      for (int s = 0; s < R_; ++s)
        for (int r = 0; r < R_; ++r) shared_in[r] += shared_move_[static_cast<size_t>(s) * R_ + r];
    for (int r = 0; r < R_; ++r) out->expected_load[r] = routed_load_[r] + shared_in[r];
  }
}

}  // namespace wideep
