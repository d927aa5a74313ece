// Waterfill balancers. Shared experts: every rank holds them and every token
// needs them; work moves from ranks above the water level
// H = ceil((sum routed + sum shared) / R) to ranks with slack, with exact
// integer quotas filled deterministically (local first). Routed copies: greedy
// fill of the least-loaded copy, the cheap alternative to the exact LP.
#pragma once

#include <cstdint>

#include "balance/lp.h"
#include "balance/placement.h"

namespace wideep {

// routed_loads [R], shared_tokens [R] (tokens of each rank needing the shared
// experts). Writes shared_move [R * R]: shared_move[src * R + dst] tokens of src
// processed on dst (diagonal: kept local). Row sums equal shared_tokens.
void waterfill_shared(const int64_t* routed_loads, const int64_t* shared_tokens, int num_ranks,
                      int64_t* shared_move);

// Greedy: experts in decreasing count order, each token batch to the copy whose
// rank is least loaded. Fills out like LpSolver (lp_opt = -1: not computed).
void waterfill_routed(const LpInput& in, LpResult* out);

}  // namespace wideep
