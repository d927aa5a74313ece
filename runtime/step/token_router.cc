// Copy choice per (token, expert) pair: fixed rule, exact LP + split, waterfill.
#include "runtime/step/token_router.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>

#include "balance/copy_rules.h"
#include "balance/lp.h"
#include "balance/token_split.h"
#include "balance/waterfill.h"
#include "common/check.h"

namespace wideep {

// WIDEEP_LPLB_EXCHANGE=scan|matrix forces either exchange (tests); unset or
// anything else is auto, the smaller one. Read once; the same on every rank of
// a job (a test knob, not an option: it never fails a run).
static LplbExchange lplb_exchange_env() {
  static const LplbExchange mode = [] {
    const char* v = std::getenv("WIDEEP_LPLB_EXCHANGE");
    const std::string s = v ? v : "auto";
    if (s == "scan") return LplbExchange::kScan;
    if (s == "matrix") return LplbExchange::kMatrix;
    return LplbExchange::kAuto;
  }();
  return mode;
}

void TokenRouter::init(const RouterShape& shape, int rank) {
  init_core(shape, 1, true);
  rank_ = rank;
  expected_.assign(R_, 0);
  exchange_ = lplb_ ? lplb_exchange_env() : LplbExchange::kAuto;
  if (needs_counts()) rank_counts_.assign(static_cast<size_t>(R_) * E_, 0);
  if (lplb_) {
    counts_.assign(E_, 0);
    before_.assign(E_, 0);
    node_before_.assign(E_, 0);
    need_.assign(E_, 0);
  }
}

// Bytes one rank receives in lplb's counts exchange (docs/sim.md, sim_cost_model.h):
// the matrix allgather, or the allreduce of E + 2P and the exclusive scan of E + P.
bool lplb_uses_matrix(int num_ranks, int num_logical, int num_slots) {
  return lplb_matrix_bytes(num_ranks, num_logical) <= lplb_scan_bytes(num_ranks, num_logical, num_slots);
}

int64_t lplb_matrix_bytes(int num_ranks, int num_logical) {
  return static_cast<int64_t>(num_ranks - 1) * num_logical * 8;
}
int64_t lplb_scan_bytes(int num_ranks, int num_logical, int num_slots) {
  int log2r = 0;
  while ((1 << log2r) < num_ranks) ++log2r;
  return 8 * (2 * (static_cast<int64_t>(num_logical) + 2 * num_slots) +
              static_cast<int64_t>(log2r) * (num_logical + num_slots));
}

void TokenRouter::balance(Communicator& comm, const Placement& p, const int32_t* ids, const float* gate_w,
                          const int64_t* local_counts, RouteArrays* out, BalanceInfo* info) {
  const int P = p.num_slots();
  // Waterfill needs every rank's routed load: the node scope's and the
  // automatic mode's fixed-rule loads come from the full matrix only.
  const bool matrix = exchange_ == LplbExchange::kMatrix || (waterfill_ && (lm_.node_scope || lm_.automatic)) ||
                      (!lm_.node_scope && exchange_ == LplbExchange::kAuto && lplb_uses_matrix(R_, E_, P));
  if (lplb_) {
    cur_call_ = lm_.calls++;
    in_balance_ = true;
  }
  struct Leave {
    bool& flag;
    ~Leave() { flag = false; }
  } leave{in_balance_};
  if (lplb_ && lm_.automatic) gate_of(rank_).see(cur_call_, p);
  if (lplb_ && lm_.automatic && !matrix && !gate_of(rank_).want(cur_call_)) {
    // The automatic mode's skip: no counts exchanged, no solve, the fixed rule.
    *info = BalanceInfo{};
    fixed_rule(p, ids, nullptr);
    finish(p, gate_w, out, info);
    return;
  }
  if (lplb_ && lm_.node_scope && !matrix) {
    // Node scope: one exchange inside the node, each rank's E counts to its
    // node peers (point to point: no other node takes part).
    const int rpn = rpn_ > 0 && rpn_ < R_ ? rpn_ : R_;
    const int lo = rank_ / rpn * rpn, n = std::min(R_, lo + rpn) - lo;
    node_rows_.resize(static_cast<size_t>(n) * E_);
    std::copy(local_counts, local_counts + E_, &node_rows_[static_cast<size_t>(rank_ - lo) * E_]);
    std::vector<P2PTransfer>& sends = node_sends_;
    std::vector<P2PTransfer>& recvs = node_recvs_;
    sends.clear();
    recvs.clear();
    for (int q = lo; q < lo + n; ++q) {
      if (q == rank_) continue;
      sends.push_back({q, const_cast<int64_t*>(local_counts), static_cast<int64_t>(E_) * 8, kNodeCountsTag});
      recvs.push_back({q, &node_rows_[static_cast<size_t>(q - lo) * E_], static_cast<int64_t>(E_) * 8, kNodeCountsTag});
    }
    if (!sends.empty()) comm.exchange(sends, recvs);
    *info = BalanceInfo{};
    assign_node(p, ids, node_rows_.data(), true);
    finish(p, gate_w, out, info);
    return;
  }
  if (!lplb_ || matrix) {
    // Waterfill alone, or lplb where the R x E matrix is the smaller exchange.
    const int64_t* gathered = nullptr;
    if (needs_counts()) {
      rank_counts_.resize(static_cast<size_t>(R_) * E_);
      comm.allgather_int64(local_counts, E_, rank_counts_.data());
      gathered = rank_counts_.data();
    }
    assign(p, ids, gate_w, gathered, out, info);
    return;
  }
  // The O(E + P) exchange, one overlapped round: a sum over all ranks of
  // [counts (E) | own count at this rank's slots (P) | own count at every slot
  // of this rank's node (P)] gives the global counts and each slot's own-rank
  // and own-node counts; an exclusive scan of [counts (E) | own count at every
  // slot of this node (P)] gives the tokens of lower ranks per expert and, at
  // this node's slots, of the lower ranks of this node (zeros from other nodes).
  const int S = p.slots_per_rank;
  const bool node = rpn_ > 1 && rpn_ < R_;
  const int lo = node ? rank_ / rpn_ * rpn_ : rank_, hi = node ? std::min(R_, lo + rpn_) : rank_ + 1;
  reduce_.assign(static_cast<size_t>(E_) + 2 * P, 0);
  scan_in_.assign(static_cast<size_t>(E_) + P, 0);
  scan_out_.resize(static_cast<size_t>(E_) + P);
  std::copy(local_counts, local_counts + E_, reduce_.begin());
  std::copy(local_counts, local_counts + E_, scan_in_.begin());
  for (int s = rank_ * S; s < (rank_ + 1) * S; ++s) reduce_[E_ + s] = local_counts[p.phy2log[s]];
  if (node)
    for (int s = lo * S; s < hi * S; ++s) {
      reduce_[E_ + P + s] = local_counts[p.phy2log[s]];
      scan_in_[E_ + s] = local_counts[p.phy2log[s]];
    }
  comm.allreduce_exscan_sum_int64(reduce_.data(), static_cast<int64_t>(E_) + 2 * P, scan_in_.data(),
                                  scan_out_.data(), static_cast<int64_t>(E_) + P);
  if (node)
    for (int s = lo * S; s < hi * S; ++s) node_before_[p.phy2log[s]] = scan_out_[E_ + s];
  SplitCounts sc;
  sc.mine = local_counts;
  sc.before = scan_out_.data();
  sc.node_before = node_before_.data();
  sc.slot_rank = &reduce_[E_];
  sc.slot_node = node ? &reduce_[static_cast<size_t>(E_) + P] : nullptr;
  *info = BalanceInfo{};
  assign_lplb(p, ids, reduce_.data(), sc, nullptr);
  finish(p, gate_w, out, info);
}

void TokenRouter::assign_lplb(const Placement& p, const int32_t* ids, const int64_t* counts, const SplitCounts& sc,
                              const int64_t* rank_counts) {
  // The automatic mode: its schedule, the estimate (no solve), then the plan
  // itself; all from the global counts, so every rank decides alike. It needs
  // the whole plan, as waterfill does.
  if (lm_.automatic) gate_of(rank_).see(cur_call_, p);
  if (lm_.automatic && !gate_of(rank_).want(cur_call_)) {
    fixed_rule(p, ids, rank_counts);
    return;
  }
  // The own-rank and own-node counts too: the split keeps those pairs off the network.
  LplbGlobalView view;
  view.counts = counts;
  view.slot_rank = sc.slot_rank;
  view.slot_node = sc.slot_node;
  view.pairs_per_rank = static_cast<int64_t>(T_) * K_;
  view.ranks_per_node = rpn_;
  LplbVerdict v;
  v.use = true;
  if (lm_.automatic) v = lplb_global_verdict(p, view, nullptr, lm_.cost);
  skipped_ = !v.use;
  if (!skipped_) {
    // With waterfill or the automatic mode every rank's routed load is needed:
    // solve everything. Otherwise only the components of the experts this rank
    // has tokens of and of its own rank (the others' quotas are never read here).
    const bool all = waterfill_ || lm_.automatic;
    const uint8_t* need = nullptr;
    if (!all) {
      for (int e = 0; e < E_; ++e) need_[e] = sc.mine[e] > 0;
      need = need_.data();
    }
    lp_.solve(p, counts, sc.slot_rank, sc.slot_node, need, all ? -1 : rank_, routed_load_.data());
    if (lm_.automatic) v = lplb_global_verdict(p, view, lp_.result().copy_tokens.data(), lm_.cost);
    skipped_ = !v.use;
  }
  if (lm_.automatic) lm_.gates[0].record(cur_call_, v.paid, v.far, &p);
  if (skipped_) {
    fixed_rule(p, ids, rank_counts);
    return;
  }
  loads_ = lp_.result().complete ? kLoadsAll : kLoadsOwn;
  split_tokens(p, sc, lp_.result().copy_tokens.data(), rank_, ids, T_, K_, rpn_, slot_of_pair_.data());
}

void TokenRouter::fixed_rule(const Placement& p, const int32_t* ids, const int64_t* rank_counts) {
  skipped_ = true;
  node_used_ = -1;
  static_copy_choice(p, ids, static_cast<int64_t>(T_) * K_, rank_, seen_.data(), slot_of_pair_.data());
  loads_ = rank_counts ? kLoadsAll : kLoadsNone;
  if (rank_counts) static_rank_loads(p, rank_counts, R_, routed_load_.data());
}

void TokenRouter::set_lplb_mode(bool node_scope, const LplbCostModel* cost, int layers) {
  lm_.configure(lplb_, R_, rpn_, waterfill_ ? 0 : static_cast<int64_t>(T_) * S_, node_scope, cost, layers,
                static_cast<int64_t>(T_) * K_);
}

void TokenRouter::assign_node(const Placement& p, const int32_t* ids, const int64_t* rank_counts, bool own_only) {
  const int rpn = rpn_ > 0 && rpn_ < R_ ? rpn_ : R_;
  const int mine = rank_ / rpn;
  const LplbCostModel* cost = lm_.automatic ? &lm_.cost : nullptr;
  // A node the automatic mode's schedule skips takes the fixed rule, unplanned.
  auto plan = [&](int n, const int64_t* rows) {
    if (lm_.automatic) lm_.gates[n].see(cur_call_, p);
    const bool want = !lm_.automatic || lm_.gates[n].want(cur_call_);
    lm_.node_lps[n]->plan(p, n, rows, cost, !want);
    if (lm_.automatic && want) lm_.gates[n].record(cur_call_, lm_.node_lps[n]->paid(), lm_.node_lps[n]->far(), &p);
  };
  if (own_only) {
    plan(mine, rank_counts);
    loads_ = kLoadsNone;  // the other nodes' tokens that come here are theirs to plan
  } else {
    std::fill(routed_load_.begin(), routed_load_.end(), 0);
    for (int n = 0; n < static_cast<int>(lm_.node_lps.size()); ++n) {
      plan(n, rank_counts + static_cast<size_t>(n) * rpn * E_);
      lm_.node_lps[n]->add_routed_loads(p, routed_load_.data());
    }
    loads_ = kLoadsAll;
  }
  lm_.node_lps[mine]->split(p, rank_, ids, T_, K_, slot_of_pair_.data());
  skipped_ = !lm_.node_lps[mine]->used();
  node_used_ = mine;
}

void TokenRouter::assign(const Placement& p, const int32_t* ids, const float* gate_w,
                         const int64_t* rank_counts, RouteArrays* out, BalanceInfo* info) {
  *info = BalanceInfo{};
  if (lplb_ && !in_balance_) cur_call_ = lm_.calls++;
  if (lplb_ && lm_.node_scope) {
    assign_node(p, ids, rank_counts, false);
  } else if (lplb_) {
    // What balance()'s exchange would give this rank, from the full matrix.
    const int S = p.slots_per_rank, lo = rpn_ > 0 ? rank_ / rpn_ * rpn_ : 0;
    const bool node = rpn_ > 1 && rpn_ < R_;
    std::fill(counts_.begin(), counts_.end(), 0);
    std::fill(before_.begin(), before_.end(), 0);
    std::fill(node_before_.begin(), node_before_.end(), 0);
    for (int r = 0; r < R_; ++r)
      for (int e = 0; e < E_; ++e) {
        const int64_t v = rank_counts[static_cast<size_t>(r) * E_ + e];
        counts_[e] += v;
        if (r < rank_) before_[e] += v;
        if (node && r >= lo && r < rank_) node_before_[e] += v;
      }
    slot_rank_.resize(static_cast<size_t>(R_) * S);
    slot_node_.resize(static_cast<size_t>(R_) * S);
    lp_slot_counts(p, rank_counts, rpn_, slot_rank_.data(), slot_node_.data());
    SplitCounts sc;
    sc.mine = rank_counts + static_cast<size_t>(rank_) * E_;
    sc.before = before_.data();
    sc.node_before = node_before_.data();
    sc.slot_rank = slot_rank_.data();
    sc.slot_node = node ? slot_node_.data() : nullptr;
    assign_lplb(p, ids, counts_.data(), sc, rank_counts);
  } else {
    static_copy_choice(p, ids, static_cast<int64_t>(T_) * K_, rank_, seen_.data(), slot_of_pair_.data());
    if (waterfill_) static_rank_loads(p, rank_counts, R_, routed_load_.data());
  }
  finish(p, gate_w, out, info);
}

// Shared by both paths: shared-expert moves, the route arrays and the plan.
void TokenRouter::finish(const Placement& p, const float* gate_w, RouteArrays* out, BalanceInfo* info) {
  const int P = K_ + S_;
  const int64_t shared_per_rank = static_cast<int64_t>(T_) * S_;
  if (lplb_ && lm_.node_scope && node_used_ >= 0) {
    const NodeLp& nl = *lm_.node_lps[node_used_];
    info->lp_max_load = nl.used() ? nl.result().max_load : -1;
  } else if (lplb_ && !skipped_) {
    info->lp_max_load = lp_.result().max_load;
    info->lp_opt = lp_.result().lp_opt;
  }
  info->lplb_skipped = lplb_ && skipped_;
  const bool sglang = waterfill_ && waterfill_mode_ != kWaterfillExact;
  const int64_t call = assign_calls_++;
  if (waterfill_ && !sglang) waterfill_shared(routed_load_.data(), shared_pairs_.data(), R_, shared_move_.data());
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
    if (sglang)
      place_shared_sglang(call, out->pair_dest_rank.data());
    else
      place_shared_pairs(rank_, R_, T_, K_, S_, waterfill_ ? &shared_move_[static_cast<size_t>(rank_) * R_] : nullptr,
                         out->pair_dest_rank.data());
    for (int t = 0; t < T_; ++t)
      for (int j = 0; j < S_; ++j) {
        const size_t q = static_cast<size_t>(t) * P + K_ + j;
        out->pair_local_slot[q] = p.slots_per_rank + j;
        out->pair_weight[q] = 1.0f;
      }
  }
  // sglang: each rank draws its own tokens' shared ranks, so no rank knows the
  // others' loads in advance (expected_load stays -1).
  if (needs_counts() && !sglang) {
    if (lplb_ && loads_ == kLoadsNone) return;  // no plan of the whole (node scope, or skipped from the scan)
    if (lplb_ && loads_ == kLoadsOwn) {
      // Only this rank's own load is known (its component was solved).
      info->expected_load = routed_load_[rank_] + shared_per_rank;
      return;
    }
    expected_loads(routed_load_.data(), waterfill_ ? shared_move_.data() : nullptr, R_, shared_per_rank,
                   expected_.data());
    info->expected_load = expected_[rank_];
    info->max_expected_load = *std::max_element(expected_.begin(), expected_.end());
  }
}


void TokenRouter::place_shared_sglang(int64_t call, int32_t* pair_dest_rank) {
  sglang_.place(R_, rank_, T_, K_, S_, waterfill_mode_ == kWaterfillSglang, sglang_waterfill_key(call),
                routed_load_.data(), pair_dest_rank);
}

}  // namespace wideep
