// node_spread: distinct nodes per token counted by hand on small routings, the
// merge over ranks, and the bound group-limited routing with hierarchical
// EPLB gives (groups packed onto nodes: a token's pairs reach at most M nodes).
#include "runtime/machine/node_spread.h"

#include <gtest/gtest.h>

#include <vector>

#include "balance/eplb.h"
#include "runtime/io/workload.h"

namespace wideep {
namespace {

TEST(NodeSpread, CountsDistinctNodesPerToken) {
  // 8 ranks, 2 per node (nodes 0..3); P = 3 pairs per token.
  const std::vector<int32_t> dest = {
      0, 1, 0,  // one node (ranks 0 and 1 are node 0)
      0, 2, 7,  // three nodes
      5, 4, 5,  // one node (node 2)
      6, 3, 2,  // nodes 3, 1, 1: two
  };
  const NodeSpread s = node_spread(dest.data(), 4, 3, 2);
  EXPECT_EQ(s.tokens, 4);
  EXPECT_EQ(s.node_sum, 1 + 3 + 1 + 2);
  EXPECT_EQ(s.max_nodes, 3);
  EXPECT_DOUBLE_EQ(s.mean(), 7.0 / 4);
  // One rank per node: distinct ranks. All ranks on one node: 1 each.
  EXPECT_EQ(node_spread(dest.data(), 4, 3, 1).node_sum, 2 + 3 + 2 + 3);
  EXPECT_EQ(node_spread(dest.data(), 4, 3, 8).node_sum, 4);
  EXPECT_EQ(node_spread(dest.data(), 4, 3, 8).max_nodes, 1);
}

TEST(NodeSpread, MergeOverRanksEqualsOneScan) {
  std::vector<int32_t> dest(64 * 4);
  for (size_t i = 0; i < dest.size(); ++i) dest[i] = static_cast<int32_t>((i * 7 + i / 5) % 16);
  const NodeSpread all = node_spread(dest.data(), 64, 4, 4);
  NodeSpread merged;
  for (int r = 0; r < 4; ++r) merged.merge(node_spread(dest.data() + r * 16 * 4, 16, 4, 4));
  EXPECT_EQ(merged.tokens, all.tokens);
  EXPECT_EQ(merged.node_sum, all.node_sum);
  EXPECT_EQ(merged.max_nodes, all.max_nodes);
  EXPECT_EQ(NodeSpread{}.mean(), 0.0);  // no tokens
  EXPECT_EQ(node_spread(dest.data(), 0, 4, 4).tokens, 0);
}

// Group-limited routing (G 8, M 4) placed by DeepSeek's hierarchical EPLB at 4
// nodes: every token reaches at most M nodes; flat EPLB (one group) does not
// keep that bound.
TEST(NodeSpread, HierarchicalEplbKeepsGroupLimitedTokensOnMNodes) {
  const int E = 64, K = 8, G = 8, M = 2, T = 512, nodes = 4, gpus = 16, slots = 80;
  const Workload w(parse_workload("zipf:1.2"), E, K, 1, 11, nullptr, 0, G, M);
  std::vector<int32_t> ids(T * K);
  std::vector<float> wt(T * K);
  w.route(0, 0, 0, T, ids.data(), wt.data());
  std::vector<double> load(E, 0);
  for (int32_t e : ids) load[e] += 1;
  auto spread = [&](int groups) {
    EplbInput in;
    in.weight = load;
    in.num_layers = 1;
    in.num_logical = E;
    in.num_replicas = slots;
    in.num_groups = groups;
    in.num_nodes = nodes;
    in.num_gpus = gpus;
    const Placement p = rebalance_experts(in, EplbPolicy::kDeepseek).at(0);
    const int rpn = gpus / nodes;
    if (groups == G) {  // hierarchical: every copy of an expert on one node, so any router's choice counts alike
      for (int e = 0; e < E; ++e)
        for (int c = 1; c < p.logcnt[e]; ++c)
          EXPECT_EQ(p.rank_of_slot(p.copies(e)[c]) / rpn, p.rank_of_slot(p.copies(e)[0]) / rpn) << "expert " << e;
    }
    // Each pair to the rank of the expert's first copy.
    std::vector<int32_t> dest(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) dest[i] = p.rank_of_slot(p.copies(ids[i])[0]);
    return node_spread(dest.data(), T, K, rpn);
  };
  const NodeSpread hier = spread(G);
  EXPECT_LE(hier.max_nodes, M);
  EXPECT_GT(spread(1).max_nodes, M);
}

}  // namespace
}  // namespace wideep
