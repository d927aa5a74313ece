// The cost model of `wideep sim` (docs/sim.md): time of one rank's exchange
// from its send and receive bytes per link class (or two links pipelined chunk
// by chunk, the hierarchical hops), of its experts through a
// grouped-GEMM model (tile granularity, per-expert launch, weight reads), and
// the compute slowdown of ranks sharing cores. Pure functions of the profile.
#pragma once

#include <cstdint>

#include "runtime/sim/sim_profile.h"

namespace wideep {

enum LinkKind : int { kSameNode = 0, kCrossNode = 1 };

// Bytes one rank sends and receives in one exchange, per link class.
struct RankTraffic {
  int64_t send[2] = {0, 0};
  int64_t recv[2] = {0, 0};
};

// Which link classes a cluster has: same node when a node holds more than one
// rank, cross node when there is more than one node.
struct LinkSet {
  bool same = true, cross = false;
};

// max(send, receive) of: per direction, the slowest link class in use, each
// costing rounds * latency + bytes / bandwidth (link classes run in parallel).
double exchange_us(const SimProfile& p, const LinkSet& links, const RankTraffic& t, int rounds);

// Two links in series, chunk by chunk: the hierarchical exchange as
// DeepEP-class normal kernels run it (docs/sim.md, "Dispatch modes"). Each
// stage is one link: its latency (rounds x latency_us, paid once: the chunks
// stream) and `busy_us`, the time its whole payload occupies it (bytes / bandwidth).
struct PipeStage {
  double latency_us = 0, busy_us = 0;
};
// The payload cut into `chunks` equal chunks; chunk i leaves the first link
// back to back with chunk i-1, reaches the second link first.latency later,
// and goes on once the second link has passed chunk i-1. With a = first.busy / n,
// b = second.busy / n, L1, L2 the latencies, f_i when the first link has sent
// chunk i and g_i when the second has:
//   f_i = f_{i-1} + a,  g_i = max(f_i + L1, g_{i-1}) + b,  f_0 = g_0 = 0,
//   time = g_n + L2 = L1 + L2 + a + b + (n - 1) max(a, b)
// (g_n = max over i of i*a + L1 + (n-i+1)*b, linear in i: largest at i = 1 or n).
// One chunk is the two hops one after the other; many tend to the slower link alone.
double pipelined_us(const PipeStage& first, const PipeStage& second, int64_t chunks);
// The same with a third stage after the second (the hierarchical combine's
// row sums, which DeepEP's combine kernel does on each chunk as it lands):
// the same recurrence one stage deeper, whose longest path crosses every
// stage once and stays on the slowest one for the other n - 1 chunks:
//   time = L1 + L2 + L3 + a + b + c + (n - 1) max(a, b, c).
double pipelined_us(const PipeStage& first, const PipeStage& second, const PipeStage& third, int64_t chunks);
// Chunks of a payload of `bytes`: ceil(bytes / chunk_bytes), at least 1; 1 when
// chunk_bytes <= 0 (no pipelining).
int64_t pipeline_chunks(int64_t bytes, double chunk_bytes);

// One local expert with `pairs` (token, expert) pairs of shape H x F:
// 0 when pairs == 0, else launch + max(tiles * tile * 4HF / flops, weights / mem bw) + pairs * ns.
double expert_slot_us(const SimProfile& p, int64_t pairs, int hidden, int ffn);

// Host and expert compute slow-down when a node's ranks share cores.
double compute_scale(const SimProfile& p, int ranks_per_node);

// The counts exchange of one layer-step, as runtime/step/token_router.cc does it
// (bytes one rank receives): with lplb the smaller of the R x E allgather and
// the overlapped allreduce of E + 2P / exclusive scan of E + P counts
// (lplb_scan_bytes); waterfill alone the R x E allgather. num_slots = P.
int64_t counts_exchange_bytes(int num_ranks, int num_logical, int num_slots, bool lplb);
// Its time: one collective of rounds.gather rounds plus its bytes; the
// allgather's bytes split by link class as its peers are, the scan's on
// cross-node links when there are several nodes.
double counts_exchange_us(const SimProfile& p, const LinkSet& links, int num_ranks, int num_logical, int num_slots,
                          int ranks_per_node, bool lplb);

// --lplb-scope node's counts exchange: each rank's E counts to its node peers
// (point to point, same-node links only).
double node_counts_exchange_us(const SimProfile& p, int ranks_per_node, int num_logical);

// Bytes of one expert's weights (W1 and W2) at the profile's precision.
int64_t expert_weight_bytes(const SimProfile& p, int hidden, int ffn);

// Two-batch overlap of one layer (docs/sim.md, "Two-batch overlap"), as the
// run schedules it (runtime/step/moe_pipeline.cc, run_layer_tbo): the critical-path
// times of micro-batch A's and B's route + balance + layout (`pre_*`),
// dispatch, expert and combine, each at its own token count. Comm (dispatch,
// combine) and compute (the rest) are two resources: A.pre, then A.dispatch
// while B.pre computes; B.dispatch after A.dispatch and B.pre; A.expert after
// A.dispatch and B.pre; B.expert after A.expert and B.dispatch; A.combine
// after A.expert and B.dispatch; B.combine after B.expert and A.combine.
struct MicroBatchUs {
  double dispatch = 0, expert = 0, combine = 0;
};
// The layer's end time (from its start).
double tbo_layer_us(double pre_a_us, double pre_b_us, const MicroBatchUs& a, const MicroBatchUs& b);

// An asynchronous weight transfer's progress during one step of `step_us` on
// one rank (docs/sim.md, "EPLB moves"): per direction and link class, the
// outstanding bytes use the link at full bandwidth while the step's own
// traffic (`step_traffic`, dispatch + combine of the step) leaves it idle, and
// share it evenly with that traffic otherwise, which lengthens the step's
// exchanges by the background bytes sent meanwhile over the bandwidth.
// Decrements `remaining`; returns that lengthening (the slowest direction and class).
double background_step(const SimProfile& p, double step_us, const RankTraffic& step_traffic,
                       RankTraffic* remaining);

}  // namespace wideep
