// SimEngine end to end on small shapes: the modes' bytes (two-batch overlap
// changes none), the low-latency overflow error, where two-batch overlap wins
// and loses, and the stall of sync / chunked / asynchronous EPLB moves.
#include <gtest/gtest.h>

#include <sstream>

#include "common/check.h"
#include "runtime/io/placement_io.h"
#include "runtime/sim/sim_engine.h"

namespace wideep {
namespace {

// An H100-like profile (launch/profiles/h100_nvlink_8x.json's numbers).
SimProfile h100() {
  SimProfile p;
  p.name = "test_h100";
  p.same_node = {5, 155};
  p.cross_node = {15, 45};
  p.dispatch_rounds = 2;
  p.counts_rounds = 1;
  p.combine_rounds = 1;
  p.gather_rounds = 1;
  p.expert_launch_us = 2;
  p.tile_tokens = 128;
  p.expert_tflops = 1100;
  p.mem_gbps = 2600;
  p.weight_bytes_per_param = 1;
  p.expert_ns_per_pair = 0.5;
  p.route_ns_per_token = 0.05;
  p.layout_ns_per_pair = 0.02;
  p.combine_ns_per_row = 0.05;
  p.phase_fixed_us = 5;
  return p;
}

RunConfig config(int ranks, int rpn, int tokens) {
  RunConfig c;
  c.experts = 64;
  c.topk = 8;
  c.hidden = 512;
  c.ffn = 1024;
  c.tokens = tokens;
  c.layers = 2;
  c.steps = 4;
  c.warmup = 1;
  c.gpus_per_node = rpn;
  c.workload_text = "zipf:1.2";
  c.num_ranks = ranks;
  return c;
}

struct Result {
  nlohmann::json summary;
  std::vector<nlohmann::json> steps, rebalances;
  SimTotals totals;
};

Result simulate(RunConfig c, const SimProfile& p) {
  validate(c, c.num_ranks);
  auto workload = std::make_shared<Workload>(c.workload, c.experts, c.topk, c.layers, c.seed, nullptr,
                                             static_cast<int64_t>(c.tokens) * c.num_ranks, c.groups, c.topk_groups);
  std::unique_ptr<Topology> topo = load_topology(c, c.num_ranks);
  SimEngine engine(c, p, workload, initial_placement(c, topo.get()), topo.get());
  RunMetrics metrics(c, "sim");
  std::ostringstream os;
  Result r;
  engine.run(&metrics, &os, &r.totals);
  std::istringstream is(os.str());
  for (std::string line; std::getline(is, line);) {
    nlohmann::json j = nlohmann::json::parse(line);
    (j["type"] == "step" ? r.steps : r.rebalances).push_back(j);
  }
  r.summary = metrics.summary_json();
  return r;
}

TEST(SimEngine, ModesBytesAndOverlapKeepsThem) {
  const SimProfile p = h100();
  int64_t cross[3] = {0, 0, 0}, total[3] = {0, 0, 0};
  const char* modes[3] = {"flat", "hierarchical", "low-latency"};
  for (int m = 0; m < 3; ++m) {
    RunConfig c = config(16, 4, 64);
    c.dispatch_mode = modes[m];
    const Result none = simulate(c, p);
    c.overlap = "tbo";
    const Result tbo = simulate(c, p);
    for (const char* key : {"dispatch_bytes", "combine_bytes", "dispatch_bytes_cross_node", "combine_bytes_cross_node"})
      EXPECT_EQ(none.summary[key], tbo.summary[key]) << modes[m] << " " << key;
    EXPECT_EQ(none.summary["dispatch_mode"], modes[m]);
    cross[m] = none.summary["dispatch_bytes_cross_node"];
    total[m] = none.summary["dispatch_bytes"];
    EXPECT_GT(cross[m], 0);
  }
  EXPECT_LT(cross[1], cross[0]);  // hierarchical: one row per destination node
  EXPECT_GT(total[2], total[0]);  // low-latency: one row per (token, expert)
}

TEST(SimEngine, WireDtypesShrinkTheBytes) {
  const SimProfile p = h100();
  RunConfig c = config(8, 4, 32);
  const Result f32 = simulate(c, p);
  c.dispatch_dtype = "fp8";
  c.combine_dtype = "bf16";
  const Result f8 = simulate(c, p);
  // Same rows; the row sizes of the formats: (512 + 16 + 64) / (2048 + 64) and 1024 / 2048.
  const double rd = f8.summary["dispatch_bytes"].get<double>() / f32.summary["dispatch_bytes"].get<double>();
  EXPECT_NEAR(rd, 592.0 / 2112.0, 1e-9);
  const double rc = f8.summary["combine_bytes"].get<double>() / f32.summary["combine_bytes"].get<double>();
  EXPECT_NEAR(rc, 0.5, 1e-9);
  EXPECT_LT(f8.summary["phases_us"]["dispatch"].get<double>(), f32.summary["phases_us"]["dispatch"].get<double>());
}

TEST(SimEngine, LowLatencyOverflowNamesTheExpert) {
  RunConfig c = config(8, 4, 32);
  c.dispatch_mode = "low-latency";
  c.ll_max_tokens = 4;  // zipf 1.2: the hottest expert gets far more
  try {
    simulate(c, h100());
    FAIL() << "no overflow reported";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--ll-max-tokens 4: expert "), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("would overflow"), std::string::npos) << e.what();
  }
  c.ll_max_tokens = 32 * 8;  // T x R: never overflows
  EXPECT_NO_THROW(simulate(c, h100()));
}

TEST(SimEngine, LowLatencyHasNoCountsRound) {
  // With nothing on the wire but latency (1 token, one node), flat's dispatch
  // pays the counts round, low-latency's does not.
  SimProfile p = h100();
  RunConfig c = config(8, 8, 2);
  c.topk = 1;
  c.experts = 8;
  const Result flat = simulate(c, p);
  c.dispatch_mode = "low-latency";
  const Result ll = simulate(c, p);
  EXPECT_NEAR(flat.summary["phases_us"]["dispatch"].get<double>() - ll.summary["phases_us"]["dispatch"].get<double>(),
              c.layers * (p.same_node.latency_us + 8.0 * 7 / (p.same_node.gbps * 1e3)), 0.5);
}

TEST(SimEngine, OverlapWinsOnLargeBatchesLosesOnSmall) {
  const SimProfile p = h100();
  for (int tokens : {8, 4096}) {
    RunConfig c = config(16, 8, tokens);
    c.hidden = 2048;
    c.steps = 2;
    const Result none = simulate(c, p);
    c.overlap = "tbo";
    const Result tbo = simulate(c, p);
    const double a = none.summary["step_us"]["p50"], b = tbo.summary["step_us"]["p50"];
    if (tokens == 8)
      EXPECT_GT(b, a) << "the fixed costs are paid twice";
    else
      EXPECT_LT(b, a) << "one micro-batch's exchange hides behind the other's experts";
    EXPECT_EQ(none.summary["overlap_hidden_us"].get<double>(), 0.0);
    EXPECT_EQ(tbo.summary["overlap"], "tbo");
    // Never slower than running the two micro-batches' phases back to back.
    for (size_t i = 0; i < tbo.steps.size(); ++i) {
      EXPECT_GE(tbo.steps[i]["overlap_hidden_us"].get<double>(), 0.0);
      EXPECT_LE(tbo.steps[i]["step_us"].get<double>(),
                tbo.totals.comm_us[i] + tbo.totals.compute_us[i] + 1e-6);
    }
  }
}

// Issue 16's shape, scaled down: a rebalance every 4 steps, 4 layers.
RunConfig eplb_config() {
  RunConfig c = config(8, 8, 64);
  c.layers = 4;
  c.hidden = 1024;
  c.ffn = 2048;
  c.steps = 12;
  c.warmup = 0;
  c.workload_text = "drift:1.2:4";
  c.balancer_text = "eplb";
  c.redundant = 8;
  c.eplb_interval = 4;
  c.eplb_window = 4;
  return c;
}

TEST(SimEngine, EplbModesStallLessAndTakeMoreSteps) {
  SimProfile p = h100();
  p.balance_time_scale = 0;  // the measured plan time would add noise to the stall
  RunConfig c = eplb_config();
  const Result sync = simulate(c, p);
  c.eplb_layers_per_chunk = 1;
  const Result chunked = simulate(c, p);
  c.eplb_async = true;
  const Result async = simulate(c, p);
  ASSERT_FALSE(sync.rebalances.empty());
  ASSERT_FALSE(chunked.rebalances.empty());
  ASSERT_FALSE(async.rebalances.empty());
  EXPECT_EQ(sync.rebalances[0]["mode"], "sync");
  EXPECT_EQ(sync.rebalances[0]["steps_to_complete"], 1);
  EXPECT_EQ(chunked.rebalances[0]["mode"], "chunked");
  EXPECT_EQ(chunked.rebalances[0]["steps_to_complete"], 4);  // one layer per step boundary
  EXPECT_EQ(async.rebalances[0]["mode"], "async");
  EXPECT_GE(async.rebalances[0]["steps_to_complete"].get<int>(), 2);
  // The same first re-plan moves the same bytes, however it moves them.
  EXPECT_EQ(sync.rebalances[0]["bytes"], chunked.rebalances[0]["bytes"]);
  EXPECT_EQ(sync.rebalances[0]["bytes"], async.rebalances[0]["bytes"]);
  const double s = sync.summary["stall_us"]["max"], ch = chunked.summary["stall_us"]["max"],
               as = async.summary["stall_us"]["max"];
  const double step = sync.summary["step_us"]["p50"];
  EXPECT_GT(s, step);   // the moves stall a step boundary
  EXPECT_LT(ch, s);     // a quarter of them per boundary
  EXPECT_LT(as, ch);    // in the background
  EXPECT_GT(s - step, 2 * (ch - step));
}

TEST(SimEngine, EplbMinGainSkipsReplans) {
  SimProfile p = h100();
  RunConfig c = eplb_config();
  c.eplb_min_gain = 1.0;  // no re-plan gains a whole unit of balancedness
  const Result r = simulate(c, p);
  ASSERT_FALSE(r.rebalances.empty());
  for (const nlohmann::json& j : r.rebalances) {
    EXPECT_TRUE(j["skipped"].get<bool>());
    EXPECT_EQ(j["bytes"], 0);
  }
  EXPECT_EQ(r.summary["rebalances"], 0);
}

}  // namespace
}  // namespace wideep
