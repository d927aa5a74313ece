// Zipf loads and the GLPK oracle of the LPLB LP, for tests and benchmarks.
#include "balance/oracle_testing.h"

#include <glpk.h>

#include <algorithm>
#include <cmath>
#include <random>

namespace wideep {

std::vector<double> zipf_layer_loads(int layers, int experts, double s, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<double> w(static_cast<size_t>(layers) * experts);
  std::vector<int> perm(experts);
  for (int l = 0; l < layers; ++l) {
    for (int e = 0; e < experts; ++e) perm[e] = e;
    for (int i = experts - 1; i > 0; --i) std::swap(perm[i], perm[rng() % (i + 1)]);
    for (int e = 0; e < experts; ++e)
      w[static_cast<size_t>(l) * experts + e] = std::floor(1e6 / std::pow(perm[e] + 1, s));
  }
  return w;
}

double glpk_lp_optimum(const Placement& p, const int64_t* counts, const int64_t* base, int* status,
                       bool* optimal) {
  glp_prob* lp = glp_create_prob();
  glp_set_obj_dir(lp, GLP_MIN);
  const int P = p.num_slots(), E = p.num_logical, R = p.num_ranks;
  glp_add_cols(lp, P + 1);
  for (int s = 1; s <= P; ++s) glp_set_col_bnds(lp, s, GLP_LO, 0, 0);
  glp_set_col_bnds(lp, P + 1, GLP_FR, 0, 0);
  glp_set_obj_coef(lp, P + 1, 1.0);
  glp_add_rows(lp, E + R);
  std::vector<int> ia(1), ja(1);
  std::vector<double> ar(1);
  for (int e = 0; e < E; ++e) glp_set_row_bnds(lp, 1 + e, GLP_FX, double(counts[e]), double(counts[e]));
  for (int r = 0; r < R; ++r) {
    const double b = base ? double(base[r]) : 0.0;
    glp_set_row_bnds(lp, 1 + E + r, GLP_UP, 0, -b);
    ia.push_back(1 + E + r), ja.push_back(P + 1), ar.push_back(-1.0);
  }
  for (int s = 0; s < P; ++s) {
    ia.push_back(1 + p.phy2log[s]), ja.push_back(1 + s), ar.push_back(1.0);
    ia.push_back(1 + E + p.rank_of_slot(s)), ja.push_back(1 + s), ar.push_back(1.0);
  }
  glp_load_matrix(lp, static_cast<int>(ia.size()) - 1, ia.data(), ja.data(), ar.data());
  glp_smcp parm;
  glp_init_smcp(&parm);
  parm.msg_lev = GLP_MSG_OFF;
  const int rc = glp_simplex(lp, &parm);
  if (status) *status = rc;
  if (optimal) *optimal = glp_get_status(lp) == GLP_OPT;
  const double z = glp_get_obj_val(lp);
  glp_delete_prob(lp);
  return z;
}

}  // namespace wideep
