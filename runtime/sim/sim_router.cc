// All-rank copy choice of `wideep sim`, mirroring runtime/step/token_router.cc.
#include "runtime/sim/sim_router.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "balance/copy_rules.h"
#include "balance/waterfill.h"
#include "common/check.h"

namespace wideep {

// The balance phase is timed in this thread's CPU time: many short timings
// (one per node with --lplb-scope node), and a wall clock would charge
// whichever the scheduler preempted on a shared host.
static double thread_cpu_us() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec * 1e-3;
}

void ClusterRouter::init(const RouterShape& shape, int split_ranks_per_node) {
  // [R*T*K] slots: every rank's pairs; the waterfill's moves only with waterfill.
  init_core(shape, shape.ranks, false);
  split_rpn_ = split_ranks_per_node;
}

void ClusterRouter::set_lplb_mode(bool node_scope, const LplbCostModel* cost, int layers) {
  lm_.configure(lplb_, R_, rpn_, waterfill_ ? 0 : static_cast<int64_t>(T_) * S_, node_scope, cost, layers,
                static_cast<int64_t>(T_) * K_);
}

// Node scope, as TokenRouter::assign_node does it on each node: every node's
// plan and its ranks' splits. Timed per group (the nodes that plan, the nodes
// the schedule skips) and charged as the group's mean per node and per rank:
// a clock read costs microseconds here, more than a skipped node's work.
void ClusterRouter::assign_nodes(const Placement& p, const int32_t* ids, const int64_t* rank_counts, int64_t call,
                                 ClusterRouting* out) {
  const int rpn = rpn_ > 0 && rpn_ < R_ ? rpn_ : R_;
  const int nodes = static_cast<int>(lm_.node_lps.size());
  const int64_t tk = static_cast<int64_t>(T_) * K_;
  const LplbCostModel* cost = lm_.automatic ? &lm_.cost : nullptr;
  std::fill(routed_load_.begin(), routed_load_.end(), 0);
  std::vector<uint8_t>& want = want_;
  want.assign(nodes, 1);
  if (lm_.automatic)
    for (int n = 0; n < nodes; ++n) {
      lm_.gates[n].see(call, p);
      want[n] = lm_.gates[n].want(call);
    }
  double plan_us[2] = {0, 0}, split_us[2] = {0, 0};  // [skipped group, planning group]
  int count[2] = {0, 0}, ranks[2] = {0, 0};
  for (int g = 1; g >= 0; --g) {
    double t0 = thread_cpu_us();
    for (int n = 0; n < nodes; ++n) {
      if (want[n] != g) continue;
      const int lo = n * rpn;
      lm_.node_lps[n]->plan(p, n, rank_counts + static_cast<size_t>(lo) * E_, cost, !g);
      if (lm_.automatic && g) lm_.gates[n].record(call, lm_.node_lps[n]->paid(), lm_.node_lps[n]->far(), &p);
      ++count[g];
    }
    plan_us[g] = thread_cpu_us() - t0;
    t0 = thread_cpu_us();
    for (int n = 0; n < nodes; ++n) {
      if (want[n] != g) continue;
      const int lo = n * rpn, hi = std::min(R_, lo + rpn);
      for (int r = lo; r < hi; ++r)
        lm_.node_lps[n]->split(p, r, ids + r * tk, T_, K_, &slot_of_pair_[static_cast<size_t>(r) * tk]);
      ranks[g] += hi - lo;
    }
    split_us[g] = thread_cpu_us() - t0;
  }
  for (int n = 0; n < nodes; ++n) {
    NodeLp& lp = *lm_.node_lps[n];
    const int g = want[n], lo = n * rpn, hi = std::min(R_, lo + rpn);
    lp.add_routed_loads(p, routed_load_.data());
    out->lplb_skipped += !lp.used();
    if (lp.used()) out->lp_max_load = std::max(out->lp_max_load, lp.result().max_load);
    for (int r = lo; r < hi; ++r) {
      out->scope_us[r] = plan_us[g] / count[g] + split_us[g] / ranks[g];
      out->exchanged[r] = g || waterfill_;
    }
  }
  out->solve_us = count[1] ? plan_us[1] / count[1] : 0;
  out->assign_us = split_us[0] + split_us[1];
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
  out->assign_us = 0;
  out->exchanged.assign(R_, lplb_ || waterfill_);
  out->scope_us.assign(R_, -1);
  out->lplb_skipped = 0;
  const int64_t lcall = lplb_ ? lm_.calls++ : 0;
  bool global_lp = lplb_ && !lm_.node_scope;
  if (lplb_ && lm_.node_scope) {
    assign_nodes(p, ids, rank_counts, lcall, out);
  } else if (global_lp && lm_.automatic && (lm_.gates[0].see(lcall, p), !lm_.gates[0].want(lcall))) {
    // The automatic mode's skip: no exchange (unless waterfill gathers), no solve.
    global_lp = false;
    out->lplb_skipped = 1;
    if (!waterfill_) out->exchanged.assign(R_, 0);
  }
  if (global_lp) {
    // What the run's counts exchange hands every rank (not timed: the cost
    // model charges the exchange): global counts, per-slot own-rank/node counts.
    const bool node = rpn_ > 1 && rpn_ < R_;
    counts_.assign(E_, 0);
    for (int r = 0; r < R_; ++r)
      for (int e = 0; e < E_; ++e) counts_[e] += rank_counts[static_cast<size_t>(r) * E_ + e];
    slot_rank_.resize(p.num_slots());
    slot_node_.resize(p.num_slots());
    lp_slot_counts(p, rank_counts, rpn_, slot_rank_.data(), node ? slot_node_.data() : nullptr);
  }
  if (global_lp && std::getenv("WIDEEP_LP_DUMP") && ++dumped_ == 6) {
    // Debugging aid: the 6th layer-step's LP as `wideep lp --input` reads it.
    std::FILE* f = std::fopen(std::getenv("WIDEEP_LP_DUMP"), "w");
    if (f) {
      std::fprintf(f, "{\"ranks\": %d, \"phy2log\": [", R_);
      for (int s = 0; s < p.num_slots(); ++s) std::fprintf(f, "%s%d", s ? "," : "", p.phy2log[s]);
      std::fprintf(f, "], \"counts\": [");
      for (int e = 0; e < E_; ++e) std::fprintf(f, "%s%lld", e ? "," : "", static_cast<long long>(counts_[e]));
      std::fprintf(f, "], \"rank_counts\": [");
      for (int r = 0; r < R_; ++r) {
        std::fprintf(f, "%s[", r ? "," : "");
        for (int e = 0; e < E_; ++e)
          std::fprintf(f, "%s%lld", e ? "," : "", static_cast<long long>(rank_counts[static_cast<size_t>(r) * E_ + e]));
        std::fprintf(f, "]");
      }
      std::fprintf(f, "]}\n");
      std::fclose(f);
    }
  }
  double t0 = thread_cpu_us();
  if (global_lp && lm_.automatic) {
    // As TokenRouter::assign_lplb: the estimate, then the plan (timed as the solve).
    // The own-rank and own-node counts too: the split keeps those pairs off the network.
    LplbGlobalView view;
    view.counts = counts_.data();
    view.slot_rank = slot_rank_.data();
    view.slot_node = rpn_ > 1 && rpn_ < R_ ? slot_node_.data() : nullptr;
    view.pairs_per_rank = static_cast<int64_t>(T_) * K_;
    view.ranks_per_node = rpn_;
    LplbVerdict v = lplb_global_verdict(p, view, nullptr, lm_.cost);
    if (v.use) {
      lp_.solve(p, counts_.data(), slot_rank_.data(), view.slot_node, nullptr, -1, routed_load_.data());
      v = lplb_global_verdict(p, view, lp_.result().copy_tokens.data(), lm_.cost);
    }
    const bool skip = !v.use;
    lm_.gates[0].record(lcall, v.paid, v.far, &p);
    out->solve_us = thread_cpu_us() - t0;
    t0 = thread_cpu_us();
    if (skip) {
      global_lp = false;
      out->lplb_skipped = 1;
    }
  }
  if (lplb_ && lm_.node_scope) {
    // assign_nodes chose every pair's copy and timed it.
  } else if (global_lp) {
    // All components (every rank's quotas are needed here); a run's rank solves
    // only the ones it needs, with the same result for them.
    if (!lm_.automatic) {
      lp_.solve(p, counts_.data(), slot_rank_.data(), rpn_ > 1 && rpn_ < R_ ? slot_node_.data() : nullptr, nullptr,
                -1, routed_load_.data());
      out->solve_us = thread_cpu_us() - t0;
      t0 = thread_cpu_us();
    }
    split_.run(p, rank_counts, lp_.result().copy_tokens.data(), split_rpn_, ids, T_, K_, slot_of_pair_.data());
    out->lp_max_load = lp_.result().max_load;
    out->lp_opt = lp_.result().lp_opt;
  } else {
    const int64_t tk = static_cast<int64_t>(T_) * K_;
    for (int r = 0; r < R_; ++r)
      static_copy_choice(p, ids + r * tk, tk, r, seen_.data(), &slot_of_pair_[static_cast<size_t>(r) * tk]);
    if (waterfill_) {
      std::fill(routed_load_.begin(), routed_load_.end(), 0);
      for (int32_t s : slot_of_pair_) ++routed_load_[p.rank_of_slot(s)];
    }
  }
  if (!(lplb_ && lm_.node_scope)) out->assign_us = thread_cpu_us() - t0;
  if (lplb_ && !lm_.node_scope && !global_lp && !waterfill_) {
    // The fixed rule served (the automatic mode's skip): the loads the plan
    // check compares with (a run knows them from static_rank_loads; not timed).
    std::fill(routed_load_.begin(), routed_load_.end(), 0);
    for (int32_t s : slot_of_pair_) ++routed_load_[p.rank_of_slot(s)];
  }
  const bool sglang = waterfill_ && waterfill_mode_ != kWaterfillExact;
  const int64_t call = assign_calls_++;
  if (waterfill_ && !sglang) {
    t0 = thread_cpu_us();
    waterfill_shared(routed_load_.data(), shared_pairs_.data(), R_, shared_move_.data());
    out->solve_us += thread_cpu_us() - t0;
  }
  t0 = thread_cpu_us();
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
    if (S_ > 0 && sglang) {
      // Rank r's draw, as TokenRouter::place_shared_sglang makes it on rank r.
      sglang_.place(R_, r, T_, K_, S_, waterfill_mode_ == kWaterfillSglang, sglang_waterfill_key(call),
                    routed_load_.data(), &out->pair_dest_rank[base]);
    } else if (S_ > 0) {
      place_shared_pairs(r, R_, T_, K_, S_, waterfill_ ? &shared_move_[static_cast<size_t>(r) * R_] : nullptr,
                         &out->pair_dest_rank[base]);
    }
  }
  out->assign_us += thread_cpu_us() - t0;
  if (needs_counts() && !sglang)  // sglang: no rank knows the others' draws in advance
    expected_loads(routed_load_.data(), waterfill_ ? shared_move_.data() : nullptr, R_, shared_per_rank,
                   out->expected_load.data());
}

}  // namespace wideep
