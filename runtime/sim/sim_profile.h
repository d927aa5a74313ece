// The link and compute parameters of `wideep sim` (--profile FILE, JSON; format
// in docs/sim.md): two link classes (same node, cross node), the chunk of the
// pipelined hierarchical hops, the grouped-GEMM expert model and host-side
// phase costs. Read and validated once; pure data.
#pragma once

#include <string>

namespace wideep {

struct LinkClass {
  double latency_us = 0;  // per round of a collective phase
  double gbps = 0;        // achieved bandwidth per rank and direction, GB/s (1e9 bytes/s)
};

struct SimProfile {
  std::string name;
  LinkClass same_node, cross_node;
  // Rounds (latencies paid) of each collective phase. dispatch_rounds counts
  // the counts round of flat and hierarchical dispatch too (counts_rounds of
  // them; low-latency dispatch has none): data rounds = dispatch - counts.
  int dispatch_rounds = 1, combine_rounds = 1, gather_rounds = 1, counts_rounds = 1;
  // Hierarchical dispatch/combine: the cross-node payload is cut into chunks of
  // about this many bytes and the NVLink hop forwards chunk i while the RDMA
  // hop moves chunk i+1 (pipelined_us). 0 (no "pipeline" section): the hops
  // run one after the other, as the host path does.
  double pipeline_chunk_bytes = 0;
  // Expert: per local expert with n > 0 pairs,
  //   launch_us + max(ceil(n / tile_tokens) * tile_tokens * 4*H*F / (tflops * 1e12),
  //                   weight_bytes / (mem_gbps * 1e9))  +  n * per_pair_ns.
  double expert_launch_us = 0;
  int tile_tokens = 1;
  double expert_tflops = 1;
  double mem_gbps = 0;          // 0: weight reads not modelled
  double weight_bytes_per_param = 4;
  double expert_ns_per_pair = 0;
  // Host phases, per layer and rank.
  double route_ns_per_token = 0;
  double layout_ns_per_pair = 0;
  double combine_ns_per_row = 0;  // final weighted sum of returned rows
  double phase_fixed_us = 0;      // fixed overhead of each of the six phases
  // Ranks of a node share this many cores for host work and experts (0: one
  // core or GPU per rank); compute is slowed by max(1, ranks_per_node / cores).
  int cores_per_node = 0;
  double balance_time_scale = 1;  // measured solve times are multiplied by this
};

// Throws UsageError naming --profile and the file for a missing, malformed or
// incomplete profile.
SimProfile read_profile(const std::string& path);

}  // namespace wideep
