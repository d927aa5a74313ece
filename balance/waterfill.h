// Waterfill balancers. Shared experts: every rank holds them and every token
// needs them; work moves from ranks above the water level
// H = ceil((sum routed + sum shared) / R) to ranks with slack, with exact
// integer quotas filled deterministically (local first). Routed copies: greedy
// fill of the least-loaded copy, the cheap alternative to the exact LP.
// waterfill_sglang: SGLang's per-token draw of the shared expert's rank (the
// comparison mode of --waterfill-mode sglang), deterministic by hash.
#pragma once

#include <cstdint>
#include <vector>

#include "balance/lp.h"
#include "balance/placement.h"

namespace wideep {

// --waterfill-mode, carried by BalancerSet::waterfill (0 = no waterfill, so the
// value also reads as the old bool).
enum WaterfillMode : int {
  kWaterfillOff = 0,
  kWaterfillExact = 1,          // waterfill_shared: exact quotas over gathered counts
  kWaterfillSglang = 2,         // waterfill_sglang, dynamic: global rank loads
  kWaterfillSglangStatic = 3,   // waterfill_sglang, static: this rank's own routed counts only
};

// routed_loads [R], shared_tokens [R] (tokens of each rank needing the shared
// experts). Writes shared_move [R * R]: shared_move[src * R + dst] tokens of src
// processed on dst (diagonal: kept local). Row sums equal shared_tokens.
void waterfill_shared(const int64_t* routed_loads, const int64_t* shared_tokens, int num_ranks,
                      int64_t* shared_move);

// Greedy: experts in decreasing count order, each token batch to the copy whose
// rank is least loaded. Fills out like LpSolver (lp_opt = -1: not computed).
void waterfill_routed(const LpInput& in, LpResult* out);

// SGLang's shared-expert waterfill for the tokens of one rank (`rank`, T tokens,
// S shared pairs each). rank_loads [R]: routed pairs per rank (dynamic: global,
// gathered; static: only this rank's own routed pairs by destination).
// routed_dest [T*K]: the rank of each routed pair of this rank's tokens.
// Level H = ceil((sum rank_loads + shared pairs counted) / R), the shared pairs
// being R*T*S (dynamic) or T*S (static); slack_r = max(H - L_r, 0). Each shared
// pair goes to a candidate rank drawn with probability proportional to its
// slack, this rank's slack weighted 11/10; candidates are this rank and the
// ranks the token routes to, or every rank in dynamic mode when max L_r <= H.
// No slack among the candidates, or T < 64 (SGLang's smallest balanced batch):
// the pair stays local. key: a per-(layer-step) hash key; the draw of pair
// (t, j) hashes (key, first_token + t, j). shared_dest [T*S] receives ranks.
struct SglangWaterfillInput {
  int num_ranks = 0, rank = 0, tokens = 0, topk = 0, shared = 0;
  int64_t first_token = 0;  // global index of this rank's token 0
  const int64_t* rank_loads = nullptr;
  const int32_t* routed_dest = nullptr;
  bool dynamic = true;
  uint64_t key = 0;
};
constexpr int kSglangMinBalanceTokens = 64;
void waterfill_sglang(const SglangWaterfillInput& in, int32_t* shared_dest);

// One rank's shared-expert pairs by SGLang's rule, in place in its pair
// destinations [T * (K + S)]: its K routed destinations are read there and its
// S shared ones written after them. global_loads [R]: every rank's routed
// pairs (dynamic mode); the static mode counts this rank's own. The scratch is
// sized by init() once.
struct SglangPlacement {
  std::vector<int32_t> routed_dest;  // [T*K]
  std::vector<int32_t> shared_dest;  // [T*S]
  std::vector<int64_t> own_loads;    // [R]
  void init(int ranks, int tokens, int topk, int shared);
  void place(int ranks, int rank, int tokens, int topk, int shared, bool dynamic, uint64_t key,
             const int64_t* global_loads, int32_t* pair_dest);
};

// The key of the call-th layer-step's draws: the run's TokenRouter (per rank)
// and the simulator's ClusterRouter count their calls alike, so both draw the same.
uint64_t sglang_waterfill_key(int64_t call);

}  // namespace wideep
