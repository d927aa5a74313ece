// Support shared by balance/'s tests and benchmarks (not part of the library):
// zipf expert loads, and GLPK's optimum of the LPLB LP, the oracle wideep's
// exact solver is checked and timed against.
#pragma once

#include <cstdint>
#include <vector>

#include "balance/placement.h"

namespace wideep {

// [layers * experts]: the expert at popularity rank k (a seeded Fisher-Yates
// permutation, one per layer) gets floor(1e6 / k^s) tokens.
std::vector<double> zipf_layer_loads(int layers, int experts, double s, uint64_t seed);

// GLPK's primal simplex on min z s.t. sum_{s of e} x_s = counts[e],
// base[r] + sum_{s on r} x_s <= z, x >= 0, built from scratch on every call
// (base may be null). *status receives glp_simplex's return code and
// *optimal whether GLPK reports GLP_OPT.
double glpk_lp_optimum(const Placement& p, const int64_t* counts, const int64_t* base, int* status = nullptr,
                       bool* optimal = nullptr);

}  // namespace wideep
