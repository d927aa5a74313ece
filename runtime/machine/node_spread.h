// "Nodes per token": over a layer's tokens, how many distinct nodes each
// token's pairs go to (the cross-node fan-out group-limited routing with
// hierarchical EPLB bounds by --topk-groups). A pure function of the routing.
#pragma once

#include <cstdint>

namespace wideep {

// Tokens counted, the sum over them of their distinct destination nodes, and
// the largest; merge() combines ranks, layers and steps (sum and max).
struct NodeSpread {
  int64_t tokens = 0;
  int64_t node_sum = 0;
  int max_nodes = 0;

  double mean() const { return tokens > 0 ? static_cast<double>(node_sum) / tokens : 0.0; }
  void merge(const NodeSpread& o) {
    tokens += o.tokens;
    node_sum += o.node_sum;
    if (o.max_nodes > max_nodes) max_nodes = o.max_nodes;
  }
};

// pair_dest_rank [T*P]: token t's pairs at t*P .. t*P+P-1, each the rank that
// runs it (as kernels/dispatch_layout.h); node of rank r = r / ranks_per_node.
// A shared expert's pair counts the node of the rank it runs on, like any pair.
// Requires ranks >= 0, T >= 0, P >= 1, ranks_per_node >= 1.
NodeSpread node_spread(const int32_t* pair_dest_rank, int64_t T, int P, int ranks_per_node);

}  // namespace wideep
