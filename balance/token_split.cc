// Exact, deterministic split of each expert's tokens among its copies: every
// rank replays the same fill (own rank, then own node, then global order) from
// the scanned counts and the per-slot counts, keeping only the pieces that cover
// its own tokens. O(copies) per expert of this rank, plus O(pairs).
#include "balance/token_split.h"

#include <algorithm>
#include <vector>

#include "balance/lp.h"
#include "common/check.h"

namespace wideep {
namespace {

struct Piece {
  int64_t begin, end;  // this rank's local token indices of one expert
  int slot;
};

// Per-thread work arrays: no allocation once a shape has been seen.
struct SplitWork {
  // Rank and node of every copy (log2phy layout), cached per placement: the
  // fill walks copies many times and a division per visit would dominate.
  std::vector<int> cached_p2l;
  int cached_spr = 0, cached_rpn = 0, cached_e = 0;
  std::vector<int32_t> copy_rank, copy_node;  // [E * max_copies]
  std::vector<int> used_rank, used_node;  // ranks (and nodes) holding copies of the current expert
  std::vector<int64_t> used_amount;   // their own tokens the copies took (step 1)
  std::vector<int64_t> rem;   // [copies] quota left
  std::vector<Piece> pieces;
  std::vector<int64_t> next;                        // [E] first entry of flat per expert
  std::vector<int32_t> step;                        // [E] 1: one entry per token, 0: one entry
  std::vector<int32_t> next32;                      // [E] cursor into flat in the hot loop
  std::vector<int32_t> flat;                        // slots of local tokens, by expert
  int32_t& flat_at(int64_t i) {
    if (static_cast<int64_t>(flat.size()) <= i) flat.resize(std::max<int64_t>(i + 1, 2 * flat.size()));
    return flat[i];
  }
  std::vector<int64_t> before, node_before, slot_rank, slot_node;  // the matrix form's SplitCounts
};

struct ExpertSplit {
  const Placement& p;
  const SplitCounts& c;
  int rank, rpn;
  bool node_step;
  SplitWork& w;

  // Copies [k0, k1) fill a token sequence in order; this rank's tokens occupy
  // [offset, offset + len) of it, starting at local index `local`.
  void map_window(const int* cp, int k0, int k1, int64_t offset, int64_t len, int64_t local) {
    int64_t cum = 0;
    for (int k = k0; k < k1 && len > 0; ++k) {
      const int64_t lo = std::max(cum, offset), hi = std::min(cum + w.rem[k], offset + len);
      if (hi > lo) w.pieces.push_back({local + lo - offset, local + hi - offset, cp[k]});
      cum += w.rem[k];
    }
  }
  // Consumes n tokens of the sequence from the quotas of copies [k0, k1) in order.
  void take_quota(int k0, int k1, int64_t n) {
    for (int k = k0; k < k1 && n > 0; ++k) {
      const int64_t t = std::min(n, w.rem[k]);
      w.rem[k] -= t;
      n -= t;
    }
  }
  void run(int e);
};

// Per expert: (1) each copy takes its own rank's tokens (copies of one rank are
// contiguous in slot order and share that rank's count); (2) a node's copies
// take the node's remaining tokens in rank order; (3) the rest, in global order
// (rank, then local index), fill the remaining quotas in slot order. This rank
// needs, of the others, only each copy's own-rank and own-node counts and the
// tokens of lower ranks (before, node_before).
void ExpertSplit::run(int e) {
  const int n = p.logcnt[e];
  const int* cp = p.copies(e);
  const int32_t* crank = &w.copy_rank[static_cast<size_t>(e) * p.max_copies];
  const int32_t* cnode = &w.copy_node[static_cast<size_t>(e) * p.max_copies];
  const int64_t mine = c.mine[e];
  const int my_node = node_step ? rank / rpn : 0;
  // 1. Own rank. used1 of every copy rank, in rank order.
  w.used_rank.clear();
  w.used_node.clear();
  w.used_amount.clear();
  int64_t used1_self = 0, lower_used1 = 0;
  for (int k = 0; k < n;) {
    const int r = crank[k];
    const int64_t cnt = c.slot_rank[cp[k]];
    int64_t used = 0;
    for (; k < n && crank[k] == r; ++k) {
      const int64_t t = std::min(w.rem[k], cnt - used);
      if (t <= 0) continue;
      if (r == rank) w.pieces.push_back({used, used + t, cp[k]});
      used += t;
      w.rem[k] -= t;
    }
    w.used_rank.push_back(r);
    w.used_node.push_back(cnode[k - 1]);
    w.used_amount.push_back(used);
    if (r < rank) lower_used1 += used;
    if (r == rank) used1_self = used;
  }
  // 2. Own node (copies of a node are contiguous in slot order).
  int64_t lower_used2 = 0, used2_self = 0;
  if (node_step) {
    size_t u = 0;  // cursor into used_rank (same order as the copies)
    for (int k0 = 0; k0 < n;) {
      const int node = cnode[k0];
      int k1 = k0;
      int64_t quota = 0;
      while (k1 < n && cnode[k1] == node) quota += w.rem[k1++];
      int64_t node_used1 = 0, node_lower_used1 = 0;
      for (; u < w.used_rank.size() && w.used_node[u] == node; ++u) {
        node_used1 += w.used_amount[u];
        if (w.used_rank[u] < rank) node_lower_used1 += w.used_amount[u];
      }
      const int64_t taken = std::min(c.slot_node[cp[k0]] - node_used1, quota);
      if (node < my_node) {
        lower_used2 += taken;
      } else if (node == my_node) {
        // This rank's remaining tokens sit after the lower node ranks' remaining ones.
        const int64_t offset = c.node_before[e] - node_lower_used1, len = mine - used1_self;
        map_window(cp, k0, k1, offset, len, used1_self);
        used2_self = std::max<int64_t>(0, std::min(quota - offset, len));
        lower_used2 += std::min(offset, quota);
      }
      take_quota(k0, k1, taken);
      k0 = k1;
    }
  }
  // 3. Global order: tokens of lower ranks not placed yet come first.
  const int64_t offset = c.before[e] - lower_used1 - lower_used2;
  const int64_t len = mine - used1_self - used2_self;
  const size_t first = w.pieces.size();
  map_window(cp, 0, n, offset, len, used1_self + used2_self);
  int64_t got = 0;
  for (size_t i = first; i < w.pieces.size(); ++i) got += w.pieces[i].end - w.pieces[i].begin;
  WIDEEP_ASSERT(got == len, "split_tokens: copy quotas do not cover the expert's tokens");
}

}  // namespace

void split_tokens(const Placement& p, const int64_t* rank_counts, const int64_t* copy_tokens,
                  int rank, const int32_t* topk_ids, int num_tokens, int topk,
                  int32_t* slot_of_pair) {
  split_tokens(p, rank_counts, copy_tokens, rank, topk_ids, num_tokens, topk, 0, slot_of_pair);
}

void split_tokens(const Placement& p, const int64_t* rank_counts, const int64_t* copy_tokens,
                  int rank, const int32_t* topk_ids, int num_tokens, int topk,
                  int ranks_per_node, int32_t* slot_of_pair) {
  thread_local SplitWork m;
  const int E = p.num_logical, R = p.num_ranks;
  const bool node = ranks_per_node > 1 && ranks_per_node < R;
  m.before.assign(E, 0);
  m.node_before.assign(E, 0);
  const int node_lo = node ? rank / ranks_per_node * ranks_per_node : 0;
  for (int r = 0; r < rank; ++r) {
    const int64_t* row = rank_counts + static_cast<size_t>(r) * E;
    for (int e = 0; e < E; ++e) m.before[e] += row[e];
    if (node && r >= node_lo)
      for (int e = 0; e < E; ++e) m.node_before[e] += row[e];
  }
  m.slot_rank.resize(p.num_slots());
  m.slot_node.resize(p.num_slots());
  lp_slot_counts(p, rank_counts, ranks_per_node, m.slot_rank.data(), m.slot_node.data());
  SplitCounts c;
  c.mine = rank_counts + static_cast<size_t>(rank) * E;
  c.before = m.before.data();
  c.node_before = m.node_before.data();
  c.slot_rank = m.slot_rank.data();
  c.slot_node = m.slot_node.data();
  split_tokens(p, c, copy_tokens, rank, topk_ids, num_tokens, topk, ranks_per_node, slot_of_pair);
}

// The per-expert table of split_tokens (its pass over the pairs is split_tokens below).
static int64_t build_table(const Placement& p, const SplitCounts& c, const int64_t* copy_tokens, int rank,
                           int ranks_per_node, SplitWork& w) {
  const int E = p.num_logical, R = p.num_ranks;
  const int64_t* mine = c.mine;
  w.rem.resize(std::max(p.max_copies, 1));
  w.pieces.clear();
  w.next.resize(E);
  w.step.resize(E);
  w.next32.resize(E);
  const bool node_step = ranks_per_node > 1 && ranks_per_node < R;
  WIDEEP_ASSERT(!node_step || (c.node_before && c.slot_node), "split_tokens: the node step needs node counts");
  if (w.cached_spr != p.slots_per_rank || w.cached_rpn != ranks_per_node || w.cached_e != E ||
      w.cached_p2l != p.phy2log) {
    w.cached_e = E;
    w.cached_p2l = p.phy2log;
    w.cached_spr = p.slots_per_rank;
    w.cached_rpn = ranks_per_node;
    w.copy_rank.assign(p.log2phy.size(), -1);
    w.copy_node.assign(p.log2phy.size(), 0);
    for (size_t i = 0; i < p.log2phy.size(); ++i) {
      if (p.log2phy[i] < 0) continue;
      w.copy_rank[i] = p.rank_of_slot(p.log2phy[i]);
      w.copy_node[i] = node_step ? w.copy_rank[i] / ranks_per_node : 0;
    }
  }
  ExpertSplit split{p, c, rank, ranks_per_node, node_step, w};
  // Each expert gets a run of `flat` holding the slot of each of its tokens in
  // local order, or a single entry (step 0) when all its tokens go to one slot,
  // so that the pass over the pairs is a lookup with no data-dependent branch.
  int64_t total = 0;
  for (int e = 0; e < E; ++e) {
    w.next[e] = total;
    w.step[e] = 0;
    if (mine[e] == 0) continue;
    WIDEEP_ASSERT(p.logcnt[e] > 0, "split_tokens: a token picks an expert with no copy");
    if (p.logcnt[e] == 1) {
      w.flat_at(total++) = p.copies(e)[0];
      continue;
    }
    w.pieces.clear();
    const int* cp = p.copies(e);
    for (int k = 0; k < p.logcnt[e]; ++k) w.rem[k] = copy_tokens[cp[k]];
    split.run(e);
    if (w.pieces.size() == 1) {
      w.flat_at(total++) = w.pieces[0].slot;
      continue;
    }
    for (const Piece& pc : w.pieces)
      for (int64_t j = pc.begin; j < pc.end; ++j) w.flat_at(total + j) = pc.slot;
    w.step[e] = 1;
    total += mine[e];
  }
  return total;
}

void split_tokens(const Placement& p, const SplitCounts& c, const int64_t* copy_tokens, int rank,
                  const int32_t* topk_ids, int num_tokens, int topk, int ranks_per_node, int32_t* slot_of_pair) {
  thread_local SplitWork w;
  const int E = p.num_logical;
  const int64_t* mine = c.mine;
  const int64_t pairs = static_cast<int64_t>(num_tokens) * topk;
  const int64_t total = build_table(p, c, copy_tokens, rank, ranks_per_node, w);
  // Padding keeps a rank_counts/topk_ids mismatch in bounds; it is checked after.
  if (static_cast<int64_t>(w.flat.size()) < total + pairs) w.flat.resize(total + pairs);
  for (int e = 0; e < E; ++e) w.next32[e] = static_cast<int32_t>(w.next[e]);
  // Not aliased (the output is the caller's): lets the compiler keep the loop tight.
  const int32_t* __restrict__ flat = w.flat.data();
  const int32_t* __restrict__ step = w.step.data();
  int32_t* __restrict__ next = w.next32.data();
  int32_t* __restrict__ out = slot_of_pair;
  const int32_t* __restrict__ ids = topk_ids;
  // A vectorised scan first, so that the usual case runs without a bounds branch.
  uint32_t largest = 0;  // as unsigned, a negative id is huge
  for (int64_t i = 0; i < pairs; ++i) largest = std::max(largest, static_cast<uint32_t>(topk_ids[i]));
  if (largest < static_cast<uint32_t>(E)) {
    for (int64_t i = 0; i < pairs; ++i) {
      const int e = ids[i];
      const int32_t at = next[e];
      out[i] = flat[at];
      next[e] = at + step[e];
    }
  } else {
    for (int64_t i = 0; i < pairs; ++i) {
      const int e = topk_ids[i];
      if (static_cast<unsigned>(e) >= static_cast<unsigned>(E)) {
        slot_of_pair[i] = -1;  // no expert (dropped pair)
        continue;
      }
      const int32_t at = next[e];
      slot_of_pair[i] = flat[at];
      next[e] = at + step[e];
    }
  }
  for (int e = 0; e < E; ++e)
    WIDEEP_ASSERT(step[e] == 0 || next[e] == w.next[e] + mine[e],
                  "split_tokens: rank_counts disagree with topk_ids");
}

}  // namespace wideep

namespace wideep {

void split_table(const Placement& p, const SplitCounts& c, const int64_t* copy_tokens, int rank, int ranks_per_node,
                 SplitTable* t) {
  thread_local SplitWork w;
  const int64_t total = build_table(p, c, copy_tokens, rank, ranks_per_node, w);
  const int E = p.num_logical;
  t->next.assign(w.next.begin(), w.next.begin() + E);
  t->step.assign(w.step.begin(), w.step.begin() + E);
  t->flat.assign(w.flat.begin(), w.flat.begin() + total);
}

}  // namespace wideep
