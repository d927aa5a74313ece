// Hierarchical stage routing worked by hand (2 nodes of 2 ranks, S = 3), the
// whole two-stage path replayed on every rank (each row crosses to a node once,
// each pair reaches its rank and slot exactly once), and bad slot codes named.
#include "runtime/step/hier_plan.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <tuple>
#include <vector>

#include "kernels/dispatch_layout.h"

namespace wideep {
namespace {

TEST(HierPlan, Stage1WorkedByHand) {
  // Rank 1 (node 0, local index 1), token of 3 pairs: rank 0 slot 2, rank 3 slot 1, rank 2 slot 0.
  const int32_t dest[] = {0, 3, 2}, slot[] = {2, 1, 0};
  int32_t d1[3], c1[3];
  hier_stage1(dest, slot, 3, /*rank=*/1, /*rpn=*/2, /*S=*/3, d1, c1);
  EXPECT_EQ(d1[0], 1);  // own node: this rank forwards itself
  EXPECT_EQ(d1[1], 3);  // node 1's rank of local index 1
  EXPECT_EQ(d1[2], 3);
  EXPECT_EQ(c1[0], 0 * 3 + 2);
  EXPECT_EQ(c1[1], 1 * 3 + 1);
  EXPECT_EQ(c1[2], 0 * 3 + 0);
}

TEST(HierPlan, Stage2DecodesAndNamesBadCodes) {
  // Forwarder rank 3 (node 1): row 0 carries codes {4, -1}, row 1 {0, 6} (6 >= rpn * S).
  const int32_t codes[] = {4, -1, 0, 6};
  int32_t d2[4], s2[4];
  EXPECT_EQ(hier_stage2(codes, 2, 2, 3, 2, 3, d2, s2), 1);
  EXPECT_EQ(d2[0], 3);
  EXPECT_EQ(s2[0], 1);
  EXPECT_EQ(d2[1], -1);
  EXPECT_EQ(s2[1], -1);
  EXPECT_EQ(d2[2], 2);
  EXPECT_EQ(s2[2], 0);
  EXPECT_EQ(d2[3], -1);
  const int32_t good[] = {5, -1};
  EXPECT_EQ(hier_stage2(good, 1, 2, 3, 2, 3, d2, s2), -1);
}

// Every rank's tokens through both stages (the layouts a run builds): a token
// reaches each remote node holding its pairs in exactly one cross-node row,
// stage 2 never leaves the node, and every pair arrives once at its rank and slot.
TEST(HierPlan, TwoStagesDeliverEveryPairOnce) {
  const int R = 8, rpn = 4, T = 20, P = 5, S = 4;
  std::mt19937 rng(7);
  std::map<std::tuple<int, int, int, int>, int> delivered;  // (source, token, rank, slot) -> times
  std::vector<std::vector<int32_t>> dest(R, std::vector<int32_t>(T * P)), slot = dest;
  // Stage 1 on every source; the rows each forwarder receives, as (source, token, codes).
  struct Fwd { int src, token; std::vector<int32_t> codes; };
  std::vector<std::vector<Fwd>> inbox(R);
  for (int s = 0; s < R; ++s) {
    for (int i = 0; i < T * P; ++i) {
      dest[s][i] = static_cast<int32_t>(rng() % R);
      slot[s][i] = static_cast<int32_t>(rng() % S);
    }
    std::vector<int32_t> d1(T * P), c1(T * P);
    hier_stage1(dest[s].data(), slot[s].data(), T * P, s, rpn, S, d1.data(), c1.data());
    DispatchLayout lay;
    lay.init(R, T, P);
    build_layout(d1.data(), &lay);
    std::map<std::pair<int, int>, int> cross;  // (token, node) -> rows
    for (int row = 0; row < lay.total_rows; ++row) {
      const int t = lay.row_token[row], f = lay.row_rank[row];
      if (f / rpn != s / rpn) {
        EXPECT_EQ(f % rpn, s % rpn);
        ++cross[{t, f / rpn}];
      } else {
        EXPECT_EQ(f, s);
      }
      Fwd x{s, t, std::vector<int32_t>(P, -1)};
      for (int p = 0; p < P; ++p)
        if (d1[t * P + p] == f) x.codes[p] = c1[t * P + p];
      inbox[f].push_back(x);
    }
    for (const auto& kv : cross) EXPECT_EQ(kv.second, 1);
  }
  // Stage 2 on every forwarder.
  for (int f = 0; f < R; ++f) {
    const int V = static_cast<int>(inbox[f].size());
    std::vector<int32_t> codes(V * P), d2(V * P), s2(V * P);
    for (int v = 0; v < V; ++v)
      for (int p = 0; p < P; ++p) codes[v * P + p] = inbox[f][v].codes[p];
    ASSERT_EQ(hier_stage2(codes.data(), V, P, f, rpn, S, d2.data(), s2.data()), -1);
    for (int v = 0; v < V; ++v)
      for (int p = 0; p < P; ++p) {
        if (d2[v * P + p] < 0) continue;
        EXPECT_EQ(d2[v * P + p] / rpn, f / rpn);
        ++delivered[{inbox[f][v].src, inbox[f][v].token, d2[v * P + p], s2[v * P + p]}];
      }
  }
  int64_t pairs = 0;
  for (int s = 0; s < R; ++s)
    for (int i = 0; i < T * P; ++i) {
      const int n = delivered[{s, i / P, dest[s][i], slot[s][i]}];
      EXPECT_GE(n, 1);
      ++pairs;
    }
  int64_t got = 0;
  for (const auto& kv : delivered) got += kv.second;
  EXPECT_EQ(got, pairs);  // nothing delivered twice or invented
}

}  // namespace
}  // namespace wideep
