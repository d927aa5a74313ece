// Exact, deterministic split of each expert's tokens among its copies: every
// rank replays the same fill (own rank, then own node, then global order) over
// the gathered counts and keeps only the pieces that cover its own tokens.
#include "balance/token_split.h"

#include <algorithm>
#include <vector>

#include "common/check.h"

namespace wideep {
namespace {

struct Piece {
  int64_t begin, end;  // this rank's local token indices of one expert
  int slot;
};

// Per-thread work arrays: no allocation once a shape has been seen.
struct SplitWork {
  std::vector<int64_t> used;  // [R] tokens of a rank already placed (current expert)
  std::vector<int> touched;   // ranks whose `used` must be reset
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
  std::vector<int64_t> before;                      // [E] tokens of ranks below this one
};

struct ExpertSplit {
  const Placement& p;
  const int64_t* rank_counts;
  int rank, rpn, num_ranks, num_logical;
  SplitWork& w;

  int64_t count(int r, int e) const { return rank_counts[static_cast<size_t>(r) * num_logical + e]; }
  int64_t left(int r, int e) const { return count(r, e) - w.used[r]; }
  void use(int r, int64_t n) {
    if (w.used[r] == 0 && n > 0) w.touched.push_back(r);
    w.used[r] += n;
  }

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

  void own_rank(int e, const int* cp, int n);
  void own_node(int e, const int* cp, int n);
  void global(int e, const int* cp, int n);
  void run(int e);
};

void ExpertSplit::own_rank(int e, const int* cp, int n) {
  for (int k = 0; k < n; ++k) {
    const int r = p.rank_of_slot(cp[k]);
    const int64_t t = std::min(w.rem[k], left(r, e));
    if (t <= 0) continue;
    if (r == rank) w.pieces.push_back({w.used[r], w.used[r] + t, cp[k]});
    use(r, t);
    w.rem[k] -= t;
  }
}

// Copies are in slot order, so the copies of one node are contiguous.
void ExpertSplit::own_node(int e, const int* cp, int n) {
  for (int k0 = 0; k0 < n;) {
    const int node = p.rank_of_slot(cp[k0]) / rpn;
    int k1 = k0;
    int64_t quota = 0;
    while (k1 < n && p.rank_of_slot(cp[k1]) / rpn == node) quota += w.rem[k1++];
    const int lo = node * rpn, hi = std::min(num_ranks, lo + rpn);
    int64_t offset = 0;
    for (int r = lo; r < hi && offset < quota; ++r) {
      const int64_t len = left(r, e), take = std::min(len, quota - offset);
      if (r == rank) map_window(cp, k0, k1, offset, len, w.used[r]);
      use(r, take);
      offset += len;
    }
    take_quota(k0, k1, std::min(offset, quota));
    k0 = k1;
  }
}

void ExpertSplit::global(int e, const int* cp, int n) {
  // Tokens of lower ranks not placed yet: all of them minus what steps 1-2 took.
  int64_t offset = w.before[e];
  for (int r : w.touched)
    if (r < rank) offset -= w.used[r];
  const int64_t len = left(rank, e);
  const size_t before = w.pieces.size();
  map_window(cp, 0, n, offset, len, w.used[rank]);
  int64_t got = 0;
  for (size_t i = before; i < w.pieces.size(); ++i) got += w.pieces[i].end - w.pieces[i].begin;
  WIDEEP_ASSERT(got == len, "split_tokens: copy quotas do not cover the expert's tokens");
}

void ExpertSplit::run(int e) {
  const int n = p.logcnt[e];
  const int* cp = p.copies(e);
  own_rank(e, cp, n);
  if (rpn > 0 && rpn < num_ranks) own_node(e, cp, n);
  global(e, cp, n);
  for (int r : w.touched) w.used[r] = 0;
  w.touched.clear();
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
  thread_local SplitWork w;
  const int E = p.num_logical, R = p.num_ranks;
  const int64_t* mine = rank_counts + static_cast<size_t>(rank) * E;
  w.used.assign(R, 0);
  w.rem.resize(std::max(p.max_copies, 1));
  w.pieces.clear();
  w.next.resize(E);
  w.step.resize(E);
  w.next32.resize(E);
  // Column sums over lower ranks, row by row (contiguous), only when some expert
  // of this rank has several copies and so needs the global step.
  bool any_multi = false;
  for (int e = 0; e < E && !any_multi; ++e) any_multi = mine[e] > 0 && p.logcnt[e] > 1;
  if (any_multi) {
    w.before.assign(E, 0);
    for (int r = 0; r < rank; ++r) {
      const int64_t* row = rank_counts + static_cast<size_t>(r) * E;
      for (int e = 0; e < E; ++e) w.before[e] += row[e];
    }
  }
  ExpertSplit split{p, rank_counts, rank, ranks_per_node, R, E, w};
  // Each expert gets a run of `flat` holding the slot of each of its tokens in
  // local order, or a single entry (step 0) when all its tokens go to one slot,
  // so that the pass over the pairs is a lookup with no data-dependent branch.
  const int64_t pairs = static_cast<int64_t>(num_tokens) * topk;
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
