// The exact token split of balance/token_split.h replayed for ALL ranks at once:
// the same rule (own rank, then own node, then global order), so every rank's
// pairs get the very slots split_tokens would give them, in O(R*E + pairs)
// instead of R calls of O(rank*E) each. Tested against split_tokens rank by rank.
#pragma once

#include <cstdint>
#include <vector>

#include "balance/placement.h"

namespace wideep {

class AllRankSplit {
 public:
  // rank_counts [R*E]; copy_tokens [P]; ids [R*T*K] (rank r's tokens at r*T*K);
  // ranks_per_node <= 0 or >= R: one node. Writes slot_of_pair [R*T*K].
  void run(const Placement& p, const int64_t* rank_counts, const int64_t* copy_tokens,
           int ranks_per_node, const int32_t* ids, int num_tokens, int topk, int32_t* slot_of_pair);

 private:
  void split_expert(int e);
  void fill(int r, int64_t begin, int64_t n, int slot);
  void window(int r, int k0, int k1, int64_t offset, int64_t len);

  const Placement* p_ = nullptr;
  const int64_t* counts_ = nullptr;
  int R_ = 0, E_ = 0, rpn_ = 0;
  const int* cp_ = nullptr;            // copies of the current expert
  int cur_e_ = 0;
  std::vector<int64_t> off_;   // [R*E] start of (rank, expert) in flat_
  std::vector<int64_t> used_;  // [R] tokens of the current expert already placed
  std::vector<int64_t> rem_;   // [copies] quota left
  std::vector<int32_t> flat_;  // slot of each token, grouped by (rank, expert)
  std::vector<int64_t> next_;  // [E] cursor of the final pass
};

}  // namespace wideep
