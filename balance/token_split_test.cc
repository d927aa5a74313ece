// Tests of the exact token split: all ranks of random instances are simulated;
// every slot must receive exactly its LP quota, every pair a copy of its own
// expert, and the own-rank (and own-node) tokens must be used first.
#include "balance/token_split.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "balance/lp.h"

namespace wideep {
namespace {

struct World {
  Placement p;
  int T = 0, K = 0;
  std::vector<std::vector<int32_t>> topk;  // [R][T*K]
  std::vector<int64_t> rank_counts, counts;
};

World random_world(std::mt19937_64& rng) {
  World w;
  const int R = 2 + rng() % 10, S = 1 + rng() % 4;
  const int E = std::max(1, R * S - static_cast<int>(rng() % (R * S / 2 + 1)));
  std::vector<int> p2l(R * S);
  for (int s = 0; s < R * S; ++s) p2l[s] = s < E ? s : static_cast<int>(rng() % E);
  std::shuffle(p2l.begin(), p2l.end(), rng);
  w.p = lp_placement(R, E, p2l, "test");
  w.T = 1 + rng() % 40;
  w.K = 1 + rng() % std::min(E, 4);
  w.topk.assign(R, std::vector<int32_t>(w.T * w.K));
  w.rank_counts.assign(R * E, 0);
  w.counts.assign(E, 0);
  const int hot = rng() % E;
  for (int r = 0; r < R; ++r)
    for (int i = 0; i < w.T * w.K; ++i) {
      const int e = rng() % 3 == 0 ? hot : static_cast<int>(rng() % E);
      w.topk[r][i] = e;
      ++w.rank_counts[r * E + e];
      ++w.counts[e];
    }
  return w;
}

void check_world(const World& w, const LpResult& res, int rpn) {
  const Placement& p = w.p;
  const int R = p.num_ranks, E = p.num_logical;
  std::vector<int64_t> got(p.num_slots(), 0);
  std::vector<int64_t> local(R * E, 0), node_local(R * E, 0);  // by (source rank, expert)
  std::vector<int32_t> slot(w.T * w.K);
  for (int r = 0; r < R; ++r) {
    split_tokens(p, w.rank_counts.data(), res.copy_tokens.data(), r, w.topk[r].data(), w.T, w.K, rpn,
                 slot.data());
    for (int i = 0; i < w.T * w.K; ++i) {
      ASSERT_GE(slot[i], 0);
      ASSERT_EQ(p.phy2log[slot[i]], w.topk[r][i]) << "rank " << r << " pair " << i;
      ++got[slot[i]];
      const int dst = p.rank_of_slot(slot[i]);
      local[r * E + w.topk[r][i]] += dst == r;
      node_local[r * E + w.topk[r][i]] += rpn > 0 && dst / rpn == r / rpn;
    }
  }
  ASSERT_EQ(got, res.copy_tokens);
  // Own rank first: a rank keeps min(its tokens, quota of its copies) of each expert.
  for (int r = 0; r < R; ++r)
    for (int e = 0; e < E; ++e) {
      int64_t quota = 0;
      for (int k = 0; k < p.logcnt[e]; ++k)
        if (p.rank_of_slot(p.copies(e)[k]) == r) quota += res.copy_tokens[p.copies(e)[k]];
      ASSERT_EQ(local[r * E + e], std::min(quota, w.rank_counts[r * E + e])) << r << " " << e;
    }
  if (rpn <= 0) return;
  // Own node next: a node keeps min(its tokens, quota of its copies).
  for (int n = 0; n * rpn < R; ++n)
    for (int e = 0; e < E; ++e) {
      int64_t quota = 0, tokens = 0, kept = 0;
      for (int k = 0; k < p.logcnt[e]; ++k)
        if (p.rank_of_slot(p.copies(e)[k]) / rpn == n) quota += res.copy_tokens[p.copies(e)[k]];
      for (int r = n * rpn; r < std::min(R, (n + 1) * rpn); ++r) {
        tokens += w.rank_counts[r * E + e];
        kept += node_local[r * E + e];
      }
      ASSERT_EQ(kept, std::min(quota, tokens)) << "node " << n << " expert " << e;
    }
}

TEST(TokenSplit, EverySlotGetsExactlyItsQuota) {
  std::mt19937_64 rng(7);
  LpSolver solver;
  LpResult res;
  for (int it = 0; it < 1500; ++it) {
    SCOPED_TRACE("instance " + std::to_string(it));
    const World w = random_world(rng);
    const int rpn = it % 3 == 0 ? 0 : 1 + it % 4;
    solver.solve({&w.p, w.counts.data(), w.rank_counts.data(), nullptr, rpn}, &res);
    check_world(w, res, rpn);
  }
}

TEST(TokenSplit, SameOnEveryCallAndEightArgumentForm) {
  std::mt19937_64 rng(11);
  const World w = random_world(rng);
  LpSolver solver;
  LpResult res;
  solver.solve({&w.p, w.counts.data(), w.rank_counts.data(), nullptr, 0}, &res);
  std::vector<int32_t> a(w.T * w.K), b(w.T * w.K);
  split_tokens(w.p, w.rank_counts.data(), res.copy_tokens.data(), 1, w.topk[1].data(), w.T, w.K, a.data());
  split_tokens(w.p, w.rank_counts.data(), res.copy_tokens.data(), 1, w.topk[1].data(), w.T, w.K, 0, b.data());
  EXPECT_EQ(a, b);
  check_world(w, res, 0);
}

TEST(TokenSplit, HandExample) {
  // 2 ranks, expert 0 on both; rank 0 has 3 tokens of it, rank 1 has 1.
  // Quotas 2 and 2: rank 0 keeps its first 2 tokens, its third goes to rank 1.
  Placement p = lp_placement(2, 1, {0, 0}, "test");
  std::vector<int64_t> rc = {3, 1}, quota = {2, 2};
  std::vector<int32_t> ids = {0, 0, 0}, slot(3);
  split_tokens(p, rc.data(), quota.data(), 0, ids.data(), 3, 1, slot.data());
  EXPECT_EQ(slot, (std::vector<int32_t>{0, 0, 1}));
  std::vector<int32_t> ids1 = {0}, slot1(1);
  split_tokens(p, rc.data(), quota.data(), 1, ids1.data(), 1, 1, slot1.data());
  EXPECT_EQ(slot1, (std::vector<int32_t>{1}));
}

}  // namespace
}  // namespace wideep

namespace wideep {
namespace {

TEST(SplitTable, HandWorkedTableOfOneRank) {
  // 2 ranks: rank 0 holds e0 (slot 0), e1 (slot 1); rank 1 e0 (slot 2), e2
  // (slot 3). Quotas: e0 3 on slot 0, 1 on slot 2; e1 1; e2 1. Tokens: rank 0
  // e0 2, e1 1; rank 1 e0 2, e2 1. Rank 1's e0: its own copy (slot 2) takes 1
  // of them (quota 1); slot 0 took rank 0's 2 (own rank) and has 1 left,
  // which rank 1's second token fills: [2, 0], one entry per token. e2: one
  // copy, one entry [3] (step 0). e1: no tokens on rank 1, no entry.
  const Placement p = Placement::from_phy2log(2, 3, {0, 1, 0, 2});
  const int64_t quota[4] = {3, 1, 1, 1};
  const int64_t mine[3] = {2, 0, 1}, before[3] = {2, 1, 0}, slot_rank[4] = {2, 1, 2, 1};
  SplitCounts sc;
  sc.mine = mine;
  sc.before = before;
  sc.slot_rank = slot_rank;
  SplitTable t;
  split_table(p, sc, quota, 1, 0, &t);
  EXPECT_EQ(t.step, (std::vector<int32_t>{1, 0, 0}));
  EXPECT_EQ(t.next[0], 0);
  EXPECT_EQ(t.next[2], 2);
  EXPECT_EQ(t.flat, (std::vector<int32_t>{2, 0, 3}));
  // The same slots as split_tokens gives for rank 1's pairs e0, e2, e0.
  const int32_t ids[3] = {0, 2, 0};
  int32_t slot[3];
  split_tokens(p, sc, quota, 1, ids, 3, 1, 0, slot);
  EXPECT_EQ(std::vector<int32_t>(slot, slot + 3), (std::vector<int32_t>{2, 3, 0}));
}

}  // namespace
}  // namespace wideep
