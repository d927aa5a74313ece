// node_spread: distinct destination nodes per token, by a scan of the token's
// P pairs (P is topk + shared experts, small: no set, no allocation).
#include "runtime/machine/node_spread.h"

#include "common/check.h"

namespace wideep {

NodeSpread node_spread(const int32_t* pair_dest_rank, int64_t T, int P, int ranks_per_node) {
  WIDEEP_ASSERT(T >= 0 && P >= 1 && ranks_per_node >= 1, "node_spread: bad shape");
  NodeSpread s;
  s.tokens = T;
  for (int64_t t = 0; t < T; ++t) {
    const int32_t* d = pair_dest_rank + t * P;
    int distinct = 0;
    for (int p = 0; p < P; ++p) {
      WIDEEP_ASSERT(d[p] >= 0, "node_spread: a pair without a destination rank");
      const int32_t node = d[p] / ranks_per_node;
      bool seen = false;
      for (int q = 0; q < p && !seen; ++q) seen = d[q] / ranks_per_node == node;
      distinct += !seen;
    }
    s.node_sum += distinct;
    if (distinct > s.max_nodes) s.max_nodes = distinct;
  }
  return s;
}

}  // namespace wideep
