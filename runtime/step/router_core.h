// The shape and scratch that TokenRouter (one rank, runtime/step/token_router.h)
// and ClusterRouter (all R ranks of `wideep sim`, runtime/sim/sim_router.h)
// share: one RouterShape says what is routed, RouterCore::init sizes the
// state both keep for the copy rules, the LP and the shared-expert waterfill.
#pragma once

#include <cstdint>
#include <vector>

#include "balance/copy_rules.h"
#include "balance/lplb_forecast.h"
#include "balance/node_lp.h"
#include "balance/waterfill.h"

namespace wideep {

struct RouterShape {
  int ranks = 0;
  int tokens = 0;          // per rank
  int topk = 0;
  int shared = 0;          // shared experts (every token's extra pairs)
  int logical = 0;         // routed experts E
  int ranks_per_node = 0;  // the LP's node grouping
  bool lplb = false;
  WaterfillMode waterfill = kWaterfillOff;
};

class RouterCore {
 public:
  // After an EPLB re-plan (EplbManager and the sim alike): the automatic
  // mode's forecast of `layer` on p, the placement it will serve, from the
  // popularity [E] EPLB planned from (balance/lplb_forecast.h). A no-op
  // unless lplb runs with --lplb-auto on in global scope (kNone).
  LplbForecast expect_lplb(int layer, const Placement& p, const double* popularity);

 protected:
  // pair_ranks: the ranks whose (token, k) slots this router holds (1 or R).
  // shared_move_always: size the waterfill's [R x R] moves without waterfill too.
  void init_core(const RouterShape& shape, int pair_ranks, bool shared_move_always);

  int R_ = 0, T_ = 0, K_ = 0, S_ = 0, E_ = 0, rpn_ = 0;
  bool lplb_ = false, waterfill_ = false;
  WaterfillMode waterfill_mode_ = kWaterfillOff;
  int64_t assign_calls_ = 0;           // the sglang draws' key: one per layer-step, alike on all ranks
  SglangPlacement sglang_;             // sglang modes' scratch
  std::vector<int32_t> slot_of_pair_;  // [pair_ranks*T*K] global physical slot
  std::vector<int64_t> routed_load_;   // [R]
  std::vector<int64_t> shared_pairs_;  // [R]
  std::vector<int64_t> shared_move_;   // [R*R]
  std::vector<int32_t> seen_;          // [E] per-rank running index of expert e
  LayerLp lp_;
  LplbMode lm_;                        // lplb: scope, gates, node LPs (--lplb-scope, --lplb-auto)
  LplbDraw forecast_;                  // expect_lplb's synthetic steps
};

}  // namespace wideep
