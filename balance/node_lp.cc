// Node-scoped LPLB: the node's sub-problem, its exact solve, the split of a
// rank's pairs, and the automatic mode's step-time prediction.
#include "balance/node_lp.h"

#include <algorithm>
#include <cmath>

#include "balance/copy_rules.h"
#include "balance/token_split.h"
#include "common/check.h"

namespace wideep {

double LplbCostModel::expert_us(double pairs) const {
  if (pairs <= 0) return 0;
  const double tiles = std::ceil(pairs / std::max(1, tile_tokens));
  return launch_us + std::max(tiles * tile_us, floor_us) + pairs * pair_us;
}

double rows_per_pair(int num_ranks, int topk) {
  // A token's K pairs on R ranks uniformly: R (1 - (1 - 1/R)^K) distinct ranks.
  if (num_ranks <= 1 || topk <= 0) return 1;
  return num_ranks * (1 - std::pow(1 - 1.0 / num_ranks, topk)) / topk;
}

LplbCostModel default_lplb_cost(int hidden, int ffn, int64_t row_bytes) {
  // launch/profiles/h100_nvlink_8x.json: tile 128, 1100 TFLOPS, 2600 GB/s
  // weight reads at 1 byte/param, launch 2 us, 0.5 ns/pair; NVLink 155 GB/s,
  // network 45 GB/s. Solve: the node solve's benchmark (balance/lp_bench.cc).
  LplbCostModel m;
  m.tile_tokens = 128;
  m.tile_us = 128.0 * 4.0 * hidden * ffn / 1100e6;
  m.floor_us = 2.0 * hidden * ffn / 2600e3;
  m.launch_us = 2;
  m.pair_us = 0.5e-3;
  m.cross_pair_us = row_bytes / 45e3;
  m.same_pair_us = row_bytes / 155e3;
  m.solve_fixed_us = 5;
  m.solve_slot_us = 0.06;
  m.exchange_us = 5;  // one NVLink round of the node's counts
  return m;
}

void NodeLp::init(int ranks_per_node, int64_t shared_per_rank, int64_t pairs_per_rank) {
  rpn_ = ranks_per_node;
  shared_ = shared_per_rank;
  pairs_per_rank_ = pairs_per_rank;
  used_ = false;
}

NodeLp::Sub& NodeLp::sub_for(const Placement& p, int lo, int n) {
  const int S = p.slots_per_rank;
  const int* first = &p.phy2log[static_cast<size_t>(lo) * S];
  const size_t len = static_cast<size_t>(n) * S;
  ++tick_;
  for (Sub& s : subs_)
    if (s.key.size() == len + 2 && s.key[len] == lo && s.key[len + 1] == p.num_ranks &&
        std::equal(first, first + len, s.key.begin())) {
      s.used = tick_;
      return s;
    }
  // One per MoE layer of a run; the least recently used one makes room.
  Sub* s;
  if (subs_.size() < static_cast<size_t>(LpSolver::kCached)) {
    subs_.emplace_back();
    s = &subs_.back();
  } else {
    s = &*std::min_element(subs_.begin(), subs_.end(), [](const Sub& a, const Sub& b) { return a.used < b.used; });
  }
  s->key.assign(first, first + len);
  s->key.push_back(lo);
  s->key.push_back(p.num_ranks);
  // Local ids: the node's experts in id order.
  const int E = p.num_logical, rpn = std::max(1, rpn_);
  s->local_of.assign(E, -1);
  for (size_t i = 0; i < len; ++i) s->local_of[first[i]] = 0;
  s->experts.clear();
  for (int e = 0; e < E; ++e)
    if (s->local_of[e] == 0) {
      s->local_of[e] = static_cast<int>(s->experts.size());
      s->experts.push_back(e);
    }
  const int m = static_cast<int>(s->experts.size());
  std::vector<int> local_phy(len);
  for (size_t i = 0; i < len; ++i) local_phy[i] = s->local_of[first[i]];
  s->p = lp_placement(n, m, local_phy, "node placement");
  // The prediction's view of the rest: how many copies, on how many nodes.
  s->global_c.assign(m, 0);
  s->here_share.assign(m, 0);
  s->nodes_with.assign(m, 0);
  for (int j = 0; j < m; ++j) {
    const int e = s->experts[j];
    s->global_c[j] = p.logcnt[e];
    s->here_share[j] = static_cast<double>(s->p.logcnt[j]) / p.logcnt[e];
    int last = -1;
    for (int k = 0; k < p.logcnt[e]; ++k) {  // copies in slot order: nodes ascend
      const int node = p.rank_of_slot(p.copies(e)[k]) / rpn;
      if (node != last) ++s->nodes_with[j];
      last = node;
    }
  }
  s->used = tick_;
  return *s;
}

void LplbGate::init(int layers, int probe_every) {
  L_ = std::max(1, layers);
  base_ = std::max(1, probe_every);
  on_.assign(L_, 1);  // the first step of every layer plans
  every_.assign(L_, base_);
  key_.assign(L_, 0);
  pend_.assign(L_, LplbForecast::kNone);
  pend_key_.assign(L_, 0);
}

bool LplbGate::want(int64_t call) const {
  // Probes on the same steps everywhere (step mod interval == 0, intervals
  // base x 2^k), so that nodes' probes share steps instead of spreading their cost.
  const int l = static_cast<int>(call % L_);
  return on_[l] || (call / L_) % every_[l] == 0;
}

void LplbGate::see(int64_t call, const Placement& p) {
  const int l = static_cast<int>(call % L_);
  const bool pending = pend_[l] != LplbForecast::kNone;
  if (!pending && every_[l] <= base_) return;
  const uint64_t key = placement_key(p);
  if (pending && key == pend_key_[l]) {
    on_[l] = pend_[l] == LplbForecast::kPlan;
    every_[l] = pend_[l] == LplbForecast::kQuiet ? std::max(base_, kMaxProbeEvery) : base_;
    key_[l] = key;
    pend_[l] = LplbForecast::kNone;
    return;
  }
  if (every_[l] > base_ && key != key_[l]) every_[l] = base_;
}

void LplbGate::expect(int layer, uint64_t key, LplbForecast f) {
  WIDEEP_ASSERT(layer >= 0 && layer < L_, "LplbGate::expect: layer out of range");
  pend_[layer] = f;
  pend_key_[layer] = key;
}

void LplbGate::record(int64_t call, bool paid, bool far, const Placement* p) {
  const int l = static_cast<int>(call % L_);
  on_[l] = paid;
  every_[l] = paid || !far ? base_ : std::min(every_[l] * 2, std::max(base_, kMaxProbeEvery));
  if (every_[l] > base_ && p) key_[l] = placement_key(*p);
}

uint64_t placement_key(const Placement& p) {
  uint64_t h = 1469598103934665603ull;
  for (int v : p.phy2log) h = (h ^ static_cast<uint32_t>(v)) * 1099511628211ull;
  return (h ^ static_cast<uint64_t>(p.num_ranks)) * 1099511628211ull;
}

bool NodeLp::plan(const Placement& p, int node, const int64_t* node_counts, const LplbCostModel* cost,
                  bool fixed_only) {
  const int R = p.num_ranks, E = p.num_logical, S = p.slots_per_rank;
  const int rpn = rpn_ > 0 && rpn_ < R ? rpn_ : R;
  lo_ = node * rpn;
  WIDEEP_ASSERT(lo_ >= 0 && lo_ < R, "NodeLp::plan: node out of range");
  n_ = std::min(R, lo_ + rpn) - lo_;
  rows_ = node_counts;
  cur_ = &sub_for(p, lo_, n_);
  gain_us_ = 0;
  far_ = false;
  if (fixed_only) return used_ = false;
  const Placement& sp = cur_->p;
  const int m = sp.num_logical;
  const int* ex = cur_->experts.data();
  // The node's tokens of the experts it holds: the LP's counts; per slot, its
  // expert's tokens on its own rank (the split's first rule).
  node_cnt_.assign(m, 0);
  send_.assign(static_cast<size_t>(n_) * 3, 0.0);
  for (int i = 0; i < n_; ++i) {
    const int64_t* row = rows_ + static_cast<size_t>(i) * E;
    for (int j = 0; j < m; ++j) node_cnt_[j] += row[ex[j]];
    if (!cost) continue;
    // The prediction's send side (independent of the plan): all pairs, and
    // those whose copy the fixed rule (share of e's copies here) and the plan
    // (every pair of an expert held here) keep inside the node.
    int64_t all = pairs_per_rank_;
    if (all < 0) {
      all = 0;
      for (int e = 0; e < E; ++e) all += row[e];
    }
    const double* share = cur_->here_share.data();
    double kept_x = 0, kept_y = 0;
    for (int j = 0; j < m; ++j) {
      const double v = static_cast<double>(row[ex[j]]);
      kept_x += v * share[j];
      kept_y += v;
    }
    send_[3 * i] = static_cast<double>(all);
    send_[3 * i + 1] = kept_x;
    send_[3 * i + 2] = kept_y;
  }
  slot_rank_.resize(static_cast<size_t>(n_) * S);
  for (int s = 0; s < n_ * S; ++s) slot_rank_[s] = rows_[static_cast<size_t>(s / S) * E + ex[sp.phy2log[s]]];
  gain_us_ = 0;
  paid_ = false;
  far_ = false;
  const double solve_us = cost ? cost->solve_fixed_us + cost->solve_slot_us * n_ * S : 0;
  if (cost) {
    // The counts are here already: the bound is weighed against the solve alone.
    predict(p, *cost, false);
    far_ = gain_us_ <= solve_us + cost->exchange_us;
    if (gain_us_ <= solve_us) return used_ = false;
  }
  base_.assign(n_, shared_);
  LpInput in;
  in.placement = &sp;
  in.counts = node_cnt_.data();
  in.base_load = base_.data();
  in.slot_rank_counts = slot_rank_.data();
  in.exact_opt = false;
  solver_.solve(in, &lp_);
  if (cost) {
    // Solved: the plan serves wherever it is predicted faster; it paid (the
    // schedule plans the next step too) where that beats exchange + solve.
    predict(p, *cost, true);
    paid_ = gain_us_ > LplbCostModel::kPayFactor * (solve_us + cost->exchange_us);
    far_ = gain_us_ <= solve_us + cost->exchange_us;
    return used_ = gain_us_ > 0;
  }
  paid_ = true;
  return used_ = true;
}

// The step-time model of the automatic mode (docs/usage-lp.md). The node sees
// only its own tokens; it takes them as a sample of every node's (the
// popularity EPLB placed for): with the fixed rule a copy of e receives
// pc_e = cnt_e / c_e from each node, with every node planning it receives its
// node's share of the plan plus pc_e from each node with no copy of e. Per rank
// of the node: expert time (tile-rounded, per local expert) + link time, the
// slower link class of max(send, receive) pairs, a pair costing cross_pair_us
// between nodes and same_pair_us inside one. gain = the largest rank's time
// with the fixed rule - with the plan. Without the plan (with_lp false) the
// plan's time is bounded below by its cross-node links alone (they do not
// depend on the split), an upper bound of the gain: below the cost, skip unsolved.
void NodeLp::predict(const Placement& p, const LplbCostModel& m, bool with_lp) {
  const int E = p.num_logical, S = p.slots_per_rank, R = p.num_ranks;
  const int rpn = rpn_ > 0 && rpn_ < R ? rpn_ : R;
  const int nodes = (R + rpn - 1) / rpn;
  const Placement& sp = cur_->p;
  double max_x = 0, max_y = 0;
  for (int i = 0; i < n_; ++i) {
    const int64_t* row = rows_ + static_cast<size_t>(i) * E;
    // Pairs that stay on the rank cross no link: with the fixed rule a copy
    // here keeps row_e / c_e of this rank's tokens of e, with the plan up to
    // its quota (the split's first rule).
    double ex = 0, ey = 0, rx_cross = 0, rx_same = 0, ry_cross = 0, ry_same = 0, own_x = 0, own_y = 0;
    for (int s = i * S; s < (i + 1) * S; ++s) {
      const int j = sp.phy2log[s];
      const double c = cur_->global_c[j], pc = static_cast<double>(node_cnt_[j]) / c;
      const double mine = static_cast<double>(row[cur_->experts[j]]);
      ex += m.expert_us(pc * nodes);
      rx_cross += pc * (nodes - 1);
      rx_same += pc - mine / c;
      own_x += mine / c;
      const double in = pc * (nodes - cur_->nodes_with[j]);
      ry_cross += in;
      if (with_lp) {
        const double kept = std::min<double>(lp_.copy_tokens[s], mine);
        ey += m.expert_us(lp_.copy_tokens[s] + in);
        ry_same += lp_.copy_tokens[s] - kept;
        own_y += kept;
      }
    }
    double sx_cross = 0, sx_same = -own_x, sy_cross = 0, sy_same = -own_y;
    const double all = send_[3 * i], kept_x = send_[3 * i + 1], kept_y = send_[3 * i + 2];
    sx_cross += all - kept_x;
    sx_same += kept_x;
    sy_cross += all - kept_y;
    sy_same += kept_y;
    const double link_x = std::max(std::max(rx_cross, sx_cross) * m.cross_pair_us,
                                   std::max(rx_same, sx_same) * m.same_pair_us);
    const double link_y = std::max(std::max(ry_cross, sy_cross) * m.cross_pair_us,
                                   std::max(ry_same, sy_same) * m.same_pair_us);
    max_x = std::max(max_x, ex + link_x);
    max_y = std::max(max_y, with_lp ? ey + link_y : std::max(ry_cross, sy_cross) * m.cross_pair_us);
  }
  gain_us_ = max_x - max_y;
}

double lplb_global_gain_us(const Placement& p, const int64_t* counts, const int64_t* copy_tokens,
                           const LplbCostModel& m, int ranks_per_node, const int64_t* slot_rank,
                           int64_t pairs_per_rank, const int64_t* slot_node) {
  const int R = p.num_ranks, S = p.slots_per_rank;
  const int rpn = ranks_per_node > 0 && ranks_per_node < R ? ranks_per_node : R;
  const bool nodes = rpn < R;
  const double ppr = static_cast<double>(pairs_per_rank);
  // What the sim charges a rank's exchange (sim_cost_model.h exchange_us): per
  // link class the larger of sent and received, the slower class. A copy's
  // quota q of expert e: pairs of its own rank cross no link (the fixed rule
  // keeps own/c of them, the plan's split min(q, own)), then its node's
  // (NVLink: the fixed rule (node - own)/c, the plan what is left of the
  // node's after the copies' own, up to q), the rest cross nodes.
  struct Side {
    double expert = 0, kept = 0, same = 0, cross = 0;
  };
  // Scratch kept per thread: the decision runs on probe steps inside the step
  // loop, and the sizes repeat (R, copies, nodes), so nothing is allocated
  // after the first call.
  static thread_local std::vector<Side> x, y;
  static thread_local std::vector<double> kmax, kept_of, keep;
  x.assign(R, Side{});
  y.assign(copy_tokens ? R : 0, Side{});
  kmax.assign(R, 0);
  double cross_x = 0, cross_y = 0;
  for (int r = 0; r < R; ++r)
    for (int s = r * S; s < (r + 1) * S; ++s) {
      const int e = p.phy2log[s];
      const double c = p.logcnt[e], cnt = static_cast<double>(counts[e]);
      const double own = slot_rank ? static_cast<double>(slot_rank[s]) : 0;
      const double node = !nodes ? cnt : slot_node ? static_cast<double>(slot_node[s]) : own;
      x[r].expert += m.expert_us(cnt / c);
      x[r].kept += own / c;
      x[r].same += (node - own) / c;
      x[r].cross += (cnt - node) / c;
      cross_x += (cnt - node) / c;
      kmax[r] += own;
    }
  if (copy_tokens) {
    // The plan as the split serves it (balance/token_split.h), per expert:
    // each copy its own rank's pairs (a rank's once, over its copies in slot
    // order), then a node's copies, in slot order, what is left of the node's.
    kept_of.assign(std::max(1, p.max_copies), 0);
    for (int e = 0; e < p.num_logical; ++e) {
      const int c = p.logcnt[e];
      const int* cp = p.copies(e);
      for (int k0 = 0; k0 < c;) {
        const int r0 = p.rank_of_slot(cp[k0]), node_id = r0 / rpn;
        int k1 = k0;
        while (k1 < c && p.rank_of_slot(cp[k1]) / rpn == node_id) ++k1;
        double node_left = !nodes ? static_cast<double>(counts[e])
                           : slot_node ? static_cast<double>(slot_node[cp[k0]])
                                       : 0;
        double own_left = 0;
        for (int k = k0; k < k1; ++k) {
          const int s = cp[k], r = p.rank_of_slot(s);
          if (k == k0 || p.rank_of_slot(cp[k - 1]) != r) own_left = slot_rank ? static_cast<double>(slot_rank[s]) : 0;
          const double q = static_cast<double>(copy_tokens[s]), kept = std::min(q, own_left);
          own_left -= kept;
          node_left -= kept;
          kept_of[k] = kept;
          y[r].expert += m.expert_us(q);
          y[r].kept += kept;
        }
        node_left = std::max(0.0, node_left);
        for (int k = k0; k < k1; ++k) {
          const int s = cp[k], r = p.rank_of_slot(s);
          const double rest = static_cast<double>(copy_tokens[s]) - kept_of[k];
          const double same = std::min(rest, node_left);
          node_left -= same;
          y[r].same += same;
          y[r].cross += rest - same;
          cross_y += rest - same;
        }
        k0 = k1;
      }
    }
  }
  // A rank's sends: its pairs less those kept; the cross-node ones taken as the
  // mean rank's (what every rank receives from other nodes, over R).
  auto rank_us = [&](const Side& v, double cross_sent) {
    const double sent = std::max(0.0, ppr - v.kept);
    const double send_cross = std::min(sent, cross_sent), send_same = sent - send_cross;
    return v.expert + std::max(std::max(v.cross, send_cross) * m.cross_pair_us,
                               std::max(v.same, send_same) * m.same_pair_us);
  };
  double max_x = 0, mean_ex = 0, mean_lmin = 0, max_lmin = 0, max_y = 0;
  // Without the plan: its largest rank is at least the mean rank's expert
  // time plus the mean of the least link time any plan leaves each rank (it
  // keeps at most the own pairs of its copies; sent pairs split between the
  // classes at best as a*b/(a+b) per pair), and at least the largest such link.
  const double per_sent = nodes ? m.cross_pair_us * m.same_pair_us / std::max(1e-12, m.cross_pair_us + m.same_pair_us)
                                : m.same_pair_us;
  for (int r = 0; r < R; ++r) {
    max_x = std::max(max_x, rank_us(x[r], cross_x / R));
    mean_ex += x[r].expert / R;
    const double lmin = std::max(0.0, ppr - kmax[r]) * per_sent;
    mean_lmin += lmin / R;
    max_lmin = std::max(max_lmin, lmin);
    if (copy_tokens) max_y = std::max(max_y, rank_us(y[r], cross_y / R));
  }
  if (copy_tokens) return max_x - max_y;
  double lb = std::max(mean_ex + mean_lmin, max_lmin);
  if (nodes && slot_node) {
    // Across nodes: a node keeps inside at most its pairs of the experts it
    // holds a copy of (slot_node of one of its copies); the rest of its
    // n x T x K pairs cross nodes under any plan: on the mean rank, and on the
    // node's busiest sender (at least the node's mean).
    keep.assign((R + rpn - 1) / rpn, 0);
    for (int e = 0; e < p.num_logical; ++e) {
      int last = -1;
      for (int k = 0; k < p.logcnt[e]; ++k) {
        const int s = p.copies(e)[k], node = p.rank_of_slot(s) / rpn;
        if (node != last) keep[node] += static_cast<double>(slot_node[s]);
        last = node;
      }
    }
    double cross_all = 0;
    for (size_t n = 0; n < keep.size(); ++n) {
      const int ranks = std::min(R, static_cast<int>(n + 1) * rpn) - static_cast<int>(n) * rpn;
      const double cross = std::max(0.0, ranks * ppr - keep[n]);
      cross_all += cross;
      lb = std::max(lb, cross / ranks * m.cross_pair_us);
    }
    lb = std::max(lb, mean_ex + cross_all / R * m.cross_pair_us);
  }
  return max_x - lb;
}

LplbVerdict lplb_global_verdict(const Placement& p, const LplbGlobalView& v, const int64_t* copy_tokens,
                                const LplbCostModel& m) {
  const double gain_us = lplb_global_gain_us(p, v.counts, copy_tokens, m, v.ranks_per_node, v.slot_rank,
                                             v.pairs_per_rank, v.slot_node);
  return lplb_verdict_of(gain_us, m, p.num_slots(), copy_tokens != nullptr);
}

LplbVerdict lplb_verdict_of(double gain_us, const LplbCostModel& m, int slots, bool solved) {
  LplbVerdict out;
  const double solve_us = m.solve_fixed_us + m.solve_slot_us * slots;
  out.gain_us = gain_us;
  out.use = gain_us > (solved ? 0 : solve_us);
  out.paid = solved && gain_us > LplbCostModel::kPayFactor * (solve_us + m.exchange_us);
  out.far = gain_us <= solve_us + m.exchange_us;
  return out;
}

void NodeLp::split(const Placement& p, int rank, const int32_t* ids, int num_tokens, int topk, int32_t* slot_of_pair) {
  const int E = p.num_logical, S = p.slots_per_rank;
  const int64_t pairs = static_cast<int64_t>(num_tokens) * topk;
  WIDEEP_ASSERT(cur_ && rank >= lo_ && rank < lo_ + n_, "NodeLp::split: rank outside the planned node");
  const Placement& sp = cur_->p;
  // Without a plan (the automatic mode's skip) every pair takes the fixed rule.
  const int me = rank - lo_, m = used_ ? sp.num_logical : 0;
  if (used_) {
    // The node's split of this rank's tokens of the node's experts, as a table.
    const int64_t* row = rows_ + static_cast<size_t>(me) * E;
    const int* ex = cur_->experts.data();
    mine_.resize(m);
    before_.assign(m, 0);
    for (int j = 0; j < m; ++j) mine_[j] = row[ex[j]];
    for (int i = 0; i < me; ++i) {
      const int64_t* r = rows_ + static_cast<size_t>(i) * E;
      for (int j = 0; j < m; ++j) before_[j] += r[ex[j]];
    }
    SplitCounts sc;
    sc.mine = mine_.data();
    sc.before = before_.data();
    sc.slot_rank = slot_rank_.data();
    split_table(sp, sc, lp_.copy_tokens.data(), me, 0, &table_);
  }
  // One pass over the pairs: the node split's table for the node's experts;
  // for the rest the fixed rule's cursor, copy (i + rank) mod c for e's i-th
  // pair (started at rank mod c on first use: E divisions would cost more
  // than the pairs). Nothing here is O(E) but the cursors' 4 KB reset: the
  // rank's row of counts (8 KB, cold in the sim's loop over ranks) is read for
  // the node's m experts only.
  if (no_local_.size() != static_cast<size_t>(E)) no_local_.assign(E, -1);
  const int* __restrict__ local_of = m ? cur_->local_of.data() : no_local_.data();
  const int first_slot = lo_ * S;
  cursor_.resize(m);
  limit_.resize(m);
  for (int j = 0; j < m; ++j) {
    cursor_[j] = static_cast<int32_t>(table_.next[j]);
    limit_[j] = cursor_[j] + static_cast<int32_t>(mine_[j] == 0 ? 0 : table_.step[j] ? mine_[j] : 1);
  }
  seen_.assign(E, -1);
  const int32_t* __restrict__ flat = table_.flat.data();
  const int32_t* __restrict__ step = table_.step.data();
  int32_t* __restrict__ at = cursor_.data();
  for (int64_t i = 0; i < pairs; ++i) {
    const int e = ids[i];
    const int j = local_of[e];
    if (j >= 0) {
      WIDEEP_ASSERT(at[j] < limit_[j], "NodeLp::split: the node's counts disagree with the rank's pairs");
      slot_of_pair[i] = first_slot + flat[at[j]];
      at[j] += step[j];
      continue;
    }
    const int c = p.logcnt[e];
    WIDEEP_ASSERT(c > 0, "NodeLp::split: a token picks an expert with no copy");
    int32_t& k = seen_[e];
    if (k < 0) k = rank % c;
    slot_of_pair[i] = p.copies(e)[k];
    if (++k == c) k = 0;
  }
  for (int j = 0; j < m; ++j)
    WIDEEP_ASSERT(step[j] == 0 || at[j] == limit_[j],
                  "NodeLp::split: the node's counts disagree with the rank's pairs");
}

void NodeLp::add_routed_loads(const Placement& p, int64_t* routed_load) const {
  const int E = p.num_logical;
  const Placement& sp = cur_->p;
  for (int i = 0; i < n_; ++i) {
    const int r = lo_ + i;
    for (int e = 0; e < E; ++e) {
      const int64_t n = rows_[static_cast<size_t>(i) * E + e];
      if (n == 0 || (used_ && cur_->local_of[e] >= 0)) continue;
      // The fixed rule: copy j takes the i < n with (i + r) mod c == j.
      const int c = p.logcnt[e];
      for (int j = 0; j < c; ++j) {
        const int64_t first = ((j - r) % c + c) % c;
        if (n > first) routed_load[p.rank_of_slot(p.copies(e)[j])] += (n - first + c - 1) / c;
      }
    }
  }
  if (used_)
    for (int s = 0; s < sp.num_slots(); ++s) routed_load[lo_ + sp.rank_of_slot(s)] += lp_.copy_tokens[s];
}

void LplbMode::configure(bool lplb, int R, int rpn, int64_t shared_per_rank, bool scope_node,
                         const LplbCostModel* model, int layers, int64_t pairs_per_rank) {
  node_scope = lplb && scope_node;
  automatic = lplb && model != nullptr;
  if (model) cost = *model;
  const int n = rpn > 0 && rpn < R ? rpn : R;
  const int nodes = (R + n - 1) / n;
  gates.assign(node_scope ? nodes : 1, LplbGate());
  for (LplbGate& g : gates) g.init(layers);
  calls = 0;
  node_lps.clear();
  if (!node_scope) return;
  for (int i = 0; i < nodes; ++i) {
    node_lps.push_back(std::make_unique<NodeLp>());
    node_lps.back()->init(n, shared_per_rank, pairs_per_rank);
  }
}

}  // namespace wideep
