// The greedy behind --eplb-max-moves: each layer's rank loads are kept up to
// date as moves are made, and a candidate move is scored from the few ranks
// it touches (the holders of the two experts it changes), not the whole layer.
#include "balance/eplb_move_cap.h"

#include <algorithm>
#include <string>

#include "common/check.h"

namespace wideep {
namespace {

// Scores within this of each other tie (the loads are sums of fractions).
constexpr double kTie = 1e-12;
// The longest chain of moves weighed as one (LayerState::enabling_chain).
constexpr int64_t kMaxChain = 4;

// One layer as the moves change it.
struct LayerState {
  int slots_per_rank = 0;
  const double* weight = nullptr;           // [E] loads of its experts
  std::vector<int> phy2log;                 // [P]
  std::vector<int> target;                  // [P]
  std::vector<int> cnt;                     // [E] copies
  std::vector<std::vector<int>> holders;    // [E] slots holding each expert
  std::vector<double> rank;                 // [R] load
  std::vector<int> by_load;                 // ranks, heaviest first
  double mean = 0, max = 0, sumsq = 0;

  int rank_of(int slot) const { return slot / slots_per_rank; }

  void refresh() {  // max, sum of squares and order from `rank`
    const int R = static_cast<int>(rank.size());
    by_load.resize(R);
    for (int r = 0; r < R; ++r) by_load[r] = r;
    std::stable_sort(by_load.begin(), by_load.end(), [&](int a, int b) { return rank[a] > rank[b]; });
    max = rank[by_load[0]];
    sumsq = 0;
    for (double v : rank) sumsq += v * v;
  }

  // The rank load changes of moving slot s to its target expert.
  void deltas(int s, std::vector<std::pair<int, double>>* d) const {
    d->clear();
    auto add = [d](int r, double v) {
      for (auto& p : *d)
        if (p.first == r) {
          p.second += v;
          return;
        }
      d->emplace_back(r, v);
    };
    const int a = phy2log[s], b = target[s];
    const double ca = cnt[a], cb = cnt[b];
    for (int t : holders[a]) add(rank_of(t), t == s ? -weight[a] / ca : weight[a] / (ca - 1) - weight[a] / ca);
    for (int t : holders[b]) add(rank_of(t), weight[b] / (cb + 1) - weight[b] / cb);
    add(rank_of(s), weight[b] / (cb + 1));
  }

  void relabel(int s, int b) {  // slot s holds b now (copies and holders; not the loads)
    const int a = phy2log[s];
    holders[a].erase(std::find(holders[a].begin(), holders[a].end(), s));
    holders[b].insert(std::upper_bound(holders[b].begin(), holders[b].end(), s), s);
    --cnt[a];
    ++cnt[b];
    phy2log[s] = b;
  }

  void apply(int s, const std::vector<std::pair<int, double>>& d) {
    for (const auto& p : d) rank[p.first] += p.second;
    relabel(s, target[s]);
    refresh();
  }

  // A move that would evict the only copy of its expert x can go after a
  // move that gives x another copy where the target wants one, which may in
  // turn need one before it: `chain` receives such moves, the first to make
  // first, ending with s. False when none exists within max_len moves.
  bool enabling_chain(int s, int64_t max_len, std::vector<int>* chain) const {
    chain->assign(1, s);
    int x = phy2log[s];
    while (cnt[x] < 2) {
      if (static_cast<int64_t>(chain->size()) >= max_len) return false;
      int u = -1;
      for (int t : target_holders[x])
        if (phy2log[t] != x && std::find(chain->begin(), chain->end(), t) == chain->end()) {
          u = t;
          break;
        }
      if (u < 0) return false;
      chain->insert(chain->begin(), u);
      x = phy2log[u];
    }
    return true;
  }

  std::vector<std::vector<int>> target_holders;  // [E] slots where the target puts each expert
};

struct Score {
  double gain = 0;     // balancedness
  double sq_drop = 0;  // share of the layer's sum of squared rank loads (scale-free across layers)
};

// Strictly better by the order of the header (ties: the earlier candidate stays).
bool better(const Score& x, const Score& y) {
  if (x.gain > y.gain + kTie) return true;
  if (x.gain < y.gain - kTie) return false;
  return x.sq_drop > y.sq_drop + kTie;
}

Score score(const LayerState& L, const std::vector<std::pair<int, double>>& d) {
  double max_touched = 0, sumsq = L.sumsq;
  for (const auto& p : d) {
    const double old_v = L.rank[p.first], new_v = old_v + p.second;
    max_touched = std::max(max_touched, new_v);
    sumsq += new_v * new_v - old_v * old_v;
  }
  // The heaviest rank the move leaves alone.
  double max_rest = 0;
  for (int r : L.by_load) {
    bool touched = false;
    for (const auto& p : d) touched = touched || p.first == r;
    if (!touched) {
      max_rest = L.rank[r];
      break;
    }
  }
  const double new_max = std::max(max_touched, max_rest);
  Score s;
  s.gain = (new_max > 0 ? L.mean / new_max : 1.0) - (L.max > 0 ? L.mean / L.max : 1.0);
  s.sq_drop = L.sumsq > 0 ? (L.sumsq - sumsq) / L.sumsq : 0.0;
  return s;
}

// A chain's gain, made tentatively on L and undone: per move made.
Score chain_score(LayerState& L, const std::vector<int>& chain, std::vector<std::pair<int, double>>* d) {
  const std::vector<double> rank = L.rank;
  const std::vector<int> by_load = L.by_load;
  const double max = L.max, sumsq = L.sumsq;
  std::vector<int> old(chain.size());
  for (size_t i = 0; i < chain.size(); ++i) {
    old[i] = L.phy2log[chain[i]];
    L.deltas(chain[i], d);
    L.apply(chain[i], *d);
  }
  Score s;
  s.gain = ((L.max > 0 ? L.mean / L.max : 1.0) - (max > 0 ? L.mean / max : 1.0)) / chain.size();
  s.sq_drop = sumsq > 0 ? (sumsq - L.sumsq) / sumsq / chain.size() : 0.0;
  for (size_t i = chain.size(); i-- > 0;) L.relabel(chain[i], old[i]);
  L.rank = rank;
  L.by_load = by_load;
  L.max = max;
  L.sumsq = sumsq;
  return s;
}

}  // namespace

int64_t slots_changed(const std::vector<Placement>& a, const std::vector<Placement>& b) {
  int64_t n = 0;
  for (size_t l = 0; l < a.size() && l < b.size(); ++l)
    for (size_t s = 0; s < a[l].phy2log.size() && s < b[l].phy2log.size(); ++s) n += a[l].phy2log[s] != b[l].phy2log[s];
  return n;
}

std::vector<Placement> cap_expert_moves(const std::vector<Placement>& current, const std::vector<Placement>& target,
                                        const std::vector<double>& loads, int64_t max_moves) {
  if (current.size() != target.size()) throw UsageError("cap_expert_moves: layer counts differ");
  for (size_t l = 0; l < current.size(); ++l)
    if (current[l].num_ranks != target[l].num_ranks || current[l].slots_per_rank != target[l].slots_per_rank ||
        current[l].num_logical != target[l].num_logical ||
        loads.size() < (l + 1) * static_cast<size_t>(current[l].num_logical))
      throw UsageError("cap_expert_moves: layer " + std::to_string(l) + ": shapes differ");
  if (max_moves <= 0 || slots_changed(current, target) <= max_moves) return target;

  std::vector<LayerState> layers(current.size());
  std::vector<std::pair<int, int>> todo;  // (layer, slot) whose target differs, in order
  for (size_t l = 0; l < current.size(); ++l) {
    const Placement& p = current[l];
    LayerState& L = layers[l];
    const int E = p.num_logical;
    L.slots_per_rank = p.slots_per_rank;
    L.weight = &loads[l * static_cast<size_t>(E)];
    L.phy2log = p.phy2log;
    L.target = target[l].phy2log;
    L.cnt.assign(E, 0);
    L.holders.assign(E, {});
    L.rank.assign(p.num_ranks, 0.0);
    double total = 0;
    for (int e = 0; e < E; ++e) total += L.weight[e];
    L.mean = total / p.num_ranks;
    L.target_holders.assign(E, {});
    for (int s = 0; s < p.num_slots(); ++s) {
      ++L.cnt[L.phy2log[s]];
      L.holders[L.phy2log[s]].push_back(s);
      L.target_holders[L.target[s]].push_back(s);
    }
    for (int s = 0; s < p.num_slots(); ++s) {
      const int e = L.phy2log[s];
      L.rank[L.rank_of(s)] += L.weight[e] / L.cnt[e];
      if (L.phy2log[s] != L.target[s]) todo.emplace_back(static_cast<int>(l), s);
    }
    L.refresh();
  }

  std::vector<std::pair<int, double>> d;
  std::vector<int> chain, best_chain;
  int64_t made = 0;
  while (made < max_moves) {
    int best_layer = -1;
    Score best_score;
    for (const auto& [l, s] : todo) {
      LayerState& L = layers[l];
      Score sc;
      if (L.cnt[L.phy2log[s]] >= 2) {
        L.deltas(s, &d);
        sc = score(L, d);
        chain.assign(1, s);
      } else if (L.enabling_chain(s, std::min<int64_t>(kMaxChain, max_moves - made), &chain)) {
        sc = chain_score(L, chain, &d);
      } else {
        continue;  // would leave its expert without a copy
      }
      if (best_layer < 0 || better(sc, best_score)) {
        best_layer = l;
        best_score = sc;
        best_chain = chain;
      }
    }
    // Only moves that gain: on balancedness, or (none lost) on evenness.
    if (best_layer < 0 || !better(best_score, Score{})) break;
    LayerState& L = layers[best_layer];
    for (int s : best_chain) {
      L.deltas(s, &d);
      L.apply(s, d);
    }
    made += static_cast<int64_t>(best_chain.size());
    todo.erase(std::remove_if(todo.begin(), todo.end(),
                              [&](const std::pair<int, int>& t) {
                                return t.first == best_layer &&
                                       std::find(best_chain.begin(), best_chain.end(), t.second) != best_chain.end();
                              }),
               todo.end());
  }

  std::vector<Placement> out;
  out.reserve(current.size());
  for (size_t l = 0; l < current.size(); ++l)
    out.push_back(Placement::from_phy2log(current[l].num_ranks, current[l].num_logical, layers[l].phy2log,
                                          "capped re-plan"));
  return out;
}

}  // namespace wideep
