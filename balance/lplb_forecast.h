// The automatic mode's forecast (--lplb-auto on, global scope): at a placement
// EPLB has just planned, the LP's verdict on synthetic steps drawn from the
// popularity EPLB planned from (the window's summed counts, which every rank
// holds after EPLB's allreduce). A layer whose LP cannot pay under the
// placement then stops probing until the next re-plan; one whose LP pays plans
// from its first step. Pure and deterministic: every rank draws alike.
#pragma once

#include <cstdint>
#include <vector>

#include "balance/copy_rules.h"
#include "balance/node_lp.h"
#include "balance/placement.h"

namespace wideep {

// One synthetic step: what the counts exchange would hand every rank.
struct LplbDraw {
  std::vector<int64_t> counts;     // [E] the job's pairs of each expert
  std::vector<int64_t> slot_rank;  // [P] pairs of phy2log[s] on s's rank
  std::vector<int64_t> slot_node;  // [P] pairs of phy2log[s] on s's node (0 without a node level)
  std::vector<int64_t> routed_load;  // [R] the forecast's solves' scratch
};

// Draws one step. Model: each rank's pairs of expert e are Poisson with mean
// pairs_per_rank x popularity[e] / sum(popularity), independently per (rank,
// expert): the ranks' tokens as independent samples of one popularity, as the
// synthetic workloads make them (the multinomial's noise, without its fixed
// per-rank total). Only the sums the exchange gives are drawn, O(E + P) draws
// (a sum of independent Poissons is Poisson): one per (rank, expert) with a
// copy on the rank, one for the rest of each node holding a copy, one for the
// rest of the job. Nodes: ranks_per_node consecutive ranks (<= 1 or >= R: none).
void draw_lplb_step(const Placement& p, const double* popularity, int64_t pairs_per_rank, int ranks_per_node,
                    uint64_t seed, LplbDraw* out);

// Synthetic steps per forecast: the verdict of one step carries its noise.
constexpr int kLplbForecastDraws = 4;

// The verdict a probe would reach, averaged over `draws` synthetic steps: per
// step the estimate and, where it beats the solve's cost, the solve (lp, with
// the router's base load) and the plan's verdict, as TokenRouter decides one.
// gain_us is the mean gain; paid and far are LplbVerdict's rules on it; use =
// paid.
LplbVerdict lplb_global_forecast(const Placement& p, const double* popularity, int64_t pairs_per_rank,
                                 int ranks_per_node, const LplbCostModel& m, LayerLp* lp, uint64_t seed, LplbDraw* scratch, int draws = kLplbForecastDraws);

// The routers' hook (TokenRouter and ClusterRouter::expect_lplb): with the
// automatic mode in global scope, forecasts `layer` on p and hands the verdict
// to the gate (LplbGate::expect); a no-op otherwise. The seed is p's key and
// the layer's, alike on every rank.
LplbForecast lplb_expect(LplbMode& lm, int layer, const Placement& p, const double* popularity, int64_t pairs_per_rank,
                 int ranks_per_node, LayerLp* lp, LplbDraw* scratch);

}  // namespace wideep
