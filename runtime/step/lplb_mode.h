// The run's LPLB mode (--lplb-scope, --lplb-auto) for a TokenRouter, and the
// step-time model the automatic mode predicts with in `wideep run` (the H100
// figures of the sim's profile at the run's shape and wire dtypes).
#pragma once

#include "balance/node_lp.h"
#include "runtime/io/config.h"
#include "runtime/step/token_router.h"

namespace wideep {

LplbCostModel lplb_cost_for_run(const RunConfig& cfg);

// After router->init(): sets the scope and, with --lplb-auto on, the model.
void configure_lplb(const RunConfig& cfg, TokenRouter* router);

}  // namespace wideep
