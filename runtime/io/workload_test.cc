// Workload generators: determinism, independence from the rank count, the
// skew of each distribution, group-limited routing, and trace validation.
#include "runtime/io/workload.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>

#include "common/check.h"

namespace wideep {
namespace {

std::vector<int64_t> pick_counts(const Workload& w, int step, int layer, int tokens, int E, int K) {
  std::vector<int32_t> ids(tokens * K);
  std::vector<float> wt(tokens * K);
  w.route(step, layer, 0, tokens, ids.data(), wt.data());
  std::vector<int64_t> c(E, 0);
  for (int32_t e : ids) ++c[e];
  return c;
}

double max_share(const std::vector<int64_t>& c) {
  int64_t s = 0;
  for (int64_t v : c) s += v;
  return static_cast<double>(*std::max_element(c.begin(), c.end())) / s;
}

TEST(Workload, DistinctExpertsAndNormalisedWeights) {
  for (const char* spec : {"uniform", "zipf:1.2", "hot:0.1", "drift:1.0:5", "zipf:3"}) {
    Workload w(parse_workload(spec), 16, 8, 2, 5, nullptr);
    std::vector<int32_t> ids(100 * 8);
    std::vector<float> wt(100 * 8);
    w.route(3, 1, 40, 100, ids.data(), wt.data());
    for (int t = 0; t < 100; ++t) {
      std::set<int> s(ids.begin() + t * 8, ids.begin() + t * 8 + 8);
      EXPECT_EQ(s.size(), 8u) << spec;
      float sum = 0;
      for (int k = 0; k < 8; ++k) {
        EXPECT_GT(wt[t * 8 + k], 0.0f);
        sum += wt[t * 8 + k];
      }
      EXPECT_NEAR(sum, 1.0f, 1e-5f);
      for (int k = 0; k < 8; ++k) EXPECT_TRUE(ids[t * 8 + k] >= 0 && ids[t * 8 + k] < 16);
    }
  }
}

TEST(Workload, SameRoutingWhateverTheRankCount) {
  Workload w(parse_workload("zipf:1.2"), 64, 8, 2, 7, nullptr);
  // 4 ranks x 32 tokens vs 2 ranks x 64 tokens: global token g routes the same.
  std::vector<int32_t> a(128 * 8), b(128 * 8);
  std::vector<float> wa(128 * 8), wb(128 * 8);
  for (int r = 0; r < 4; ++r) w.route(2, 1, r * 32, 32, &a[r * 32 * 8], &wa[r * 32 * 8]);
  for (int r = 0; r < 2; ++r) w.route(2, 1, r * 64, 64, &b[r * 64 * 8], &wb[r * 64 * 8]);
  EXPECT_EQ(a, b);
  EXPECT_EQ(wa, wb);
  Workload w2(parse_workload("zipf:1.2"), 64, 8, 2, 7, nullptr);
  std::vector<int32_t> c(128 * 8);
  std::vector<float> wc(128 * 8);
  w2.route(2, 1, 0, 128, c.data(), wc.data());
  EXPECT_EQ(a, c);
  Workload w3(parse_workload("zipf:1.2"), 64, 8, 2, 8, nullptr);
  w3.route(2, 1, 0, 128, c.data(), wc.data());
  EXPECT_NE(a, c) << "another seed must give another routing";
}

TEST(Workload, ZipfSkewAboveUniformAndHotShare) {
  const int E = 64, K = 8, T = 4096;
  const double uni = max_share(pick_counts(Workload(parse_workload("uniform"), E, K, 1, 1, nullptr), 0, 0, T, E, K));
  const double zipf = max_share(pick_counts(Workload(parse_workload("zipf:1.2"), E, K, 1, 1, nullptr), 0, 0, T, E, K));
  EXPECT_LT(uni, 1.5 / E);      // uniform: no expert far above 1/E
  EXPECT_GT(zipf, 2.0 * uni);   // zipf: the hottest expert well above uniform
  const double hot = max_share(pick_counts(Workload(parse_workload("hot:0.1"), E, K, 1, 1, nullptr), 0, 0, T, E, K));
  EXPECT_NEAR(hot, 0.1, 0.01);  // one expert gets FRAC of all picks
}

TEST(Workload, HotExpertsDifferByLayerAndDriftMoves) {
  const int E = 64, K = 8, T = 2048;
  Workload z(parse_workload("zipf:1.5"), E, K, 2, 1, nullptr);
  auto c0 = pick_counts(z, 0, 0, T, E, K), c1 = pick_counts(z, 0, 1, T, E, K);
  EXPECT_NE(std::max_element(c0.begin(), c0.end()) - c0.begin(),
            std::max_element(c1.begin(), c1.end()) - c1.begin());
  Workload d(parse_workload("drift:1.5:4"), E, K, 1, 1, nullptr);
  auto a = pick_counts(d, 0, 0, T, E, K), b = pick_counts(d, 3, 0, T, E, K), c = pick_counts(d, 4, 0, T, E, K);
  const auto hot = [](const std::vector<int64_t>& v) { return std::max_element(v.begin(), v.end()) - v.begin(); };
  EXPECT_EQ(hot(a), hot(b));  // same period
  EXPECT_NE(hot(a), hot(c));  // the hot set rotated
}

TEST(Workload, NoiseHasAFixedPopularityAndPerStepDraws) {
  const int E = 64, K = 8, T = 4096;
  Workload w(parse_workload("noise:0.5"), E, K, 2, 7, nullptr);
  std::vector<double> p0, p5, l1;
  w.popularity(0, 0, &p0);
  w.popularity(5, 0, &p5);
  w.popularity(0, 1, &l1);
  EXPECT_EQ(p0, p5);  // fixed over steps
  EXPECT_NE(p0, l1);  // a different draw per layer
  // exp(0.5 z): all positive; log has mean ~0 and spread ~0.5 over 64 experts.
  double mean = 0, var = 0;
  for (double v : p0) mean += std::log(v) / E;
  for (double v : p0) var += (std::log(v) - mean) * (std::log(v) - mean) / E;
  EXPECT_NEAR(mean, 0, 0.25);
  EXPECT_NEAR(std::sqrt(var), 0.5, 0.15);
  // Steps draw anew from it: counts differ, the popular experts stay popular.
  const auto a = pick_counts(w, 0, 0, T, E, K), b = pick_counts(w, 1, 0, T, E, K);
  EXPECT_NE(a, b);
  const int top = static_cast<int>(std::max_element(p0.begin(), p0.end()) - p0.begin());
  const int bottom = static_cast<int>(std::min_element(p0.begin(), p0.end()) - p0.begin());
  EXPECT_GT(a[top], a[bottom]);
  EXPECT_GT(b[top], b[bottom]);
  // SIGMA 0: uniform popularity.
  Workload u(parse_workload("noise:0"), E, K, 1, 7, nullptr);
  std::vector<double> pu;
  u.popularity(3, 0, &pu);
  EXPECT_EQ(pu, std::vector<double>(E, 1.0));
}

TEST(Workload, ParseRejectsBadSpecsNamingTheOption) {
  for (const char* bad : {"zipf", "zipf:x", "zipf:-1", "hot:0", "hot:2", "drift:1", "drift:1:0", "drift:1:2.5",
                          "trace:", "bogus", "uniform:3", "noise", "noise:x", "noise:-0.5", "noise:5", "noise:1:2"}) {
    try {
      parse_workload(bad);
      ADD_FAILURE() << bad << " accepted";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("--workload"), std::string::npos) << e.what();
    }
  }
}

std::string write_temp(const std::string& text) {
  char name[] = "/tmp/wideep_trace_XXXXXX";
  const int fd = mkstemp(name);
  EXPECT_GE(fd, 0);
  std::ofstream(name) << text;
  return name;
}

TEST(Workload, TraceReplayAndValidation) {
  const std::string good = write_temp(
      R"({"kind":"topk","experts":4,"topk":2,"layers":1,"steps":[{"layers":[[[0,1],[2,3],[3,0]]]},{"layers":[[[1,2]]]}]})");
  Trace t = load_trace(good, 4, 2, 1, 2);
  Workload w(parse_workload("trace:" + good), 4, 2, 1, 1, std::make_shared<Trace>(t));
  std::vector<int32_t> ids(4 * 2);
  std::vector<float> wt(4 * 2);
  w.route(0, 0, 1, 4, ids.data(), wt.data());  // global tokens 1..4 replay rows 1,2,0,1
  EXPECT_EQ(ids, (std::vector<int32_t>{2, 3, 3, 0, 0, 1, 2, 3}));
  EXPECT_THROW(load_trace(good, 4, 2, 1, 3), UsageError);  // fewer steps than asked
  EXPECT_THROW(load_trace(good, 8, 2, 1, 1), UsageError);  // experts differ
  EXPECT_THROW(load_trace(good, 4, 2, 2, 1), UsageError);  // layers
  EXPECT_THROW(load_trace("/nonexistent/trace.json", 4, 2, 1, 1), UsageError);
  for (const char* bad : {"{", R"({"kind":"topk","experts":4,"topk":2,"layers":1,"steps":[{"layers":[[[0,0]]]}]})",
                          R"({"kind":"topk","experts":4,"topk":2,"layers":1,"steps":[{"layers":[[[0,9]]]}]})",
                          R"({"kind":"counts","experts":4,"layers":1,"steps":[{"layers":[[1,-1,0,0]]}]})",
                          R"({"kind":"counts","experts":4,"layers":1,"steps":[{"layers":[[1,0,0,0]]}]})",
                          R"({"kind":"other","experts":4,"layers":1,"steps":[]})", "[]"}) {
    const std::string f = write_temp(bad);
    EXPECT_THROW(load_trace(f, 4, 2, 1, 1), UsageError) << bad;
    std::remove(f.c_str());
  }
  std::remove(good.c_str());
}

// Group-limited routing (--groups G --topk-groups M).
struct GroupShape {
  int E, K, G, M;
};

std::vector<int32_t> route_all(const Workload& w, int step, int layer, int64_t first, int tokens, int K,
                               std::vector<float>* wt = nullptr) {
  std::vector<int32_t> ids(static_cast<size_t>(tokens) * K);
  std::vector<float> scratch(ids.size());
  w.route(step, layer, first, tokens, ids.data(), (wt ? wt : &scratch)->data());
  return ids;
}

// The most groups one token's experts fall in.
int max_groups_per_token(const std::vector<int32_t>& ids, int K, int E, int G) {
  int worst = 0;
  for (size_t t = 0; t < ids.size() / K; ++t) {
    std::set<int> g;
    for (int k = 0; k < K; ++k) g.insert(ids[t * K + k] / (E / G));
    worst = std::max(worst, static_cast<int>(g.size()));
  }
  return worst;
}

TEST(WorkloadGroups, EveryTokensExpertsLieInAtMostMGroups) {
  // DeepSeek-V3 (256, 8, 8, 4); k = M x group size exactly; groups of one
  // expert; M = 1; M = G (no limit).
  const GroupShape shapes[] = {{256, 8, 8, 4}, {64, 8, 8, 4}, {16, 8, 8, 4}, {16, 4, 4, 2},
                               {8, 2, 8, 2},   {32, 6, 8, 3}, {32, 4, 4, 1}, {32, 8, 4, 4}};
  for (const char* spec : {"uniform", "zipf:1.2", "zipf:3", "hot:0.1", "drift:1.0:5"})
    for (const GroupShape& sh : shapes) {
      Workload w(parse_workload(spec), sh.E, sh.K, 2, 5, nullptr, 0, sh.G, sh.M);
      ASSERT_TRUE(w.group_limited());
      std::vector<float> wt;
      wt.resize(static_cast<size_t>(300) * sh.K);
      const std::vector<int32_t> ids = route_all(w, 3, 1, 40, 300, sh.K, &wt);
      const std::string what = std::string(spec) + " E" + std::to_string(sh.E) + " K" + std::to_string(sh.K) +
                               " G" + std::to_string(sh.G) + " M" + std::to_string(sh.M);
      EXPECT_LE(max_groups_per_token(ids, sh.K, sh.E, sh.G), sh.M) << what;
      for (int t = 0; t < 300; ++t) {
        std::set<int> s(ids.begin() + t * sh.K, ids.begin() + (t + 1) * sh.K);
        EXPECT_EQ(s.size(), static_cast<size_t>(sh.K)) << what << ": a token picks an expert twice";
        EXPECT_TRUE(*s.begin() >= 0 && *s.rbegin() < sh.E) << what;
        float sum = 0;
        for (int k = 0; k < sh.K; ++k) sum += wt[t * sh.K + k];
        EXPECT_NEAR(sum, 1.0f, 1e-5f) << what;
      }
    }
}

TEST(WorkloadGroups, TheLimitBindsAndEveryGroupIsReached) {
  // Without the limit, tokens of this shape spread over more than M groups (so
  // the test above can fail); with it, over the tokens every group is chosen.
  const int E = 64, K = 8, G = 8, M = 2, T = 2000;
  const Workload flat(parse_workload("uniform"), E, K, 1, 3, nullptr);
  EXPECT_GT(max_groups_per_token(route_all(flat, 0, 0, 0, T, K), K, E, G), M);
  const Workload w(parse_workload("uniform"), E, K, 1, 3, nullptr, 0, G, M);
  const std::vector<int32_t> ids = route_all(w, 0, 0, 0, T, K);
  EXPECT_LE(max_groups_per_token(ids, K, E, G), M);
  std::vector<int64_t> group_picks(G, 0);
  for (int32_t e : ids) ++group_picks[e / (E / G)];
  for (int g = 0; g < G; ++g) EXPECT_GT(group_picks[g], T * K / G / 2) << "group " << g;  // uniform: about T K / G
}

TEST(WorkloadGroups, PopularitySkewStillShows) {
  const int E = 64, K = 8, T = 4096, G = 8, M = 4;
  auto counts = [&](const char* spec, int layer) {
    const Workload w(parse_workload(spec), E, K, 2, 1, nullptr, 0, G, M);
    std::vector<int64_t> c(E, 0);
    for (int32_t e : route_all(w, 0, layer, 0, T, K)) ++c[e];
    return c;
  };
  const double uni = max_share(counts("uniform", 0));
  EXPECT_LT(uni, 1.5 / E);  // uniform stays uniform under the limit
  for (int layer = 0; layer < 2; ++layer) {
    const std::vector<int64_t> z = counts("zipf:1.2", layer);
    EXPECT_GT(max_share(z), 2.0 * uni);
    // The most picked expert is the most popular one of this layer.
    const Workload w(parse_workload("zipf:1.2"), E, K, 2, 1, nullptr);
    std::vector<double> pop;
    w.popularity(0, layer, &pop);
    EXPECT_EQ(std::max_element(z.begin(), z.end()) - z.begin(), std::max_element(pop.begin(), pop.end()) - pop.begin());
  }
  EXPECT_NEAR(max_share(counts("hot:0.1", 0)), 0.1, 0.01);  // hot:FRAC keeps its share
  // Drift rotates the hot set under the limit too.
  const Workload d(parse_workload("drift:1.5:4"), E, K, 1, 1, nullptr, 0, G, M);
  auto hot = [&](int step) {
    std::vector<int64_t> c(E, 0);
    for (int32_t e : route_all(d, step, 0, 0, T, K)) ++c[e];
    return std::max_element(c.begin(), c.end()) - c.begin();
  };
  EXPECT_EQ(hot(0), hot(3));
  EXPECT_NE(hot(0), hot(4));
}

TEST(WorkloadGroups, SameRoutingWhateverTheRankCount) {
  const Workload w(parse_workload("zipf:1.2"), 256, 8, 2, 7, nullptr, 0, 8, 4);
  std::vector<int32_t> a(256 * 8), b;
  std::vector<float> wa(256 * 8), wb(256 * 8);
  for (int r = 0; r < 8; ++r) w.route(2, 1, r * 32, 32, &a[r * 32 * 8], &wa[r * 32 * 8]);
  b = route_all(w, 2, 1, 0, 256, 8, &wb);
  EXPECT_EQ(a, b);
  EXPECT_EQ(wa, wb);
  // Another step, then back: the per-(step, layer) cache does not leak.
  route_all(w, 5, 0, 0, 16, 8);
  EXPECT_EQ(route_all(w, 2, 1, 0, 256, 8), a);
  const Workload w2(parse_workload("zipf:1.2"), 256, 8, 2, 8, nullptr, 0, 8, 4);
  EXPECT_NE(route_all(w2, 2, 1, 0, 256, 8), a) << "another seed must give another routing";
}

TEST(WorkloadGroups, ZeroTopkGroupsKeepsTheRoutesAndTracesIgnoreIt) {
  for (const char* spec : {"uniform", "zipf:1.2", "hot:0.1", "drift:1.0:5"}) {
    const Workload plain(parse_workload(spec), 64, 8, 2, 5, nullptr);
    const Workload off(parse_workload(spec), 64, 8, 2, 5, nullptr, 0, 8, 0);
    EXPECT_FALSE(off.group_limited());
    EXPECT_EQ(route_all(plain, 1, 1, 10, 200, 8), route_all(off, 1, 1, 10, 200, 8)) << spec;
    const Workload on(parse_workload(spec), 64, 8, 2, 5, nullptr, 0, 8, 2);
    EXPECT_NE(route_all(plain, 1, 1, 10, 200, 8), route_all(on, 1, 1, 10, 200, 8)) << spec;
  }
  // A trace's tokens span both groups here; --topk-groups 1 leaves them so.
  const std::string f = write_temp(
      R"({"kind":"topk","experts":4,"topk":2,"layers":1,"steps":[{"layers":[[[0,3],[1,2],[3,0]]]}]})");
  auto t = std::make_shared<Trace>(load_trace(f, 4, 2, 1, 1));
  const Workload w(parse_workload("trace:" + f), 4, 2, 1, 1, t, 0, 2, 1);
  EXPECT_FALSE(w.group_limited());
  EXPECT_EQ(route_all(w, 0, 0, 0, 3, 2), (std::vector<int32_t>{0, 3, 1, 2, 3, 0}));
  std::remove(f.c_str());
}

TEST(WorkloadGroups, BadGroupParametersNameTheOption) {
  struct Bad {
    int E, K, G, M;
    const char* names;
  } bad[] = {{16, 2, 2, 3, "--topk-groups 3 exceeds --groups 2"},
             {16, 8, 8, 1, "--topk 8 exceeds"},
             {16, 2, 4, -1, "--topk-groups must be >= 0"},
             {16, 2, 3, 1, "--groups 3 to divide --experts 16"}};
  for (const Bad& b : bad) {
    try {
      Workload w(parse_workload("zipf:1.2"), b.E, b.K, 1, 1, nullptr, 0, b.G, b.M);
      ADD_FAILURE() << b.names << ": accepted";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(b.names), std::string::npos) << e.what();
    }
  }
}

// Exact counts replay: N = 12 tokens (3 ranks x 4), K = 3, E = 6, counts summing
// to 36 with one expert at the limit N (every token takes it).
TEST(Workload, CountsTraceSummingToNKReplaysExactly) {
  const std::string f = write_temp(
      R"({"kind":"counts","experts":6,"layers":2,"steps":[{"layers":[[12,9,6,5,3,1],[6,6,6,6,6,6]]},)"
      R"({"layers":[[1,5,6,6,12,6],[0,0,12,12,12,0]]}]})");
  auto t = std::make_shared<Trace>(load_trace(f, 6, 3, 2, 2));
  Workload w(parse_workload("trace:" + f), 6, 3, 2, 7, t, 12);
  ASSERT_TRUE(w.exact_counts());
  for (int step = 0; step < 2; ++step)
    for (int l = 0; l < 2; ++l) {
      std::vector<int64_t> got(6, 0);
      for (int r = 0; r < 3; ++r) {  // rank by rank, as the run routes
        std::vector<int32_t> ids(4 * 3);
        std::vector<float> wt(4 * 3);
        w.route(step, l, r * 4, 4, ids.data(), wt.data());
        for (int tok = 0; tok < 4; ++tok) {
          std::set<int> s(ids.begin() + tok * 3, ids.begin() + tok * 3 + 3);
          EXPECT_EQ(s.size(), 3u) << "a token picks an expert twice";
        }
        for (int32_t e : ids) ++got[e];
      }
      for (int e = 0; e < 6; ++e) EXPECT_EQ(got[e], t->steps[step][l][e]) << "step " << step << " layer " << l;
    }
  // At another token count the same trace is a popularity, as before.
  Workload pop(parse_workload("trace:" + f), 6, 3, 2, 7, t, 16);
  EXPECT_FALSE(pop.exact_counts());
  std::remove(f.c_str());
  // Sums to N x K, but one expert would need 14 of 12 tokens: an error naming the trace.
  const std::string bad = write_temp(
      R"({"kind":"counts","experts":6,"layers":1,"steps":[{"layers":[[14,9,6,5,1,1]]}]})");
  auto tb = std::make_shared<Trace>(load_trace(bad, 6, 3, 1, 1));
  try {
    Workload wb(parse_workload("trace:" + bad), 6, 3, 1, 7, tb, 12);
    ADD_FAILURE() << "infeasible exact trace accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("gives expert 0 14 picks, more than the 12 tokens"), std::string::npos)
        << e.what();
  }
  std::remove(bad.c_str());
}

}  // namespace
}  // namespace wideep
