// Tests of the exact LPLB solver against GLPK (an independent LP code, used only
// here as an oracle, solving the whole LP at once) and a brute-force max-density
// over rank subsets, on thousands of random instances: topologies, EPLB-like
// placements, skews, zeros; decomposable placements solved per component and in
// part; consecutive (warm-started) instances against cold solves.
#include "balance/lp.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include "balance/oracle_testing.h"
#include "balance/topology.h"
#include "common/check.h"

namespace wideep {
namespace {

// GLPK's optimum of the same LP; the simplex must report an optimum.
double glpk_optimum(const Placement& p, const int64_t* counts, const int64_t* base) {
  int status = -1;
  bool optimal = false;
  const double z = glpk_lp_optimum(p, counts, base, &status, &optimal);
  EXPECT_EQ(status, 0);
  EXPECT_TRUE(optimal);
  return z;
}

// max over rank subsets U of (base(U) + counts of experts confined to U) / |U|.
double brute_force_density(const Placement& p, const int64_t* counts, const int64_t* base) {
  const int R = p.num_ranks;
  double best = 0;
  for (uint32_t u = 1; u < (1u << R); ++u) {
    int64_t num = 0;
    for (int r = 0; r < R; ++r)
      if (u >> r & 1) num += base ? base[r] : 0;
    for (int e = 0; e < p.num_logical; ++e) {
      bool inside = true;
      for (int k = 0; k < p.logcnt[e]; ++k) inside &= (u >> p.rank_of_slot(p.copies(e)[k]) & 1) != 0;
      if (inside) num += counts[e];
    }
    best = std::max(best, double(num) / __builtin_popcount(u));
  }
  return best;
}

struct Instance {
  Placement p;
  std::vector<int64_t> counts, base, rank_counts;
};

// Random slots: every expert at least once (unless allow_unserved), the rest to
// random experts, possibly several copies on one rank; counts zipf-like or flat.
Placement random_placement(std::mt19937_64& rng, int R, int S, int E, bool allow_unserved) {
  std::vector<int> p2l(R * S);
  std::vector<int> slots(R * S);
  for (int s = 0; s < R * S; ++s) slots[s] = s;
  std::shuffle(slots.begin(), slots.end(), rng);
  for (int i = 0; i < R * S; ++i) {
    const bool first_pass = i < E && !allow_unserved;
    p2l[slots[i]] = first_pass ? i : static_cast<int>(rng() % E);
  }
  return lp_placement(R, E, p2l, "test");
}

std::vector<int64_t> random_counts(std::mt19937_64& rng, int E, int mode) {
  std::vector<int64_t> c(E);
  const double skew = 0.5 + (rng() % 100) / 50.0;
  const int64_t scale = mode == 0 ? 4 : mode == 1 ? 1000 : 100000;
  std::vector<int> perm(E);
  for (int e = 0; e < E; ++e) perm[e] = e;
  std::shuffle(perm.begin(), perm.end(), rng);
  for (int e = 0; e < E; ++e) {
    const double z = scale * E / std::pow(perm[e] + 1.0, skew) / 4;
    c[e] = static_cast<int64_t>(z * (rng() % 1000) / 1000.0);
    if (rng() % 8 == 0) c[e] = 0;
  }
  return c;
}

Instance random_instance(std::mt19937_64& rng, int kind) {
  Instance in;
  if (kind == 0) {  // topologies
    static const char* specs[] = {"ring", "cube", "hypercube", "torus:2x3", "full"};
    const std::string spec = specs[rng() % 5];
    int R = spec == "cube" ? 8 : spec == "hypercube" ? 16 : spec == "torus:2x3" ? 6 : 2 + rng() % 7;
    if (spec == "cube" && rng() % 2) R = 16;
    const Topology t = make_topology(spec, R);
    const int E = R * (1 + rng() % 4);
    std::vector<double> loads(E);
    for (double& l : loads) l = double(rng() % 100);
    in.p = topology_placement(t, R, E, loads.data());
  } else {  // EPLB-like random placements, any number of copies
    const int R = 2 + rng() % 11, S = 1 + rng() % 4;
    const int E = std::max(1, static_cast<int>(R * S - rng() % (R * S)));
    in.p = random_placement(rng, R, S, E, kind == 2);
  }
  in.counts = random_counts(rng, in.p.num_logical, rng() % 3);
  for (int e = 0; e < in.p.num_logical; ++e)
    if (in.p.logcnt[e] == 0) in.counts[e] = 0;
  if (rng() % 3 == 0) {
    in.base.resize(in.p.num_ranks);
    for (auto& b : in.base) b = static_cast<int64_t>(rng() % 50);
  }
  // Spread each count over source ranks for the locality objective.
  const int R = in.p.num_ranks, E = in.p.num_logical;
  in.rank_counts.assign(R * E, 0);
  for (int e = 0; e < E; ++e)
    for (int64_t t = 0; t < in.counts[e]; t += 1 + t / 8) {
      const int64_t chunk = std::min<int64_t>(1 + t / 8, in.counts[e] - t);
      in.rank_counts[(rng() % R) * E + e] += chunk;
    }
  return in;
}

void check_solution(const Instance& in, const LpResult& res) {
  const Placement& p = in.p;
  std::vector<int64_t> per_expert(p.num_logical, 0), loads(p.num_ranks, 0);
  if (!in.base.empty()) loads = in.base;
  for (int s = 0; s < p.num_slots(); ++s) {
    ASSERT_GE(res.copy_tokens[s], 0);
    per_expert[p.phy2log[s]] += res.copy_tokens[s];
    loads[p.rank_of_slot(s)] += res.copy_tokens[s];
  }
  for (int e = 0; e < p.num_logical; ++e) ASSERT_EQ(per_expert[e], in.counts[e]) << "expert " << e;
  ASSERT_EQ(loads, res.rank_loads);
  ASSERT_EQ(res.max_load, *std::max_element(loads.begin(), loads.end()));
  ASSERT_EQ(res.max_load, static_cast<int64_t>(std::ceil(res.lp_opt)));
}

TEST(LpSolver, MatchesGlpkOnRandomInstances) {
  std::mt19937_64 rng(12345);
  LpSolver solver;
  LpResult res;
  int brute = 0, above_mean = 0, fractional = 0;
  for (int it = 0; it < 6000; ++it) {
    Instance in = random_instance(rng, it % 3);
    LpInput li{&in.p, in.counts.data(), it % 2 ? in.rank_counts.data() : nullptr,
               in.base.empty() ? nullptr : in.base.data(), it % 4 == 1 ? 2 : 0};
    solver.solve(li, &res);
    SCOPED_TRACE("instance " + std::to_string(it));
    check_solution(in, res);
    const double z = glpk_optimum(in.p, in.counts.data(), li.base_load);
    ASSERT_NEAR(res.lp_opt, z, 1e-6 * std::max(1.0, z));
    int64_t total = 0;
    for (int64_t l : res.rank_loads) total += l;
    above_mean += res.lp_opt > double(total) / in.p.num_ranks + 1e-9;
    fractional += res.lp_opt != std::floor(res.lp_opt);
    if (in.p.num_ranks <= 10) {
      ++brute;
      ASSERT_NEAR(res.lp_opt, brute_force_density(in.p, in.counts.data(), li.base_load),
                  1e-9 * std::max(1.0, z));
    }
  }
  // The instances exercise the cuts: many optima lie above the mean rank load.
  EXPECT_GT(brute, 1000);
  EXPECT_GT(above_mean, 1000);
  EXPECT_GT(fractional, 1000);
  std::printf("brute-force checked %d, optimum above the mean %d, fractional %d of 6000\n", brute,
              above_mean, fractional);
}

TEST(LpSolver, MatchesGlpkAtScale) {
  // Wide placements like the benchmarks': 64 and 256 ranks, skewed counts.
  std::mt19937_64 rng(99);
  LpSolver solver;
  LpResult res;
  for (int it = 0; it < 24; ++it) {
    const int R = it % 2 ? 64 : 256, S = it % 2 ? 5 : 2;
    Instance in;
    in.p = random_placement(rng, R, S, 256, false);
    in.counts = random_counts(rng, 256, 1 + it % 2);
    solver.solve({&in.p, in.counts.data(), nullptr, nullptr, 0}, &res);
    SCOPED_TRACE("instance " + std::to_string(it));
    check_solution(in, res);
    const double z = glpk_optimum(in.p, in.counts.data(), nullptr);
    ASSERT_NEAR(res.lp_opt, z, 1e-6 * std::max(1.0, z));
  }
}

// Every count (and its rank split) moved by up to +-frac of itself: the next step.
void perturb(Instance& in, std::mt19937_64& rng, double frac) {
  const int E = in.p.num_logical;
  std::fill(in.counts.begin(), in.counts.end(), 0);
  for (size_t i = 0; i < in.rank_counts.size(); ++i) {
    const int64_t c = in.rank_counts[i];
    const double u = (static_cast<double>(rng() % 2001) - 1000.0) / 1000.0 * frac;
    in.rank_counts[i] = std::max<int64_t>(0, c + std::llround(c * u));
    in.counts[i % E] += in.rank_counts[i];
  }
}

TEST(LpSolver, WarmStartedSequencesMatchColdSolvesAndGlpk) {
  // Ten consecutive steps per placement: the warm solver's copies equal a cold
  // solve's and a plan-only (exact_opt false) solve's, its optimum GLPK's; the
  // warm start is kept on most steps.
  std::mt19937_64 rng(777);
  int instances = 0;
  int64_t tried = 0, kept = 0;
  for (int it = 0; it < 300; ++it) {
    Instance in = random_instance(rng, it % 3);
    LpSolver warm, cold, plan;
    LpResult wres, cres, pres;
    const int rpn = it % 4 == 1 ? 2 : 0;
    for (int step = 0; step < 10; ++step, ++instances) {
      if (step > 0) perturb(in, rng, step % 3 == 0 ? 0.5 : 0.05);
      const LpInput li{&in.p, in.counts.data(), in.rank_counts.data(), in.base.empty() ? nullptr : in.base.data(), rpn};
      warm.solve(li, &wres);
      cold.clear_warm_start();
      cold.solve(li, &cres);
      SCOPED_TRACE("instance " + std::to_string(it) + " step " + std::to_string(step));
      check_solution(in, wres);
      ASSERT_EQ(wres.copy_tokens, cres.copy_tokens);
      ASSERT_EQ(wres.lp_opt, cres.lp_opt);
      // The run's setting (no proof of the fractional optimum): the same plan.
      LpInput fast = li;
      fast.exact_opt = false;
      plan.solve(fast, &pres);
      ASSERT_EQ(pres.copy_tokens, wres.copy_tokens);
      ASSERT_EQ(pres.max_load, wres.max_load);
      ASSERT_EQ(pres.lp_opt, -1);
      const double z = glpk_optimum(in.p, in.counts.data(), li.base_load);
      ASSERT_NEAR(wres.lp_opt, z, 1e-6 * std::max(1.0, z));
    }
    tried += warm.stats().warm_tried;
    kept += warm.stats().warm_kept;
  }
  EXPECT_EQ(instances, 3000);
  EXPECT_GT(kept, tried / 2);
  std::printf("warm start kept on %lld of %lld component solves\n", static_cast<long long>(kept),
              static_cast<long long>(tried));
}

// Ranks dealt to g groups at random (interleaved, not contiguous); every slot of
// a group holds one of the group's experts: the copy graph splits at least into
// the groups.
Placement decomposable_placement(std::mt19937_64& rng, int* groups_out) {
  const int g = 2 + rng() % 4, S = 1 + rng() % 3;
  const int R = g + rng() % 14;
  std::vector<int> group(R);
  for (int r = 0; r < R; ++r) group[r] = r < g ? r : static_cast<int>(rng() % g);
  std::shuffle(group.begin(), group.end(), rng);
  std::vector<std::vector<int>> experts(g);
  int E = 0;
  for (int k = 0; k < g; ++k) {
    int slots = 0;
    for (int r = 0; r < R; ++r) slots += (group[r] == k) * S;
    const int n = 1 + rng() % slots;  // the group's experts: each gets a copy, the rest repeat
    for (int i = 0; i < n; ++i) experts[k].push_back(E++);
  }
  std::vector<int> p2l(R * S);
  std::vector<int> next(g, 0);
  std::vector<int> order(R * S);
  for (int s = 0; s < R * S; ++s) order[s] = s;
  std::shuffle(order.begin(), order.end(), rng);
  for (int s : order) {
    const int k = group[s / S];
    const auto& ex = experts[k];
    p2l[s] = next[k] < static_cast<int>(ex.size()) ? ex[next[k]++] : ex[rng() % ex.size()];
  }
  *groups_out = g;
  return lp_placement(R, E, p2l, "test");
}

TEST(LpSolver, DecomposedPlacementsMatchGlpkAndPartialSolves) {
  // The per-component solve's optimum equals GLPK's optimum of the whole LP;
  // a partial solve (only the components of some experts and of one rank)
  // gives exactly the full solve's copies on what it solved, -1 elsewhere.
  std::mt19937_64 rng(4242);
  LpSolver full, part;
  LpResult fres, pres;
  int multi_component = 0, partial = 0;
  for (int it = 0; it < 2000; ++it) {
    int groups = 0;
    Instance in;
    in.p = decomposable_placement(rng, &groups);
    const int R = in.p.num_ranks, E = in.p.num_logical;
    in.counts = random_counts(rng, E, rng() % 3);
    if (rng() % 3 == 0) {
      in.base.resize(R);
      for (auto& b : in.base) b = static_cast<int64_t>(rng() % 50);
    }
    in.rank_counts.assign(R * E, 0);
    for (int e = 0; e < E; ++e) in.rank_counts[(rng() % R) * E + e] = in.counts[e];
    const int rpn = it % 3 == 2 ? 2 : 0;
    LpInput li{&in.p, in.counts.data(), it % 2 ? in.rank_counts.data() : nullptr,
               in.base.empty() ? nullptr : in.base.data(), rpn};
    full.solve(li, &fres);
    SCOPED_TRACE("instance " + std::to_string(it));
    check_solution(in, fres);
    ASSERT_TRUE(fres.complete);
    const double z = glpk_optimum(in.p, in.counts.data(), li.base_load);
    ASSERT_NEAR(fres.lp_opt, z, 1e-6 * std::max(1.0, z));
    if (R <= 10) {
      ASSERT_NEAR(fres.lp_opt, brute_force_density(in.p, in.counts.data(), li.base_load), 1e-9 * std::max(1.0, z));
    }
    multi_component += fres.components > 1;
    // Partial: a random third of the experts and one rank.
    std::vector<uint8_t> need(E);
    for (auto& n : need) n = rng() % 3 == 0;
    li.need_expert = need.data();
    li.need_rank = static_cast<int>(rng() % R);
    part.solve(li, &pres);
    partial += !pres.complete;
    for (int s = 0; s < in.p.num_slots(); ++s) {
      if (pres.copy_tokens[s] >= 0) {
        ASSERT_EQ(pres.copy_tokens[s], fres.copy_tokens[s]) << "slot " << s;
      }
    }
    for (int e = 0; e < E; ++e) {
      if (!need[e]) continue;
      for (int k = 0; k < in.p.logcnt[e]; ++k) ASSERT_GE(pres.copy_tokens[in.p.copies(e)[k]], 0) << "expert " << e;
    }
    ASSERT_EQ(pres.rank_loads[li.need_rank], fres.rank_loads[li.need_rank]);
    for (int r = 0; r < R; ++r) {
      if (pres.rank_loads[r] >= 0) {
        ASSERT_EQ(pres.rank_loads[r], fres.rank_loads[r]);
      }
    }
  }
  EXPECT_GT(multi_component, 1000);  // a one-rank group has no multi expert: no component
  EXPECT_GT(partial, 500);
}

TEST(LpSolver, LevelIsTheGlobalBoundForLightComponents) {
  // Two independent pairs of ranks: {0, 1} share expert 0 (10 tokens), {2, 3}
  // share expert 1 (2 tokens). Optimum 5; the light pair is filled to the
  // level max(ceil(mean 3), largest fixed load 0) = 3 with its local tokens
  // first, so both of expert 1's tokens stay on rank 3, where they come from.
  Placement p = lp_placement(4, 2, {0, 0, 1, 1}, "test");
  std::vector<int64_t> c = {10, 2}, rc = {5, 0, 5, 0, 0, 0, 0, 2};
  LpSolver solver;
  LpResult res;
  solver.solve({&p, c.data(), rc.data(), nullptr, 0}, &res);
  EXPECT_EQ(res.components, 2);
  EXPECT_DOUBLE_EQ(res.lp_opt, 5.0);
  EXPECT_EQ(res.copy_tokens, (std::vector<int64_t>{5, 5, 0, 2}));
}

TEST(LpSolver, SlotCountsEqualTheMatrixForm) {
  // The O(P) locality inputs give the very copies the R x E matrix gives.
  std::mt19937_64 rng(31);
  LpSolver a, b;
  LpResult ra, rb;
  for (int it = 0; it < 500; ++it) {
    Instance in = random_instance(rng, it % 3);
    const int rpn = 1 + it % 3;
    std::vector<int64_t> sr(in.p.num_slots()), sn(in.p.num_slots());
    lp_slot_counts(in.p, in.rank_counts.data(), rpn, sr.data(), sn.data());
    LpInput li{&in.p, in.counts.data(), in.rank_counts.data(), nullptr, rpn};
    a.solve(li, &ra);
    li.rank_counts = nullptr;
    li.slot_rank_counts = sr.data();
    li.slot_node_counts = sn.data();
    b.solve(li, &rb);
    ASSERT_EQ(ra.copy_tokens, rb.copy_tokens) << "instance " << it;
  }
}

TEST(LpSolver, HandExample) {
  // 2 ranks, expert 0 on both, expert 1 only on rank 0: counts 10, 6.
  // Optimum: rank 0 takes 6 of expert 1 and 2 of expert 0, rank 1 takes 8.
  Placement p = lp_placement(2, 2, {0, 1, 0, 0}, "test");
  std::vector<int64_t> c = {10, 6};
  LpSolver solver;
  LpResult res;
  solver.solve({&p, c.data(), nullptr, nullptr, 0}, &res);
  EXPECT_DOUBLE_EQ(res.lp_opt, 8.0);
  EXPECT_EQ(res.max_load, 8);
  EXPECT_EQ(res.rank_loads, (std::vector<int64_t>{8, 8}));
  // Rank 1's two copies of expert 0 share its 8 tokens evenly.
  EXPECT_EQ(res.copy_tokens, (std::vector<int64_t>{2, 6, 4, 4}));
}

TEST(LpSolver, FractionalOptimum) {
  // 3 ranks, one expert everywhere with 10 tokens: 10/3, max load 4.
  Placement p = lp_placement(3, 1, {0, 0, 0}, "test");
  std::vector<int64_t> c = {10};
  LpSolver solver;
  LpResult res;
  solver.solve({&p, c.data(), nullptr, nullptr, 0}, &res);
  EXPECT_NEAR(res.lp_opt, 10.0 / 3, 1e-12);
  EXPECT_EQ(res.max_load, 4);
}

TEST(LpSolver, KeepsTokensLocalWhenThereIsRoom) {
  // Expert 0 on ranks 0 and 1, 6 tokens: 4 from rank 0, 2 from rank 1. Level 3
  // each; the local split (3 on rank 0, 3 on rank 1) keeps 3 + 2 tokens local.
  Placement p = lp_placement(2, 1, {0, 0}, "test");
  std::vector<int64_t> c = {6}, rc = {4, 2};
  LpSolver solver;
  LpResult res;
  solver.solve({&p, c.data(), rc.data(), nullptr, 0}, &res);
  EXPECT_EQ(res.copy_tokens, (std::vector<int64_t>{3, 3}));
  // With a base load on rank 0, rank 1 must take more: still optimal.
  std::vector<int64_t> base = {2, 0};
  solver.solve({&p, c.data(), rc.data(), base.data(), 0}, &res);
  EXPECT_EQ(res.max_load, 4);
  EXPECT_EQ(res.copy_tokens, (std::vector<int64_t>{2, 4}));
}

TEST(LpSolver, PrefersSourceNode) {
  // 4 ranks, 2 per node; expert 0 on ranks 1, 2, 3, its 3 tokens all from rank 3
  // (node 1), which is full (base load 4 = the level). The copy on rank 2 (node 1)
  // takes them rather than rank 1 (node 0), with which the greedy fill would share them.
  Placement p = lp_placement(4, 2, {1, 0, 0, 0}, "test");
  std::vector<int64_t> c = {3, 0}, base = {0, 0, 0, 4};
  std::vector<int64_t> rc = {0, 0, 0, 0, 0, 0, 3, 0};
  LpSolver solver;
  LpResult res;
  solver.solve({&p, c.data(), rc.data(), base.data(), 2}, &res);
  EXPECT_EQ(res.max_load, 4);
  EXPECT_EQ(res.copy_tokens, (std::vector<int64_t>{0, 0, 3, 0}));
  solver.solve({&p, c.data(), rc.data(), base.data(), 0}, &res);  // one node: levelled over ranks 1 and 2
  EXPECT_EQ(res.copy_tokens, (std::vector<int64_t>{0, 2, 1, 0}));
}

TEST(LpSolver, RejectsCountWithoutCopy) {
  Placement p = lp_placement(2, 3, {0, 1}, "test");  // expert 2 has no copy
  std::vector<int64_t> ok = {1, 1, 0}, bad = {1, 1, 5};
  LpSolver solver;
  LpResult res;
  EXPECT_NO_THROW(solver.solve({&p, ok.data(), nullptr, nullptr, 0}, &res));
  EXPECT_THROW(solver.solve({&p, bad.data(), nullptr, nullptr, 0}, &res), UsageError);
}

TEST(LpSolver, AllZeroCounts) {
  Placement p = lp_placement(4, 4, {0, 1, 2, 3, 0, 1, 2, 3}, "test");
  std::vector<int64_t> c(4, 0);
  LpSolver solver;
  LpResult res;
  solver.solve({&p, c.data(), nullptr, nullptr, 0}, &res);
  EXPECT_EQ(res.max_load, 0);
  EXPECT_EQ(res.lp_opt, 0.0);
}

TEST(LpPlacement, RejectsBadShapes) {
  EXPECT_THROW(lp_placement(3, 2, {0, 1, 0, 1}, "x"), UsageError);
  EXPECT_THROW(lp_placement(2, 2, {0, 2}, "x"), UsageError);
  EXPECT_THROW(lp_placement(2, 2, {0, -1}, "x"), UsageError);
}

}  // namespace
}  // namespace wideep
