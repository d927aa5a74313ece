// The exact per-step LPLB solver: Dinkelbach iterations of a max-flow
// (experts -> ranks) find the fractional optimum as a fraction p/q, then one
// integral max-flow at ceil(p/q), warm-started with local tokens, gives the copies.
#include "balance/lp.h"

#include <algorithm>

#include "balance/lp_flow.h"
#include "common/check.h"

namespace wideep {

Placement lp_placement(int num_ranks, int num_logical, const std::vector<int>& phy2log,
                       const std::string& what) {
  Placement p;
  p.num_ranks = num_ranks;
  p.num_logical = num_logical;
  if (num_ranks <= 0 || phy2log.empty() || phy2log.size() % static_cast<size_t>(num_ranks) != 0)
    throw UsageError(what + ": " + std::to_string(phy2log.size()) +
                     " slots do not divide among " + std::to_string(num_ranks) + " ranks");
  p.slots_per_rank = static_cast<int>(phy2log.size()) / num_ranks;
  p.phy2log = phy2log;
  const std::string err = p.validate(false);
  if (!err.empty()) throw UsageError(what + ": " + err);
  p.logcnt.assign(num_logical, 0);
  for (int e : phy2log) ++p.logcnt[e];
  p.max_copies = std::max(1, *std::max_element(p.logcnt.begin(), p.logcnt.end()));
  p.log2phy.assign(static_cast<size_t>(num_logical) * p.max_copies, -1);
  std::vector<int> fill(num_logical, 0);
  for (int s = 0; s < p.num_slots(); ++s) {
    const int e = phy2log[s];
    p.log2phy[static_cast<size_t>(e) * p.max_copies + fill[e]++] = s;
  }
  return p;
}

struct LpSolver::Impl {
  // Structure of the cached placement: every expert whose copies span several
  // ranks is a flow node (copies on one rank merge into one pair); an expert on
  // a single rank has no choice and only adds to that rank's fixed load.
  int num_ranks = 0, num_logical = 0, slots_per_rank = 0;
  std::vector<int> cached_phy2log;
  std::vector<int> single_expert, single_rank;  // one-rank experts
  std::vector<int> no_copy;                     // experts without a copy
  std::vector<int> m_expert;                    // [m] multi-rank experts
  std::vector<int> pair_start;                  // [m + 1] into the pair arrays
  std::vector<int> pair_rank, pair_copy_begin, pair_copy_end, pair_edge;
  std::vector<int> rank_node;  // [R] flow node of a rank, -1 when no multi expert touches it
  std::vector<int> node_rank;  // [n] rank of each rank node
  std::vector<int> src_edge, sink_edge;
  detail::MaxFlow flow;
  int source = 0, sink = 0;
  // Per solve.
  std::vector<int64_t> base;     // [R] base_load + tokens of one-rank experts
  std::vector<int64_t> m_count;  // [m]
  std::vector<char> in_cut;      // [R]

  void prepare(const Placement& p);
  void load_counts(const LpInput& in);
  void build_graph();
  void set_capacities(int64_t supply_scale, int64_t level_p, int64_t level_q);
  int64_t fill_greedy();  // returns the total flow after it
  void fill_local(const LpInput& in);
  int64_t total_flow() const;
  bool cut_density(int64_t* p, int64_t* q);
  void write_result(const LpInput& in, LpResult* out);
};

// Classifies the experts and builds the flow graph, once per placement: the
// graph does not depend on the counts (an expert with no tokens gets supply 0).
void LpSolver::Impl::prepare(const Placement& p) {
  if (p.num_ranks == num_ranks && p.num_logical == num_logical &&
      p.slots_per_rank == slots_per_rank && p.phy2log == cached_phy2log)
    return;
  num_ranks = p.num_ranks;
  num_logical = p.num_logical;
  slots_per_rank = p.slots_per_rank;
  cached_phy2log = p.phy2log;
  single_expert.clear();
  single_rank.clear();
  no_copy.clear();
  m_expert.clear();
  pair_start.assign(1, 0);
  pair_rank.clear();
  pair_copy_begin.clear();
  pair_copy_end.clear();
  for (int e = 0; e < num_logical; ++e) {
    const int n = p.logcnt[e];
    if (n == 0) {
      no_copy.push_back(e);
      continue;
    }
    const int* cp = p.copies(e);
    const size_t first_pair = pair_rank.size();
    for (int k = 0; k < n; ++k) {
      const int r = p.rank_of_slot(cp[k]);
      if (pair_rank.size() > first_pair && pair_rank.back() == r) {
        pair_copy_end.back() = k + 1;
        continue;
      }
      pair_rank.push_back(r);
      pair_copy_begin.push_back(k);
      pair_copy_end.push_back(k + 1);
    }
    if (pair_rank.size() - first_pair == 1) {
      single_expert.push_back(e);
      single_rank.push_back(pair_rank.back());
      pair_rank.pop_back();
      pair_copy_begin.pop_back();
      pair_copy_end.pop_back();
      continue;
    }
    m_expert.push_back(e);
    pair_start.push_back(static_cast<int>(pair_rank.size()));
  }
  build_graph();
}

// Fixed loads and flow supplies of this step's counts.
void LpSolver::Impl::load_counts(const LpInput& in) {
  for (int e = 0; e < num_logical; ++e)
    if (in.counts[e] < 0) throw UsageError("expert " + std::to_string(e) + " has a negative count");
  for (int e : no_copy)
    if (in.counts[e] > 0)
      throw UsageError("expert " + std::to_string(e) + " has " + std::to_string(in.counts[e]) +
                       " tokens but no physical copy");
  base.assign(num_ranks, 0);
  if (in.base_load) std::copy(in.base_load, in.base_load + num_ranks, base.begin());
  for (size_t i = 0; i < single_expert.size(); ++i) base[single_rank[i]] += in.counts[single_expert[i]];
  m_count.resize(m_expert.size());
  for (size_t i = 0; i < m_expert.size(); ++i) m_count[i] = in.counts[m_expert[i]];
}

// Nodes: source, multi experts, touched ranks, sink. Edge order fixes the result.
void LpSolver::Impl::build_graph() {
  const int m = static_cast<int>(m_expert.size());
  rank_node.assign(num_ranks, -1);
  node_rank.clear();
  for (int r : pair_rank) rank_node[r] = 0;
  for (int r = 0; r < num_ranks; ++r)
    if (rank_node[r] == 0) {
      rank_node[r] = 1 + m + static_cast<int>(node_rank.size());
      node_rank.push_back(r);
    }
  source = 0;
  sink = 1 + m + static_cast<int>(node_rank.size());
  flow.reset(sink + 1);
  src_edge.resize(m);
  for (int i = 0; i < m; ++i) src_edge[i] = flow.add_edge(source, 1 + i);
  pair_edge.resize(pair_rank.size());
  for (int i = 0; i < m; ++i)
    for (int k = pair_start[i]; k < pair_start[i + 1]; ++k)
      pair_edge[k] = flow.add_edge(1 + i, rank_node[pair_rank[k]]);
  sink_edge.resize(node_rank.size());
  for (size_t j = 0; j < node_rank.size(); ++j)
    sink_edge[j] = flow.add_edge(static_cast<int>(1 + m + j), sink);
  flow.finalize();
}

// Expert supply count*scale, rank capacity level_p - level_q * base (the level
// p/q scaled by q so that every capacity is an exact integer).
void LpSolver::Impl::set_capacities(int64_t supply_scale, int64_t level_p, int64_t level_q) {
  for (size_t i = 0; i < m_expert.size(); ++i) flow.set_capacity(src_edge[i], m_count[i] * supply_scale);
  for (int id : pair_edge) flow.set_capacity(id, detail::MaxFlow::kInf);
  for (size_t j = 0; j < node_rank.size(); ++j)
    flow.set_capacity(sink_edge[j], level_p - level_q * base[node_rank[j]]);
}

// Pushes amount along source -> expert i -> pair k's rank -> sink.
static void push_path(detail::MaxFlow& f, int src_id, int pair_id, int sink_id, int64_t amount) {
  f.push(src_id, amount);
  f.push(pair_id, amount);
  f.push(sink_id, amount);
}

// A starting flow: each expert pours first into its rank with the most room,
// then into the others in rank order (fewer augmenting paths afterwards).
int64_t LpSolver::Impl::fill_greedy() {
  const int m = static_cast<int>(m_expert.size());
  int64_t total = 0;
  for (int i = 0; i < m; ++i) {
    int best = -1;
    int64_t best_room = 0;
    for (int k = pair_start[i]; k < pair_start[i + 1]; ++k) {
      const int64_t room = flow.residual(sink_edge[rank_node[pair_rank[k]] - 1 - m]);
      if (room > best_room) best = k, best_room = room;
    }
    for (int pass = 0; pass < 2 && best >= 0; ++pass) {
      for (int k = pass ? pair_start[i] : best; k < (pass ? pair_start[i + 1] : best + 1); ++k) {
        const int sid = sink_edge[rank_node[pair_rank[k]] - 1 - m];
        const int64_t amt = std::min(flow.residual(src_edge[i]), flow.residual(sid));
        if (amt > 0) push_path(flow, src_edge[i], pair_edge[k], sid, amt);
      }
    }
    total += flow.flow(src_edge[i]);
  }
  return total;
}

// Locality warm start: a copy first takes its own rank's tokens, then tokens of
// its node that no copy on that node took yet (experts in id order, ranks in order).
void LpSolver::Impl::fill_local(const LpInput& in) {
  const int m = static_cast<int>(m_expert.size());
  const int rpn = in.ranks_per_node;
  for (int pass = 0; pass < 2; ++pass) {
    if (pass == 1 && (rpn <= 1 || rpn >= num_ranks)) break;  // one node: greedy covers it
    for (int i = 0; i < m; ++i) {
      const int e = m_expert[i];
      for (int k = pair_start[i]; k < pair_start[i + 1]; ++k) {
        const int r = pair_rank[k];
        const int sid = sink_edge[rank_node[r] - 1 - m];
        int64_t avail = 0;
        if (pass == 0) {
          avail = in.rank_counts[static_cast<size_t>(r) * num_logical + e];
        } else {
          const int node = r / rpn;
          const int lo = node * rpn, hi = std::min(num_ranks, lo + rpn);
          for (int q = lo; q < hi; ++q) avail += in.rank_counts[static_cast<size_t>(q) * num_logical + e];
          for (int k2 = pair_start[i]; k2 < pair_start[i + 1]; ++k2)
            if (pair_rank[k2] / rpn == node) avail -= flow.flow(pair_edge[k2]);
        }
        const int64_t amt = std::min({avail, flow.residual(src_edge[i]), flow.residual(sid)});
        if (amt > 0) push_path(flow, src_edge[i], pair_edge[k], sid, amt);
      }
    }
  }
}

int64_t LpSolver::Impl::total_flow() const {
  int64_t f = 0;
  for (int id : src_edge) f += flow.flow(id);
  return f;
}

// After a max-flow short of the demand: the ranks U on the source side of the
// minimum cut and the experts confined to U have density (base(U) + c)/|U|
// above the tried level. Returns false if U is empty (cannot happen).
bool LpSolver::Impl::cut_density(int64_t* p, int64_t* q) {
  in_cut.assign(num_ranks, 0);
  int64_t num = 0, den = 0;
  for (size_t j = 0; j < node_rank.size(); ++j) {
    if (!flow.source_side(static_cast<int>(1 + m_expert.size() + j))) continue;
    in_cut[node_rank[j]] = 1;
    num += base[node_rank[j]];
    ++den;
  }
  for (size_t i = 0; i < m_expert.size(); ++i) {
    bool inside = true;
    for (int k = pair_start[i]; k < pair_start[i + 1] && inside; ++k) inside = in_cut[pair_rank[k]];
    if (inside) num += m_count[i];
  }
  if (den == 0) return false;
  *p = num;
  *q = den;
  return true;
}

// Copies of one expert on one rank share that rank's tokens evenly (lower slots first).
static void spread(const Placement& p, int e, int begin, int end, int64_t tokens, int64_t* copy_tokens) {
  const int n = end - begin;
  const int* cp = p.copies(e);
  if (n == 1) {
    copy_tokens[cp[begin]] = tokens;
    return;
  }
  for (int k = begin; k < end; ++k) copy_tokens[cp[k]] = tokens / n + (k - begin < tokens % n ? 1 : 0);
}

void LpSolver::Impl::write_result(const LpInput& in, LpResult* out) {
  const Placement& p = *in.placement;
  out->copy_tokens.assign(p.num_slots(), 0);
  for (size_t i = 0; i < single_expert.size(); ++i) {
    const int e = single_expert[i];
    spread(p, e, 0, p.logcnt[e], in.counts[e], out->copy_tokens.data());
  }
  for (size_t i = 0; i < m_expert.size(); ++i)
    for (int k = pair_start[i]; k < pair_start[i + 1]; ++k)
      spread(p, m_expert[i], pair_copy_begin[k], pair_copy_end[k], flow.flow(pair_edge[k]),
             out->copy_tokens.data());
  out->rank_loads.assign(num_ranks, 0);
  if (in.base_load) std::copy(in.base_load, in.base_load + num_ranks, out->rank_loads.begin());
  for (int s = 0; s < p.num_slots(); ++s) out->rank_loads[p.rank_of_slot(s)] += out->copy_tokens[s];
  out->max_load = *std::max_element(out->rank_loads.begin(), out->rank_loads.end());
}

LpSolver::LpSolver() : impl_(new Impl) {}
LpSolver::~LpSolver() { delete impl_; }

void LpSolver::solve(const LpInput& in, LpResult* out) {
  WIDEEP_ASSERT(in.placement && in.counts && out, "LpSolver::solve needs a placement, counts and a result");
  Impl& s = *impl_;
  s.prepare(*in.placement);
  s.load_counts(in);
  const int R = s.num_ranks;
  int64_t demand = 0, all = 0;
  for (int64_t c : s.m_count) demand += c;
  for (int r = 0; r < R; ++r) all += s.base[r];
  all += demand;
  // Scaled capacities reach q * total with q <= R: keep them far from overflow.
  if (all > (INT64_MAX / 8) / std::max(R, 1))
    throw UsageError("LP: token counts too large (total " + std::to_string(all) + ")");

  // Start at the best of cheap lower bounds (densities of real rank sets, so
  // never above the optimum): all ranks, each rank alone, each multi-rank
  // expert's ranks holding that expert (fewer Dinkelbach steps).
  int64_t p = all, q = R;
  for (int r = 0; r < R; ++r)
    if (s.base[r] * q > p) p = s.base[r], q = 1;
  for (size_t i = 0; i < s.m_expert.size(); ++i) {
    int64_t num = s.m_count[i];
    for (int k = s.pair_start[i]; k < s.pair_start[i + 1]; ++k) num += s.base[s.pair_rank[k]];
    const int64_t den = s.pair_start[i + 1] - s.pair_start[i];
    if (static_cast<__int128>(num) * q > static_cast<__int128>(p) * den) p = num, q = den;
  }
  // Dinkelbach: each infeasible level yields a denser rank set; the first
  // feasible level is the maximum density, i.e. the exact LP optimum. An
  // integral level is tried directly with the final (integral, local-first)
  // flow, so that it needs no second solve.
  bool integral = false;
  for (;;) {
    integral = p % q == 0;
    if (integral) {
      s.set_capacities(1, p / q, 1);
      if (in.rank_counts) s.fill_local(in);
    } else {
      s.set_capacities(q, p, q);
    }
    const int64_t want = (integral ? 1 : q) * demand;
    if (s.fill_greedy() != want) s.flow.augment(s.source, s.sink);
    if (s.total_flow() == want) break;
    int64_t np = 0, nq = 0;
    WIDEEP_ASSERT(s.cut_density(&np, &nq), "LP: infeasible level without a cut");
    WIDEEP_ASSERT(static_cast<__int128>(np) * q > static_cast<__int128>(p) * nq,
                  "LP: Dinkelbach step did not raise the level");
    p = np;
    q = nq;
  }
  out->lp_opt = static_cast<double>(p) / static_cast<double>(q);
  if (!integral) {
    // Integral flow at the rounded-up level: exists because the fractional one does.
    s.set_capacities(1, (p + q - 1) / q, 1);
    if (in.rank_counts) s.fill_local(in);
    if (s.fill_greedy() != demand) s.flow.augment(s.source, s.sink);
    WIDEEP_ASSERT(s.total_flow() == demand, "LP: integral flow short of the demand");
  }
  s.write_result(in, out);
}

}  // namespace wideep
