// Copy-choice rules shared by the run's and the simulator's routers.
#include "balance/copy_rules.h"

#include <algorithm>

#include "common/check.h"

namespace wideep {

void static_copy_choice(const Placement& p, const int32_t* ids, int64_t pairs, int rank,
                        int32_t* seen, int32_t* slot_of_pair) {
  std::fill(seen, seen + p.num_logical, 0);
  for (int64_t i = 0; i < pairs; ++i) {
    const int e = ids[i];
    slot_of_pair[i] = p.copies(e)[(seen[e]++ + rank) % p.logcnt[e]];
  }
}

void static_rank_loads(const Placement& p, const int64_t* rank_counts, int num_ranks,
                       int64_t* routed_load) {
  const int E = p.num_logical;
  std::fill(routed_load, routed_load + num_ranks, 0);
  for (int r = 0; r < num_ranks; ++r) {
    for (int e = 0; e < E; ++e) {
      const int64_t n = rank_counts[static_cast<size_t>(r) * E + e];
      const int c = p.logcnt[e];
      for (int j = 0; j < c; ++j) {
        const int64_t first = ((j - r) % c + c) % c;  // smallest i with (i + r) mod c == j
        const int64_t got = n > first ? (n - first + c - 1) / c : 0;
        routed_load[p.rank_of_slot(p.copies(e)[j])] += got;
      }
    }
  }
}

void LayerLp::init(int num_ranks, int num_logical, int64_t shared_per_rank, bool waterfill_moves_shared,
                   int ranks_per_node) {
  R_ = num_ranks;
  E_ = num_logical;
  rpn_ = ranks_per_node;
  base_load_.assign(R_, waterfill_moves_shared ? 0 : shared_per_rank);
}

void LayerLp::solve(const Placement& p, const int64_t* rank_counts, int64_t* routed_load) {
  counts_.assign(E_, 0);
  for (int r = 0; r < R_; ++r)
    for (int e = 0; e < E_; ++e) counts_[e] += rank_counts[static_cast<size_t>(r) * E_ + e];
  slot_rank_.resize(p.num_slots());
  slot_node_.resize(p.num_slots());
  const bool node = rpn_ > 1 && rpn_ < R_;
  lp_slot_counts(p, rank_counts, rpn_, slot_rank_.data(), node ? slot_node_.data() : nullptr);
  solve(p, counts_.data(), slot_rank_.data(), node ? slot_node_.data() : nullptr, nullptr, -1, routed_load);
}

void LayerLp::solve(const Placement& p, const int64_t* counts, const int64_t* slot_rank, const int64_t* slot_node,
                    const uint8_t* need_expert, int need_rank, int64_t* routed_load) {
  LpInput in;
  in.placement = &p;
  in.counts = counts;
  in.base_load = base_load_.data();
  in.ranks_per_node = rpn_;
  in.slot_rank_counts = slot_rank;
  in.slot_node_counts = slot_node;
  in.need_expert = need_expert;
  in.need_rank = need_rank;
  in.exact_opt = false;  // the run needs the plan; lp_opt is reported -1
  solver_.solve(in, &lp_);
  for (int r = 0; r < R_; ++r) routed_load[r] = lp_.rank_loads[r] >= 0 ? lp_.rank_loads[r] - base_load_[r] : -1;
}

void place_shared_pairs(int rank, int num_ranks, int tokens, int topk, int shared,
                        const int64_t* move_row, int32_t* pair_dest_rank) {
  const int P = topk + shared;
  int dest = rank, next = 0;
  int64_t left = move_row ? move_row[rank] : static_cast<int64_t>(tokens) * shared;
  for (int t = 0; t < tokens; ++t) {
    for (int j = 0; j < shared; ++j) {
      while (left == 0) {
        if (next == rank) ++next;
        WIDEEP_ASSERT(next < num_ranks, "waterfill quotas do not cover this rank's shared pairs");
        dest = next;
        left = move_row[next++];
      }
      --left;
      pair_dest_rank[static_cast<size_t>(t) * P + topk + j] = dest;
    }
  }
}

void expected_loads(const int64_t* routed_load, const int64_t* shared_move, int num_ranks,
                    int64_t shared_per_rank, int64_t* expected) {
  for (int r = 0; r < num_ranks; ++r) {
    int64_t shared_in = shared_per_rank;
    if (shared_move) {
      shared_in = 0;
      for (int s = 0; s < num_ranks; ++s) shared_in += shared_move[static_cast<size_t>(s) * num_ranks + r];
    }
    expected[r] = routed_load[r] + shared_in;
  }
}

}  // namespace wideep
