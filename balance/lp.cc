// The exact per-step LPLB solver, one independent LP per component of the copy
// graph: Dinkelbach iterations of a max-flow (experts -> ranks), warm-started
// from the previous critical rank set, find each optimum as a fraction p/q, then
// one integral max-flow at the component's level, seeded with local tokens,
// gives the copies.
#include "balance/lp.h"

#include <algorithm>
#include <numeric>

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

void lp_slot_counts(const Placement& p, const int64_t* rank_counts, int ranks_per_node, int64_t* slot_rank,
                    int64_t* slot_node) {
  const int R = p.num_ranks, E = p.num_logical;
  const bool node = slot_node && ranks_per_node > 1 && ranks_per_node < R;
  for (int s = 0; s < p.num_slots(); ++s) {
    const int e = p.phy2log[s], r = p.rank_of_slot(s);
    slot_rank[s] = rank_counts[static_cast<size_t>(r) * E + e];
    if (!slot_node) continue;
    int64_t n = 0;
    if (node) {
      const int lo = r / ranks_per_node * ranks_per_node, hi = std::min(R, lo + ranks_per_node);
      for (int q = lo; q < hi; ++q) n += rank_counts[static_cast<size_t>(q) * E + e];
    }
    slot_node[s] = n;
  }
}

namespace {

// a/b < c/d for positive denominators, exactly.
bool less_frac(int64_t a, int64_t b, int64_t c, int64_t d) {
  return static_cast<__int128>(a) * d < static_cast<__int128>(c) * b;
}

}  // namespace

struct LpSolver::Impl {
  // Structure of the cached placement: every expert whose copies span several
  // ranks is a multi expert (copies on one rank merge into one pair); an expert
  // on a single rank has no choice and only adds to that rank's fixed load.
  int num_ranks = 0, num_logical = 0, slots_per_rank = 0;
  std::vector<int> cached_phy2log;
  std::vector<int> single_expert, single_rank;  // one-rank experts
  std::vector<int> no_copy;                     // experts without a copy
  std::vector<int> m_expert;                    // [m] multi-rank experts
  std::vector<int> pair_start;                  // [m + 1] into the pair arrays
  std::vector<int> pair_rank, pair_copy_begin, pair_copy_end, pair_slot;
  std::vector<int> pair_edge, pair_sink;        // edge ids in the component's graph
  std::vector<int> m_comp, m_local;             // [m] component, index in it
  std::vector<int> rank_comp;                   // [R] component, -1: a lone rank

  // One component: experts (m indices) and ranks; flow nodes: source 0,
  // experts 1..x, ranks x+1..x+y, sink x+y+1. Edge order fixes the result.
  struct Comp {
    std::vector<int> experts, ranks;
    std::vector<int> src_edge, sink_edge;
    detail::MaxFlow flow;
    int source = 0, sink = 0;
    std::vector<int> fill_order;  // experts (local indices) by number of ranks, then id
    std::vector<int> prev_cut;  // ranks of the last critical set (warm start)
    bool has_prev = false;
  };
  std::vector<Comp> comps;

  // Per solve.
  std::vector<int64_t> base;         // [R] base_load + tokens of one-rank experts
  std::vector<int64_t> m_count;      // [m]
  std::vector<int64_t> pair_local;   // [pairs] own-rank tokens of the pair's expert
  std::vector<int64_t> pair_node;    // [pairs] own-node tokens
  std::vector<int64_t> slot_rank_buf, slot_node_buf;
  std::vector<char> in_set;          // [R]
  std::vector<char> need;            // [components]
  LpStats* stats = nullptr;          // the solver's counters
  uint64_t last_used = 0;

  bool matches(const Placement& p) const {
    return p.num_ranks == num_ranks && p.num_logical == num_logical && p.slots_per_rank == slots_per_rank &&
           p.phy2log == cached_phy2log;
  }

  void prepare(const Placement& p);
  void build_components();
  void load_counts(const LpInput& in);
  void set_capacities(Comp& c, int64_t supply_scale, int64_t level_p, int64_t level_q);
  int64_t fill_greedy(Comp& c);
  void fill_local(Comp& c, int rpn);
  int64_t total_flow(const Comp& c) const;
  void cut_density(Comp& c, int64_t* p, int64_t* q);
  void set_density(const Comp& c, const std::vector<int>& ranks, int64_t* p, int64_t* q);
  void solve_comp(Comp& c, const LpInput& in, int64_t min_level, bool local, int64_t* opt_p, int64_t* opt_q);
};

// Classifies the experts and builds the component graphs, once per placement:
// the graphs do not depend on the counts (an expert with no tokens gets supply 0).
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
  pair_slot.clear();
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
      pair_slot.push_back(cp[k]);
    }
    if (pair_rank.size() - first_pair == 1) {
      single_expert.push_back(e);
      single_rank.push_back(pair_rank.back());
      pair_rank.pop_back();
      pair_copy_begin.pop_back();
      pair_copy_end.pop_back();
      pair_slot.pop_back();
      continue;
    }
    m_expert.push_back(e);
    pair_start.push_back(static_cast<int>(pair_rank.size()));
  }
  build_components();
}

// Union-find over ranks joined by multi experts; components are numbered by
// their lowest rank, experts and ranks inside in increasing order.
void LpSolver::Impl::build_components() {
  const int m = static_cast<int>(m_expert.size());
  std::vector<int> parent(num_ranks);
  std::iota(parent.begin(), parent.end(), 0);
  auto find = [&](int x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  };
  for (int i = 0; i < m; ++i)
    for (int k = pair_start[i] + 1; k < pair_start[i + 1]; ++k) {
      const int a = find(pair_rank[pair_start[i]]), b = find(pair_rank[k]);
      if (a != b) parent[std::max(a, b)] = std::min(a, b);
    }
  rank_comp.assign(num_ranks, -1);
  std::vector<char> touched(num_ranks, 0);
  for (int r : pair_rank) touched[r] = 1;
  std::vector<int> root_comp(num_ranks, -1);
  comps.clear();
  for (int r = 0; r < num_ranks; ++r) {
    if (!touched[r]) continue;
    const int root = find(r);
    if (root_comp[root] < 0) {
      root_comp[root] = static_cast<int>(comps.size());
      comps.emplace_back();
    }
    rank_comp[r] = root_comp[root];
    comps[rank_comp[r]].ranks.push_back(r);
  }
  m_comp.resize(m);
  m_local.resize(m);
  for (int i = 0; i < m; ++i) {
    Comp& c = comps[rank_comp[pair_rank[pair_start[i]]]];
    m_comp[i] = rank_comp[pair_rank[pair_start[i]]];
    m_local[i] = static_cast<int>(c.experts.size());
    c.experts.push_back(i);
  }
  std::vector<int> rank_local(num_ranks, -1);
  pair_edge.assign(pair_rank.size(), -1);
  pair_sink.assign(pair_rank.size(), -1);
  for (Comp& c : comps) {
    const int x = static_cast<int>(c.experts.size()), y = static_cast<int>(c.ranks.size());
    for (int j = 0; j < y; ++j) rank_local[c.ranks[j]] = j;
    c.source = 0;
    c.sink = x + y + 1;
    c.flow.reset(c.sink + 1);
    c.src_edge.resize(x);
    for (int i = 0; i < x; ++i) c.src_edge[i] = c.flow.add_edge(c.source, 1 + i);
    for (int i = 0; i < x; ++i) {
      const int mi = c.experts[i];
      for (int k = pair_start[mi]; k < pair_start[mi + 1]; ++k)
        pair_edge[k] = c.flow.add_edge(1 + i, 1 + x + rank_local[pair_rank[k]]);
    }
    c.sink_edge.resize(y);
    for (int j = 0; j < y; ++j) c.sink_edge[j] = c.flow.add_edge(1 + x + j, c.sink);
    c.flow.finalize();
    c.fill_order.resize(x);
    std::iota(c.fill_order.begin(), c.fill_order.end(), 0);
    std::stable_sort(c.fill_order.begin(), c.fill_order.end(), [&](int a, int b) {
      const int mi = c.experts[a], mj = c.experts[b];
      return pair_start[mi + 1] - pair_start[mi] < pair_start[mj + 1] - pair_start[mj];
    });
    for (int mi : c.experts)
      for (int k = pair_start[mi]; k < pair_start[mi + 1]; ++k) pair_sink[k] = c.sink_edge[rank_local[pair_rank[k]]];
  }
}

// Fixed loads, flow supplies and the locality inputs of this step's counts.
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
  const int64_t* sr = in.slot_rank_counts;
  const int64_t* sn = in.slot_node_counts;
  const bool node = in.ranks_per_node > 1 && in.ranks_per_node < num_ranks;
  if (!sr && in.rank_counts) {
    const size_t P = static_cast<size_t>(num_ranks) * slots_per_rank;
    slot_rank_buf.resize(P);
    slot_node_buf.resize(P);
    lp_slot_counts(*in.placement, in.rank_counts, in.ranks_per_node, slot_rank_buf.data(),
                   node ? slot_node_buf.data() : nullptr);
    sr = slot_rank_buf.data();
    sn = node ? slot_node_buf.data() : nullptr;
  }
  pair_local.assign(pair_rank.size(), 0);
  pair_node.assign(pair_rank.size(), 0);
  if (sr)
    for (size_t k = 0; k < pair_rank.size(); ++k) pair_local[k] = sr[pair_slot[k]];
  if (sr && sn && node)
    for (size_t k = 0; k < pair_rank.size(); ++k) pair_node[k] = sn[pair_slot[k]];
}

// Expert supply count*scale, rank capacity level_p - level_q * base (the level
// p/q scaled by q so that every capacity is an exact integer).
void LpSolver::Impl::set_capacities(Comp& c, int64_t supply_scale, int64_t level_p, int64_t level_q) {
  for (size_t i = 0; i < c.experts.size(); ++i) {
    const int mi = c.experts[i];
    c.flow.set_capacity(c.src_edge[i], m_count[mi] * supply_scale);
    for (int k = pair_start[mi]; k < pair_start[mi + 1]; ++k) c.flow.set_capacity(pair_edge[k], detail::MaxFlow::kInf);
  }
  for (size_t j = 0; j < c.ranks.size(); ++j) c.flow.set_capacity(c.sink_edge[j], level_p - level_q * base[c.ranks[j]]);
}

// Pushes amount along source -> expert -> pair's rank -> sink.
static void push_path(detail::MaxFlow& f, int src_id, int pair_id, int sink_id, int64_t amount) {
  f.push(src_id, amount);
  f.push(pair_id, amount);
  f.push(sink_id, amount);
}

// A starting flow (fewer augmenting paths afterwards): the least flexible
// experts first (fewest ranks; then id), each spreading its remaining supply
// over its ranks in proportion to their remaining room (the integer
// remainder then in pair order), so that no rank is filled up by one expert.
int64_t LpSolver::Impl::fill_greedy(Comp& c) {
  int64_t total = 0;
  for (int i : c.fill_order) {
    const int mi = c.experts[i];
    const int src = c.src_edge[i];
    int64_t supply = c.flow.residual(src);
    if (supply > 0) {
      int64_t room = 0;
      for (int k = pair_start[mi]; k < pair_start[mi + 1]; ++k) room += c.flow.residual(pair_sink[k]);
      if (room > supply) {
        const int64_t want = supply;
        for (int k = pair_start[mi]; k < pair_start[mi + 1] && supply > 0; ++k) {
          const int64_t r = c.flow.residual(pair_sink[k]);
          const int64_t amt = std::min(supply, static_cast<int64_t>(static_cast<__int128>(want) * r / room));
          if (amt > 0) push_path(c.flow, src, pair_edge[k], pair_sink[k], amt), supply -= amt;
        }
      }
      for (int k = pair_start[mi]; k < pair_start[mi + 1] && supply > 0; ++k) {  // remainder, or all room
        const int64_t amt = std::min(supply, c.flow.residual(pair_sink[k]));
        if (amt > 0) push_path(c.flow, src, pair_edge[k], pair_sink[k], amt), supply -= amt;
      }
    }
    total += c.flow.flow(src);
  }
  return total;
}

// Locality seed: a copy first takes its own rank's tokens, then tokens of its
// node that no copy on that node took yet (experts in id order, ranks in order;
// a node's pairs are contiguous because pairs follow slot order).
void LpSolver::Impl::fill_local(Comp& c, int rpn) {
  for (size_t i = 0; i < c.experts.size(); ++i) {
    const int mi = c.experts[i];
    const int src = c.src_edge[i];
    for (int k = pair_start[mi]; k < pair_start[mi + 1]; ++k) {
      const int64_t amt = std::min({pair_local[k], c.flow.residual(src), c.flow.residual(pair_sink[k])});
      if (amt > 0) push_path(c.flow, src, pair_edge[k], pair_sink[k], amt);
    }
  }
  if (rpn <= 1 || rpn >= num_ranks) return;  // one node: the greedy fill covers it
  for (size_t i = 0; i < c.experts.size(); ++i) {
    const int mi = c.experts[i];
    const int src = c.src_edge[i];
    for (int k0 = pair_start[mi]; k0 < pair_start[mi + 1];) {
      const int node = pair_rank[k0] / rpn;
      int k1 = k0;
      int64_t avail = pair_node[k0];
      while (k1 < pair_start[mi + 1] && pair_rank[k1] / rpn == node) avail -= c.flow.flow(pair_edge[k1++]);
      for (int k = k0; k < k1 && avail > 0; ++k) {
        const int64_t amt = std::min({avail, c.flow.residual(src), c.flow.residual(pair_sink[k])});
        if (amt > 0) push_path(c.flow, src, pair_edge[k], pair_sink[k], amt);
        avail -= std::max<int64_t>(amt, 0);
      }
      k0 = k1;
    }
  }
}

int64_t LpSolver::Impl::total_flow(const Comp& c) const {
  int64_t f = 0;
  for (int id : c.src_edge) f += c.flow.flow(id);
  return f;
}

// Density (base(U) + tokens of the component's experts confined to U) / |U|.
void LpSolver::Impl::set_density(const Comp& c, const std::vector<int>& ranks, int64_t* p, int64_t* q) {
  int64_t num = 0;
  for (int r : ranks) {
    in_set[r] = 1;
    num += base[r];
  }
  for (int mi : c.experts) {
    bool inside = true;
    for (int k = pair_start[mi]; k < pair_start[mi + 1] && inside; ++k) inside = in_set[pair_rank[k]];
    if (inside) num += m_count[mi];
  }
  for (int r : ranks) in_set[r] = 0;
  *p = num;
  *q = static_cast<int64_t>(ranks.size());
}

// After a max-flow short of the demand: the ranks U on the source side of the
// minimum cut and the experts confined to U are denser than the tried level.
void LpSolver::Impl::cut_density(Comp& c, int64_t* p, int64_t* q) {
  const int x = static_cast<int>(c.experts.size());
  c.prev_cut.clear();
  for (size_t j = 0; j < c.ranks.size(); ++j)
    if (c.flow.source_side(static_cast<int>(1 + x + j))) c.prev_cut.push_back(c.ranks[j]);
  WIDEEP_ASSERT(!c.prev_cut.empty(), "LP: infeasible level without a cut");
  set_density(c, c.prev_cut, p, q);
}

// One component: its exact optimum *opt_p / *opt_q, and its integral flow at
// max(ceil(optimum), min_level), seeded with local tokens when `local`.
void LpSolver::Impl::solve_comp(Comp& c, const LpInput& in, int64_t min_level, bool local, int64_t* opt_p,
                                int64_t* opt_q) {
  // Start at the best of lower bounds that are densities of real rank sets
  // (never above the optimum): all the component's ranks, each rank alone, each
  // expert's ranks, and the previous solve's critical set (the warm start).
  int64_t p = 0, q = static_cast<int64_t>(c.ranks.size());
  int start_kind = 0, start_idx = 0;  // 0: all ranks, 1: rank, 2: an expert's ranks, 3: previous set
  for (int r : c.ranks) p += base[r];
  for (int mi : c.experts) p += m_count[mi];
  for (int r : c.ranks)
    if (less_frac(p, q, base[r], 1)) p = base[r], q = 1, start_kind = 1, start_idx = r;
  for (int mi : c.experts) {
    int64_t num = m_count[mi];
    for (int k = pair_start[mi]; k < pair_start[mi + 1]; ++k) num += base[pair_rank[k]];
    const int64_t den = pair_start[mi + 1] - pair_start[mi];
    if (less_frac(p, q, num, den)) p = num, q = den, start_kind = 2, start_idx = mi;
  }
  if (c.has_prev) {
    ++stats->warm_tried;
    int64_t wp = 0, wq = 1;
    set_density(c, c.prev_cut, &wp, &wq);
    if (!less_frac(wp, wq, p, q)) p = wp, q = wq, start_kind = 3;
  }
  int64_t demand = 0;
  for (int mi : c.experts) demand += m_count[mi];
  // Dinkelbach: each infeasible level yields a denser rank set; the first
  // feasible level is the maximum density, i.e. the exact optimum. An integral
  // level that is also the final level is tried directly with the final
  // (integral, local-first) flow, so that it needs no second solve.
  bool final_done = false;
  int steps = 0;
  for (;; ++steps) {
    // Without exact_opt only the integral level matters: try the final flow at
    // max(ceil(p/q), min_level) at once. Feasible: that is the level (the
    // optimum lies in [p/q, level]); infeasible: its cut is denser than it.
    const bool integral = !in.exact_opt || p % q == 0;
    const int64_t try_level = in.exact_opt ? p / q : std::max((p + q - 1) / q, min_level);
    const bool is_final = integral && std::max(try_level, min_level) == try_level;
    if (integral) {
      set_capacities(c, 1, try_level, 1);
      if (is_final && local) fill_local(c, in.ranks_per_node);
    } else {
      set_capacities(c, q, p, q);
    }
    const int64_t want = (integral ? 1 : q) * demand;
    if (fill_greedy(c) != want) c.flow.augment(c.source, c.sink);
    if (total_flow(c) == want) {
      final_done = is_final;
      if (start_kind == 3 && steps == 0) ++stats->warm_kept;
      break;
    }
    ++stats->dinkelbach_steps;
    int64_t np = 0, nq = 0;
    cut_density(c, &np, &nq);
    WIDEEP_ASSERT(less_frac(p, q, np, nq), "LP: Dinkelbach step did not raise the level");
    p = np;
    q = nq;
  }
  // The critical set for the next solve: the last cut met, or the start set.
  if (steps == 0 && start_kind != 3) {
    c.prev_cut.clear();
    if (start_kind == 0) c.prev_cut = c.ranks;
    if (start_kind == 1) c.prev_cut.push_back(start_idx);
    if (start_kind == 2)
      for (int k = pair_start[start_idx]; k < pair_start[start_idx + 1]; ++k) c.prev_cut.push_back(pair_rank[k]);
  }
  c.has_prev = true;
  *opt_p = p;
  *opt_q = q;
  if (!final_done) {
    // Integral flow at the component's level: exists because the fractional one does.
    const int64_t level = std::max((p + q - 1) / q, min_level);
    set_capacities(c, 1, level, 1);
    if (local) fill_local(c, in.ranks_per_node);
    if (fill_greedy(c) != demand) c.flow.augment(c.source, c.sink);
    WIDEEP_ASSERT(total_flow(c) == demand, "LP: integral flow short of the demand");
  }
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

LpSolver::LpSolver() = default;
LpSolver::~LpSolver() {
  for (Impl* i : impls_) delete i;
}
const LpStats& LpSolver::stats() const { return stats_; }
void LpSolver::clear_warm_start() {
  for (Impl* i : impls_)
    for (auto& c : i->comps) c.has_prev = false;
}

void LpSolver::solve(const LpInput& in, LpResult* out) {
  WIDEEP_ASSERT(in.placement && in.counts && out, "LpSolver::solve needs a placement, counts and a result");
  const Placement& pl = *in.placement;
  // The prepared state of this placement, or a new (or the least recently used) one.
  Impl* pick = nullptr;
  for (Impl* i : impls_)
    if (i->matches(pl)) pick = i;
  if (!pick && static_cast<int>(impls_.size()) < kCached) {
    impls_.push_back(new Impl);
    pick = impls_.back();
  }
  if (!pick)
    pick = *std::min_element(impls_.begin(), impls_.end(),
                             [](const Impl* a, const Impl* b) { return a->last_used < b->last_used; });
  Impl& s = *pick;
  s.last_used = ++tick_;
  s.stats = &stats_;
  s.prepare(pl);
  s.load_counts(in);
  ++stats_.solves;
  const int R = s.num_ranks;
  int64_t all = 0, max_base = 0;
  for (int r = 0; r < R; ++r) all += s.base[r], max_base = std::max(max_base, s.base[r]);
  for (int64_t c : s.m_count) all += c;
  // Scaled capacities reach q * total with q <= R: keep them far from overflow.
  if (all > (INT64_MAX / 8) / std::max(R, 1))
    throw UsageError("LP: token counts too large (total " + std::to_string(all) + ")");
  // The level every component is filled to at least (see lp.h): known to all ranks.
  const int64_t min_level = std::max((all + R - 1) / R, max_base);
  const bool local = in.slot_rank_counts || in.rank_counts;

  // Which components to solve.
  const int nc = static_cast<int>(s.comps.size());
  s.need.assign(nc, in.need_expert || in.need_rank >= 0 ? 0 : 1);
  if (in.need_rank >= 0 && in.need_rank < R && s.rank_comp[in.need_rank] >= 0) s.need[s.rank_comp[in.need_rank]] = 1;
  if (in.need_expert)
    for (size_t i = 0; i < s.m_expert.size(); ++i)
      if (in.need_expert[s.m_expert[i]]) s.need[s.m_comp[i]] = 1;
  s.in_set.assign(R, 0);

  out->copy_tokens.assign(pl.num_slots(), 0);
  out->rank_loads.assign(R, 0);
  out->components = nc;
  out->solved = 0;
  out->complete = true;
  // Lone ranks (no multi expert): their fixed load is their optimum.
  int64_t best_p = 0, best_q = 1;
  for (int r = 0; r < R; ++r)
    if (s.rank_comp[r] < 0 && less_frac(best_p, best_q, s.base[r], 1)) best_p = s.base[r], best_q = 1;
  for (int ci = 0; ci < nc; ++ci) {
    Impl::Comp& c = s.comps[ci];
    if (!s.need[ci]) {
      out->complete = false;
      for (int mi : c.experts)
        for (int k = s.pair_start[mi]; k < s.pair_start[mi + 1]; ++k)
          for (int j = s.pair_copy_begin[k]; j < s.pair_copy_end[k]; ++j) out->copy_tokens[pl.copies(s.m_expert[mi])[j]] = -1;
      for (int r : c.ranks) out->rank_loads[r] = -1;
      continue;
    }
    int64_t p = 0, q = 1;
    s.solve_comp(c, in, min_level, local, &p, &q);
    ++out->solved;
    ++stats_.component_solves;
    if (less_frac(best_p, best_q, p, q)) best_p = p, best_q = q;
    for (int mi : c.experts)
      for (int k = s.pair_start[mi]; k < s.pair_start[mi + 1]; ++k)
        spread(pl, s.m_expert[mi], s.pair_copy_begin[k], s.pair_copy_end[k], c.flow.flow(s.pair_edge[k]),
               out->copy_tokens.data());
  }
  out->lp_opt = in.exact_opt ? static_cast<double>(best_p) / static_cast<double>(best_q) : -1;
  for (size_t i = 0; i < s.single_expert.size(); ++i) {
    const int e = s.single_expert[i];
    spread(pl, e, 0, pl.logcnt[e], in.counts[e], out->copy_tokens.data());
  }
  if (in.base_load)
    for (int r = 0; r < R; ++r)
      if (out->rank_loads[r] >= 0) out->rank_loads[r] = in.base_load[r];
  for (int r = 0, sl = 0; r < R; ++r)
    for (int j = 0; j < pl.slots_per_rank; ++j, ++sl)
      if (out->rank_loads[r] >= 0) out->rank_loads[r] += out->copy_tokens[sl];
  out->max_load = *std::max_element(out->rank_loads.begin(), out->rank_loads.end());
}

}  // namespace wideep
