// The cost model's formulas on hand-worked numbers (docs/sim.md) and the
// profile reader's rejection of bad files.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "common/check.h"
#include "runtime/sim/sim_cost_model.h"
#include "runtime/sim/sim_profile.h"

namespace wideep {
namespace {

SimProfile profile() {
  SimProfile p;
  p.same_node = {2.0, 100.0};   // 2 us, 100 GB/s = 1e5 bytes/us
  p.cross_node = {10.0, 25.0};  // 10 us, 25 GB/s
  p.expert_launch_us = 3;
  p.tile_tokens = 64;
  p.expert_tflops = 1;          // 1e6 flops per us
  p.mem_gbps = 0;
  p.expert_ns_per_pair = 0;
  return p;
}

TEST(SimCostModel, ExchangeIsSlowestLinkOfSlowestDirection) {
  const SimProfile p = profile();
  RankTraffic t;
  t.send[kSameNode] = 1000000;   // 2 + 10 = 12 us
  t.send[kCrossNode] = 500000;   // 10 + 20 = 30 us
  t.recv[kSameNode] = 4000000;   // 2 + 40 = 42 us
  EXPECT_DOUBLE_EQ(exchange_us(p, {true, true}, t, 1), 42.0);
  EXPECT_DOUBLE_EQ(exchange_us(p, {true, true}, t, 2), 44.0);  // receive: 4 + 40
  RankTraffic none;
  EXPECT_DOUBLE_EQ(exchange_us(p, {true, true}, none, 1), 10.0);  // latency of the slowest class present
  EXPECT_DOUBLE_EQ(exchange_us(p, {true, false}, none, 1), 2.0);
}

TEST(SimCostModel, ExpertTimeHasTileSteps) {
  const SimProfile p = profile();
  // H = F = 10: 400 flops per row; one tile of 64 rows = 25600 flops = 0.0256 us.
  EXPECT_DOUBLE_EQ(expert_slot_us(p, 0, 10, 10), 0.0);
  EXPECT_DOUBLE_EQ(expert_slot_us(p, 1, 10, 10), 3.0 + 0.0256);
  EXPECT_DOUBLE_EQ(expert_slot_us(p, 64, 10, 10), 3.0 + 0.0256);
  EXPECT_DOUBLE_EQ(expert_slot_us(p, 65, 10, 10), 3.0 + 0.0512);
  // Not linear: two experts of 32 pairs cost more than one of 64.
  EXPECT_GT(2 * expert_slot_us(p, 32, 10, 10), expert_slot_us(p, 64, 10, 10));
  SimProfile m = p;
  m.mem_gbps = 1;  // weights 2*10*10*4 bytes = 800 bytes at 1e3 bytes/us = 0.8 us
  EXPECT_DOUBLE_EQ(expert_slot_us(m, 1, 10, 10), 3.8);
}

TEST(SimCostModel, CoreSharing) {
  SimProfile p = profile();
  EXPECT_DOUBLE_EQ(compute_scale(p, 8), 1.0);
  p.cores_per_node = 2;
  EXPECT_DOUBLE_EQ(compute_scale(p, 8), 4.0);
  EXPECT_DOUBLE_EQ(compute_scale(p, 1), 1.0);
}

TEST(SimCostModel, PipelinedHopsByTheMaxPlusRecurrence) {
  // 3 chunks. RDMA first: L1 = 15 us, 30 us busy in all (a = 10 per chunk);
  // NVLink forwarding second: L2 = 5 us, 60 us busy (b = 20 per chunk).
  //   f = 10, 20, 30 (RDMA has sent chunk 1, 2, 3)
  //   g1 = max(f1 + 15, 0) + 20 = 45, g2 = max(35, 45) + 20 = 65, g3 = max(45, 65) + 20 = 85
  //   time = g3 + L2 = 90 (the hops one after the other: 15 + 30 + 5 + 60 = 110)
  EXPECT_DOUBLE_EQ(pipelined_us({15, 30}, {5, 60}, 3), 90.0);
  // RDMA the slower: a = 20, b = 5: f = 20, 40, 60; g1 = 35 + 5 = 40,
  // g2 = max(55, 40) + 5 = 60, g3 = max(75, 60) + 5 = 80; time 85.
  EXPECT_DOUBLE_EQ(pipelined_us({15, 60}, {5, 15}, 3), 85.0);
  // One chunk: the hops in series, as the unpipelined model.
  EXPECT_DOUBLE_EQ(pipelined_us({15, 30}, {5, 60}, 1), 110.0);
  EXPECT_DOUBLE_EQ(pipelined_us({15, 30}, {5, 60}, 0), 110.0);
  // Many chunks: the latencies and the slower link.
  EXPECT_NEAR(pipelined_us({15, 30}, {5, 60}, 1 << 20), 80.0, 1e-3);
  // An idle second link (no latency, nothing to forward): the first alone.
  EXPECT_DOUBLE_EQ(pipelined_us({15, 30}, {}, 3), 45.0);
}

TEST(SimCostModel, PipelinedThirdStageByTheSameRecurrence) {
  // 3 chunks. NVLink L1 = 5, busy 30 (a = 10); RDMA L2 = 15, busy 60 (b = 20);
  // row sums L3 = 0, busy 90 (c = 30):
  //   f = 10, 20, 30
  //   g_i = max(f_i + 5, g_{i-1}) + 20:  g = 35, 55, 75
  //   h_i = max(g_i + 15, h_{i-1}) + 30: h1 = 50 + 30 = 80, h2 = max(70, 80) + 30 = 110,
  //                                      h3 = max(90, 110) + 30 = 140; time = h3 + L3 = 140
  // (closed form: 5 + 15 + 10 + 20 + 30 + 2 * 30 = 140).
  EXPECT_DOUBLE_EQ(pipelined_us({5, 30}, {15, 60}, {0, 90}, 3), 140.0);
  // Sums faster than both links (busy 3, c = 1): hidden but for the last
  // chunk's, g = 35, 55, 75; h = 51, 71, 91: 91, where adding them after the
  // two hops (5 + 15 + 10 + 20 + 2 * 20 = 90) would give 93.
  EXPECT_DOUBLE_EQ(pipelined_us({5, 30}, {15, 60}, {0, 3}, 3), 91.0);
  // An empty third stage is the two-stage pipeline.
  EXPECT_DOUBLE_EQ(pipelined_us({5, 30}, {15, 60}, {}, 3), pipelined_us({5, 30}, {15, 60}, 3));
  // One chunk: the three in series.
  EXPECT_DOUBLE_EQ(pipelined_us({5, 30}, {15, 60}, {0, 3}, 1), 113.0);
}

TEST(SimCostModel, PipelineChunksRoundUp) {
  EXPECT_EQ(pipeline_chunks(6000000, 2e6), 3);
  EXPECT_EQ(pipeline_chunks(6000001, 2e6), 4);
  EXPECT_EQ(pipeline_chunks(1, 2e6), 1);
  EXPECT_EQ(pipeline_chunks(0, 2e6), 1);
  EXPECT_EQ(pipeline_chunks(6000000, 0), 1);  // no pipelining
}

std::string write(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << text;
  return path;
}

TEST(SimCostModel, LplbCountsExchange) {
  // E = 1024 and P = E + 2R (docs/results.md's table): the R x E allgather
  // at 8 ranks (the scan would be larger), the allreduce + scan above.
  EXPECT_EQ(counts_exchange_bytes(8, 1024, 1040, true), 7 * 1024 * 8);
  EXPECT_EQ(counts_exchange_bytes(64, 1024, 1152, true), 8 * (2 * (1024 + 2 * 1152) + 6 * (1024 + 1152)));
  EXPECT_EQ(counts_exchange_bytes(1024, 1024, 3072, true), 442368);
  EXPECT_EQ(counts_exchange_bytes(1024, 1024, 3072, false), 1023 * 1024 * 8);  // waterfill alone
  const SimProfile p = profile();
  LinkSet many;
  many.cross = true;
  // One round either way; fewer bytes, less time.
  EXPECT_LT(counts_exchange_us(p, many, 1024, 1024, 3072, 8, true), counts_exchange_us(p, many, 1024, 1024, 3072, 8, false));
  EXPECT_DOUBLE_EQ(counts_exchange_us(p, many, 8, 1024, 1040, 8, true), counts_exchange_us(p, many, 8, 1024, 1040, 8, false));
}

TEST(SimProfile, RejectsBadFilesNamingTheOption) {
  auto expect_usage = [](const std::string& path, const std::string& what) {
    try {
      read_profile(path);
      FAIL() << "accepted " << path;
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("--profile"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  expect_usage("/no/such/profile.json", "cannot open");
  expect_usage(write("p_bad.json", "{ not json"), "not valid JSON");
  expect_usage(write("p_nolinks.json", "{\"rounds\": {}}"), "\"links\" is missing");
  expect_usage(write("p_neg.json",
                     "{\"links\": {\"same_node\": {\"latency_us\": 1, \"gbps\": -3}}}"),
               "links.same_node.gbps\" must be positive");
  const std::string ok_links =
      "\"links\": {\"same_node\": {\"latency_us\": 1, \"gbps\": 1}, \"cross_node\": {\"latency_us\": 1, \"gbps\": 1}}";
  expect_usage(write("p_pipe.json", "{" + ok_links + ", \"rounds\": {\"dispatch\": 2, \"combine\": 1, \"gather\": 1},"
                                    " \"pipeline\": {\"chunk_bytes\": -1}}"),
               "pipeline.chunk_bytes\" must be >= 0");
  expect_usage(write("p_pipe2.json", "{" + ok_links + ", \"rounds\": {\"dispatch\": 2, \"combine\": 1, \"gather\": 1},"
                                     " \"pipeline\": {}}"),
               "pipeline.chunk_bytes\" is missing");
}

TEST(SimProfile, ChunkSizeIsReadAndOptional) {
  const SimProfile h = read_profile(WIDEEP_SOURCE_DIR "/launch/profiles/h100_nvlink_8x.json");
  EXPECT_EQ(h.pipeline_chunk_bytes, 2097152.0);
  const SimProfile c = read_profile(WIDEEP_SOURCE_DIR "/launch/profiles/cpu_here.json");
  EXPECT_EQ(c.pipeline_chunk_bytes, 0.0);  // the host path runs the hops one after the other
}

}  // namespace
}  // namespace wideep
