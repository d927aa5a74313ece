// Workload generators: determinism, independence from the rank count, the
// skew of each distribution, and trace validation.
#include "runtime/workload.h"

#include <gtest/gtest.h>

#include <algorithm>
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

TEST(Workload, ParseRejectsBadSpecsNamingTheOption) {
  for (const char* bad : {"zipf", "zipf:x", "zipf:-1", "hot:0", "hot:2", "drift:1", "drift:1:0", "drift:1:2.5",
                          "trace:", "bogus", "uniform:3"}) {
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
