// The dispatch modes' rows on a hand-made routing (worked out in the comments
// by the rules of DESIGN.md "Data path"), their phase sections, the two-batch
// overlap schedule and the background-transfer model.
#include <gtest/gtest.h>

#include <random>

#include "kernels/wire_row.h"
#include "runtime/sim/sim_cost_model.h"
#include "runtime/sim/sim_modes.h"

namespace wideep {
namespace {

// 4 ranks, 2 per node ({0, 1}, {2, 3}), 2 tokens per rank, 3 pairs per token.
// Rank 0: token 0 -> ranks 1, 2, 3 (slots 0, 0, 1); token 1 -> ranks 0, 2, 2
// (slots 0, 0, 1). Every other rank's pairs stay on itself (slot 0).
constexpr int kR = 4, kRpn = 2, kT = 2, kP = 3, kSlots = 2;
struct Routing {
  std::vector<int32_t> dest, slot;
  Routing() : dest(kR * kT * kP), slot(kR * kT * kP, 0) {
    for (int r = 0; r < kR; ++r)
      for (int i = 0; i < kT * kP; ++i) dest[r * kT * kP + i] = r;
    const int d0[6] = {1, 2, 3, 0, 2, 2}, s0[6] = {0, 0, 1, 0, 0, 1};
    for (int i = 0; i < 6; ++i) {
      dest[i] = d0[i];
      slot[i] = s0[i];
    }
  }
};
const WireSizes kWire{100, 40, 10};

ModeTraffic traffic(DispatchMode mode, int t0 = 0, int t1 = kT) {
  const Routing g;
  ModeTraffic t;
  t.reset(kR, kSlots, mode == DispatchMode::kLowLatency);
  add_mode_traffic(mode, kR, kRpn, kT, kP, kSlots, g.dest.data(), g.slot.data(), t0, t1, kWire, &t);
  return t;
}

TEST(SimModes, FlatOneRowPerTokenAndRemoteRank) {
  const ModeTraffic t = traffic(DispatchMode::kFlat);
  // token 0: rows to 1 (same node), 2 and 3 (cross); token 1: to 2 (cross).
  EXPECT_EQ(t.dispatch_bytes, 400);
  EXPECT_EQ(t.dispatch_bytes_cross, 300);
  EXPECT_EQ(t.combine_bytes, 40);
  EXPECT_EQ(t.combine_bytes_cross, 30);
  EXPECT_EQ(t.dispatch[0].send[kSameNode], 100);
  EXPECT_EQ(t.dispatch[0].send[kCrossNode], 300);
  EXPECT_EQ(t.dispatch[2].recv[kCrossNode], 200);
  EXPECT_EQ(t.combine[2].send[kCrossNode], 20);
  EXPECT_EQ(t.combine[0].recv[kCrossNode], 30);
  EXPECT_EQ(t.reduce_rows[0], 3 + 2);  // rows summed: token 0 from 3 ranks, token 1 from 2 (one its own)
}

TEST(SimModes, HierarchicalCrossesEachNodeOnceAndForwards) {
  const ModeTraffic t = traffic(DispatchMode::kHierarchical);
  // token 0: own node: 0 -> 1 (same); node 1: 0 -> forwarder 2 (cross), 2 -> 3 (same).
  // token 1: own node: itself; node 1: 0 -> 2 (cross), rank 2 is the only destination.
  EXPECT_EQ(t.dispatch_bytes, 400);
  EXPECT_EQ(t.dispatch_bytes_cross, 200);
  EXPECT_EQ(t.combine_bytes, 40);
  EXPECT_EQ(t.combine_bytes_cross, 20);
  EXPECT_EQ(t.dispatch[2].recv[kCrossNode], 200);
  EXPECT_EQ(t.dispatch[2].send[kSameNode], 100);  // forwarded by rank 2, counted by it
  EXPECT_EQ(t.dispatch[3].recv[kSameNode], 100);
  EXPECT_EQ(t.dispatch[3].recv[kCrossNode], 0);
  EXPECT_EQ(t.combine[3].send[kSameNode], 10);    // back to the forwarder
  EXPECT_EQ(t.combine[2].send[kCrossNode], 20);   // one row per token and node
  EXPECT_EQ(t.reduce_rows[0], 4);  // token 0: rank 1's row + node 1's; token 1: its own + node 1's
  // Rank 2: its own two tokens (one row each), and as rank 0's forwarder: its
  // own and rank 3's rows of token 0, its own of token 1.
  EXPECT_EQ(t.reduce_rows[2], 2 + 3);
}

TEST(SimModes, HierarchicalForwarderHasTheSourcesLocalIndex) {
  // Rank 1 (local index 1) sends one token to rank 2 only: the row crosses to
  // rank 3 (index 1 on node 1), which forwards it to rank 2.
  Routing g;
  for (int i = 0; i < kP; ++i) g.dest[1 * kT * kP + i] = 2;
  ModeTraffic t;
  t.reset(kR, kSlots, false);
  add_mode_traffic(DispatchMode::kHierarchical, kR, kRpn, kT, kP, kSlots, g.dest.data(), g.slot.data(), 0, 1,
                   kWire, &t);
  // Rank 0's token 0 as above (3 rows), plus 1 -> 3 (cross) and 3 -> 2 (same).
  EXPECT_EQ(t.dispatch[1].send[kCrossNode], 100);
  EXPECT_EQ(t.dispatch[3].recv[kCrossNode], 100);
  EXPECT_EQ(t.dispatch[3].send[kSameNode], 100);
  EXPECT_EQ(t.dispatch[2].recv[kSameNode], 100);
  EXPECT_EQ(t.dispatch_bytes, 500);
}

TEST(SimModes, LowLatencyOneRowPerRemotePair) {
  const ModeTraffic t = traffic(DispatchMode::kLowLatency);
  // token 0: 3 remote pairs (1 same node, 2 cross); token 1: 2 remote pairs, both cross.
  EXPECT_EQ(t.dispatch_bytes, 5 * 40);
  EXPECT_EQ(t.dispatch_bytes_cross, 4 * 40);
  EXPECT_EQ(t.combine_bytes, 5 * 10);
  EXPECT_EQ(t.combine_bytes_cross, 4 * 10);
  EXPECT_EQ(t.reduce_rows[0], 2 * kP);
  // Receive buffers per (rank, local slot): rank 2 slot 0 gets 2 rows, slot 1 one.
  EXPECT_EQ(t.ll_slot_rows[1 * kSlots + 0], 1);
  EXPECT_EQ(t.ll_slot_rows[2 * kSlots + 0], 2);
  EXPECT_EQ(t.ll_slot_rows[2 * kSlots + 1], 1);
  EXPECT_EQ(t.ll_slot_rows[3 * kSlots + 1], 1);
  EXPECT_EQ(t.ll_slot_rows[0 * kSlots + 0], 0);  // its own pair uses no buffer
}

TEST(SimModes, TokenRangesAddUp) {
  for (DispatchMode m : {DispatchMode::kFlat, DispatchMode::kHierarchical, DispatchMode::kLowLatency}) {
    const ModeTraffic all = traffic(m), a = traffic(m, 0, 1), b = traffic(m, 1, 2);
    EXPECT_EQ(all.dispatch_bytes, a.dispatch_bytes + b.dispatch_bytes);
    EXPECT_EQ(all.combine_bytes_cross, a.combine_bytes_cross + b.combine_bytes_cross);
  }
}

TEST(SimModes, RandomRoutingsHierarchicalNeverCrossesMore) {
  // Per token and remote node flat sends >= 1 row across, hierarchical exactly 1.
  std::mt19937 rng(7);
  const int R = 16, rpn = 4, T = 20, P = 6, S = 3;
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<int32_t> dest(R * T * P), slot(R * T * P);
    for (size_t i = 0; i < dest.size(); ++i) {
      dest[i] = static_cast<int32_t>(rng() % R);
      slot[i] = static_cast<int32_t>(rng() % S);
    }
    ModeTraffic f, h, l;
    f.reset(R, S, false);
    h.reset(R, S, false);
    l.reset(R, S, true);
    add_mode_traffic(DispatchMode::kFlat, R, rpn, T, P, S, dest.data(), slot.data(), 0, T, kWire, &f);
    add_mode_traffic(DispatchMode::kHierarchical, R, rpn, T, P, S, dest.data(), slot.data(), 0, T, kWire, &h);
    add_mode_traffic(DispatchMode::kLowLatency, R, rpn, T, P, S, dest.data(), slot.data(), 0, T, kWire, &l);
    EXPECT_LE(h.dispatch_bytes_cross, f.dispatch_bytes_cross);
    EXPECT_LE(h.combine_bytes_cross, f.combine_bytes_cross);
    // Every byte sent is received, per link class.
    for (const ModeTraffic* t : {&f, &h, &l}) {
      int64_t sent[2] = {0, 0}, recv[2] = {0, 0};
      for (int r = 0; r < R; ++r)
        for (int k = 0; k < 2; ++k) {
          sent[k] += t->dispatch[r].send[k];
          recv[k] += t->dispatch[r].recv[k];
        }
      EXPECT_EQ(sent[0], recv[0]);
      EXPECT_EQ(sent[1], recv[1]);
      EXPECT_EQ(sent[kCrossNode], t->dispatch_bytes_cross);
    }
  }
}

TEST(SimModes, WireSizesFollowTheRowFormats) {
  // H 256, P 8: fp32 row 1024 + 32 + 32 = 1088; fp8 256 + scales 2 x 4 padded
  // to 16 + 64 = 336; bf16 return rows 512 bytes; low-latency rows carry P = 1.
  const WireSizes f = wire_sizes(256, 8, "auto", "auto");
  EXPECT_EQ(f.row, static_cast<int64_t>(wire_row(256, 8, DType::kF32).row_bytes));
  EXPECT_EQ(f.row, 1088);
  EXPECT_EQ(f.ret, 1024);
  const WireSizes q = wire_sizes(256, 8, "fp8", "bf16");
  EXPECT_EQ(q.row, 256 + 16 + 64);
  EXPECT_EQ(q.ll_row, 256 + 16 + 16);
  EXPECT_EQ(q.ret, 512);
}

SimProfile profile() {
  SimProfile p;
  p.same_node = {2.0, 100.0};   // 1e5 bytes/us
  p.cross_node = {10.0, 25.0};  // 2.5e4 bytes/us
  p.dispatch_rounds = 2;
  p.counts_rounds = 1;
  p.combine_rounds = 1;
  p.combine_ns_per_row = 0;
  return p;
}

// 8 ranks as 2 nodes of 4, both link classes, 1 us fixed per section.
ModeCostInputs two_nodes_of_4(const SimProfile& p) {
  ModeCostInputs in;
  in.profile = &p;
  in.links = {true, true};
  in.ranks = 8;
  in.rpn = 4;
  in.fixed_us = 1;
  return in;
}

// One rank's bytes: 1e6 to its node (2 + 10 us on profile()), 5e5 across (10 + 20 us).
RankTraffic one_rank_traffic() {
  RankTraffic t;
  t.send[kSameNode] = 1000000;
  t.send[kCrossNode] = 500000;
  return t;
}

TEST(SimModes, SectionsPerMode) {
  const SimProfile p = profile();
  const ModeCostInputs in = two_nodes_of_4(p);
  const RankTraffic t = one_rank_traffic();  // same node 2 + 10 us, cross node 10 + 20 us
  // counts round: 8 bytes to 3 same-node and 4 cross-node peers: 10 + 32/25e3 us.
  const double counts = 10 + 32 / 25e3;
  EXPECT_DOUBLE_EQ(counts_round_us(in), counts);
  const PhaseSections flat = dispatch_sections(DispatchMode::kFlat, in, t);
  EXPECT_DOUBLE_EQ(flat.us[0], 1 + counts + 30);  // the two classes in parallel
  EXPECT_DOUBLE_EQ(flat.us[1], 0);
  const PhaseSections hier = dispatch_sections(DispatchMode::kHierarchical, in, t);
  EXPECT_DOUBLE_EQ(hier.us[0], 1 + counts + 30);  // cross-node hop
  EXPECT_DOUBLE_EQ(hier.us[1], 12);               // then the forwarding hop
  const PhaseSections ll = dispatch_sections(DispatchMode::kLowLatency, in, t);
  EXPECT_DOUBLE_EQ(ll.us[0], 1 + 30);  // no counts round
  // With nothing to send, flat and low-latency differ by exactly the counts round.
  const RankTraffic none;
  EXPECT_DOUBLE_EQ(dispatch_sections(DispatchMode::kFlat, in, none).total() -
                       dispatch_sections(DispatchMode::kLowLatency, in, none).total(),
                   counts);
  const PhaseSections hc = combine_sections(DispatchMode::kHierarchical, in, t, 0);
  EXPECT_DOUBLE_EQ(hc.us[0], 1 + 12);  // reduce inside the node first
  EXPECT_DOUBLE_EQ(hc.us[1], 30);
}

TEST(SimModes, HierarchicalHopsPipelinedByChunks) {
  SimProfile p = profile();
  p.pipeline_chunk_bytes = 250000;  // the 500000 cross-node bytes in 2 chunks
  ModeCostInputs in = two_nodes_of_4(p);
  // NVLink: L 2, busy 10 us (5 per chunk); RDMA: L 10, busy 20 us (10 per chunk).
  const RankTraffic t = one_rank_traffic();
  const double counts = 10 + 32 / 25e3;
  // Dispatch, RDMA first: f = 10, 20; g1 = max(10 + 10, 0) + 5 = 25,
  // g2 = max(30, 25) + 5 = 35; + L2 2 = 37 (in series: 30 + 12 = 42).
  const PhaseSections d = dispatch_sections(DispatchMode::kHierarchical, in, t);
  EXPECT_DOUBLE_EQ(d.us[0], 1 + counts + 37);
  EXPECT_DOUBLE_EQ(d.us[1], 0);
  // Combine, NVLink first (reduce inside the node): f = 5, 10;
  // g1 = max(5 + 2, 0) + 10 = 17, g2 = max(12, 17) + 10 = 27; + L2 10 = 37.
  const PhaseSections c = combine_sections(DispatchMode::kHierarchical, in, t, 0);
  EXPECT_DOUBLE_EQ(c.us[0], 1 + 37);
  EXPECT_DOUBLE_EQ(c.us[1], 0);
  // The row sums are a third stage on the same chunks (DeepEP sums each chunk
  // as it lands), not a step after the hops. combine_ns_per_row 1000 (1 us a
  // row); 4 rows: 4 us, 2 per chunk: 2 + 10 + 5 + 10 + 2 + (2 - 1) max(5, 10, 2) = 39
  // (after the hops: 37 + 4 = 41).
  p.combine_ns_per_row = 1000;
  EXPECT_DOUBLE_EQ(combine_sections(DispatchMode::kHierarchical, in, t, 4).us[0], 1 + 39);
  // 40 rows, 20 us a chunk, slower than both links: 12 + 5 + 10 + 20 + 20 = 67 (after: 77).
  EXPECT_DOUBLE_EQ(combine_sections(DispatchMode::kHierarchical, in, t, 40).us[0], 1 + 67);
  // Flat keeps its sums after its one exchange: 1 + 30 + 4.
  EXPECT_DOUBLE_EQ(combine_sections(DispatchMode::kFlat, in, t, 4).us[0], 1 + 30 + 4);
  p.combine_ns_per_row = 0;
  // Flat and low-latency forward nothing: unchanged by the chunk size.
  EXPECT_DOUBLE_EQ(dispatch_sections(DispatchMode::kFlat, in, t).us[0], 1 + counts + 30);
  EXPECT_DOUBLE_EQ(dispatch_sections(DispatchMode::kLowLatency, in, t).us[0], 1 + 30);
  // One node (no cross-node link, nothing crossing): the NVLink hop alone.
  in.links = {true, false};
  in.ranks = 4;
  RankTraffic one;
  one.send[kSameNode] = 1000000;
  EXPECT_DOUBLE_EQ(dispatch_sections(DispatchMode::kHierarchical, in, one).us[0],
                   1 + (2 + 24 / 1e5) + 12);  // counts round over NVLink to 3 peers
}

TEST(SimOverlap, TwoEqualMicroBatchesHideAThird) {
  // Comm and compute of 10 us each per micro-batch: A.d 0-10, B.d 10-20,
  // A.x 10-20, B.x 20-30, A.c 20-30, B.c 30-40; serial would take 60.
  const MicroBatchUs m{10, 10, 10};
  EXPECT_DOUBLE_EQ(tbo_layer_us(0, 0, m, m), 40.0);
  EXPECT_DOUBLE_EQ(tbo_layer_us(5, 0, m, m), 45.0);
  // B's route/balance/layout run beside A's dispatch: hidden while no longer.
  EXPECT_DOUBLE_EQ(tbo_layer_us(5, 10, m, m), 45.0);
  EXPECT_DOUBLE_EQ(tbo_layer_us(5, 15, m, m), 50.0);
}

TEST(SimOverlap, NeverSlowerThanSerialNorFasterThanEitherResource) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> u(0, 100);
  for (int i = 0; i < 1000; ++i) {
    const MicroBatchUs a{u(rng), u(rng), u(rng)}, b{u(rng), u(rng), u(rng)};
    const double pa = u(rng), pb = u(rng);
    const double t = tbo_layer_us(pa, pb, a, b);
    EXPECT_LE(t, pa + pb + a.dispatch + a.expert + a.combine + b.dispatch + b.expert + b.combine + 1e-9);
    EXPECT_GE(t, pa + a.dispatch + b.dispatch + a.combine + b.combine - 1e-9);  // the comm resource
    EXPECT_GE(t, pa + pb + a.expert + b.expert + b.combine - 1e-9);            // the compute resource
    EXPECT_GE(t, pa + a.dispatch + a.expert + a.combine + b.combine - 1e-9);   // A's chain, then B's combine
  }
}

TEST(SimOverlap, FixedCostsPaidTwiceLoseAtSmallBatches) {
  // A phase of f fixed + w work: serial f+w per phase; split in halves each
  // phase costs f + w/2. With w small next to f, overlap cannot win.
  auto serial = [](double f, double w) { return 3 * (f + w); };
  auto tbo = [](double f, double w) {
    const MicroBatchUs h{f + w / 2, f + w / 2, f + w / 2};
    return tbo_layer_us(0, 0, h, h);
  };
  EXPECT_GT(tbo(10, 1), serial(10, 1));    // decode-like: latency-bound phases
  EXPECT_LT(tbo(1, 100), serial(1, 100));  // prefill-like: work-bound phases
}

TEST(SimEplb, BackgroundUsesIdleLinkFirstThenShares) {
  const SimProfile p = profile();
  RankTraffic step;
  step.send[kSameNode] = 1000000;  // 10 us of the 100 us step on the same-node link
  RankTraffic left;
  left.send[kSameNode] = 5000000;  // fits in the 90 us idle: no slowdown
  EXPECT_DOUBLE_EQ(background_step(p, 100, step, &left), 0.0);
  EXPECT_EQ(left.send[kSameNode], 0);
  left.send[kSameNode] = 9500000;  // 9e6 in the idle time, 5e5 beside the step's exchange: +5 us
  EXPECT_DOUBLE_EQ(background_step(p, 100, step, &left), 5.0);
  EXPECT_EQ(left.send[kSameNode], 0);
  left.send[kSameNode] = 20000000;  // 9e6 idle + 1e6 shared: +10 us, 1e7 left for the next steps
  EXPECT_DOUBLE_EQ(background_step(p, 100, step, &left), 10.0);
  EXPECT_EQ(left.send[kSameNode], 10000000);
}

}  // namespace
}  // namespace wideep
