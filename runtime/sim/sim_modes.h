// The wire traffic of the three dispatch modes (flat, hierarchical,
// low-latency) from the pairs' destination ranks, byte for byte as the run
// counts it (the rules of DESIGN.md "Data path"), and each mode's phase time
// as a sequence of synchronised sections (docs/sim.md, "Dispatch modes").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/sim/sim_cost_model.h"
#include "runtime/sim/sim_profile.h"

namespace wideep {

enum class DispatchMode { kFlat, kHierarchical, kLowLatency };
// "flat" | "hierarchical" | "low-latency" (validated by config.cc before).
DispatchMode parse_dispatch_mode(const std::string& text);

// Wire sizes of one row (kernels/wire_row.h): the dispatch row wire_row(H, P,
// dd), the low-latency row wire_row(H, 1, dd), the return row.
struct WireSizes {
  int64_t row = 0, ll_row = 0, ret = 0;
};
WireSizes wire_sizes(int hidden, int pairs_per_token, const std::string& dispatch_dtype,
                     const std::string& combine_dtype);

// One layer's traffic for a range of every rank's tokens. Every rank's sends
// and receives per link class (a hierarchical stage uses one class only, so
// one RankTraffic per rank holds both of its hops), the rows each rank sums in
// the combine, and the totals the run reports (remote; cross-node part).
struct ModeTraffic {
  std::vector<RankTraffic> dispatch, combine;  // [R]
  std::vector<int64_t> reduce_rows;            // [R] rows summed: own tokens' returns + forwarded partials
  std::vector<int64_t> ll_slot_rows;           // low-latency: [R * local_slots] rows received from other ranks
  // low-latency: [R * local_slots] the most rows one source rank sends there
  // (the run's buffer has one region per source: runtime/step/ll_plan.h), and the
  // most tokens a source had in one call (its region's row cap).
  std::vector<int64_t> ll_source_max;
  int ll_tokens = 0;
  int64_t dispatch_bytes = 0, combine_bytes = 0;
  int64_t dispatch_bytes_cross = 0, combine_bytes_cross = 0;
  void reset(int ranks, int local_slots, bool ll);
};

// Adds the traffic of tokens [t0, t1) of every rank. pair_dest / pair_slot:
// [R * T * P] destination rank and local slot of each (token, pair) (the
// router's output); rpn ranks per node (node(r) = r / rpn).
void add_mode_traffic(DispatchMode mode, int ranks, int rpn, int tokens, int pairs, int local_slots,
                      const int32_t* pair_dest, const int32_t* pair_slot, int t0, int t1, const WireSizes& w,
                      ModeTraffic* out);

// One rank's phase as synchronised sections: the phase ends at the sum over
// sections of the slowest rank's section (each hop waits for every sender).
constexpr int kMaxSections = 2;
struct PhaseSections {
  double us[kMaxSections] = {0, 0};
  double total() const { return us[0] + us[1]; }
};

// The inputs of a rank's dispatch and combine times besides its traffic.
struct ModeCostInputs {
  const SimProfile* profile = nullptr;
  LinkSet links;
  int ranks = 1, rpn = 1;
  double fixed_us = 0;       // host.phase_fixed_us
  double compute_scale = 1;  // for the combine's row sums
};

// Time of the counts round (one int64 to every other rank, rounds.counts rounds).
double counts_round_us(const ModeCostInputs& in);
// Time over one link class only: per direction rounds x latency + bytes / bandwidth,
// the slower direction; 0 where the class is absent and carries nothing.
// hop_stage: the same as a pipeline stage (its latency and busy parts).
PipeStage hop_stage(const SimProfile& p, const LinkSet& links, const RankTraffic& t, int rounds, LinkKind k);
double hop_us(const SimProfile& p, const LinkSet& links, const RankTraffic& t, int rounds, LinkKind k);

// flat: [fixed + counts round + one exchange over both classes in parallel];
// hierarchical: [fixed + counts round + cross-node hop], [intra-node hop], or
// with profile.pipeline_chunk_bytes > 0 [fixed + counts round + the two hops
// pipelined chunk by chunk (pipelined_us)]; low-latency: [fixed + one
// exchange], no counts round. Data rounds are rounds.dispatch - rounds.counts.
PhaseSections dispatch_sections(DispatchMode mode, const ModeCostInputs& in, const RankTraffic& t);
// flat, low-latency: [fixed + one exchange + row sums]; hierarchical:
// [fixed + intra-node hop], [cross-node hop + row sums], or pipelined (as
// dispatch, the intra-node hop first) [fixed + the two hops and the row sums
// as three pipeline stages: the sums run on each chunk as it lands]; the row
// sums are reduce_rows x combine_ns_per_row x compute_scale.
PhaseSections combine_sections(DispatchMode mode, const ModeCostInputs& in, const RankTraffic& t,
                               int64_t reduce_rows);

}  // namespace wideep
