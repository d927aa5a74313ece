// Synthetic and replayed routing: each token's top-k logical experts and gate
// weights, deterministic in (seed, step, layer, global token index) so the same
// seed gives the same routing whatever the rank count.
//   uniform | zipf:S | hot:FRAC | drift:S:PERIOD | noise:SIGMA | trace:FILE
// noise: a fixed log-normal popularity (sigma SIGMA) that EPLB tracks well;
// what changes from step to step is only the multinomial draw of the tokens.
// Group-limited routing (--groups G --topk-groups M, DeepSeek-V3's G 8 M 4):
// a synthetic workload's token picks its top-M groups, then its top-k experts
// inside them; trace: ignores it (a trace's routing is what it is).
// A `counts` trace whose every (step, layer) sums to tokens_per_step x topk
// replays exactly: the step's per-expert counts are the trace's.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace wideep {

struct WorkloadSpec {
  enum class Kind { kUniform, kZipf, kHot, kDrift, kTrace, kNoise };
  Kind kind = Kind::kZipf;
  double skew = 1.2;    // zipf and drift exponent S; noise: SIGMA
  double hot_frac = 0;  // hot: share of all picks for the hot expert
  int period = 0;       // drift: steps between rotations of the hot set
  std::string file;     // trace
  std::string text;     // as given
};

// Throws UsageError naming --workload.
WorkloadSpec parse_workload(const std::string& text);

// A replayed trace (format in docs/usage.md and launch/traces/README.md).
struct Trace {
  enum class Kind { kTopk, kCounts };
  Kind kind = Kind::kTopk;
  int experts = 0, topk = 0, layers = 0;
  // steps[s][l]: kTopk: tokens x topk ids (flattened); kCounts: E popularity counts.
  std::vector<std::vector<std::vector<int32_t>>> steps;
};

// Reads and validates a trace file against the run's shape; throws UsageError
// naming the file and what is wrong.
Trace load_trace(const std::string& path, int experts, int topk, int layers, int steps_needed);

class Workload {
 public:
  // tokens_per_step: the global tokens of one step (ranks x --tokens); 0 when
  // unknown (no exact replay). Throws UsageError when a counts trace sums to
  // tokens_per_step x topk everywhere but cannot be replayed exactly.
  // groups, topk_groups: --groups G and --topk-groups M (0: any expert, the
  // routes as before groups existed); expert e is in group e / (experts / G),
  // as balance/eplb.cc groups them. Throws UsageError naming --topk-groups
  // when G does not divide experts, M > G or topk > M x experts / G.
  Workload(const WorkloadSpec& spec, int experts, int topk, int layers, uint64_t seed,
           std::shared_ptr<const Trace> trace, int64_t tokens_per_step = 0, int groups = 1,
           int topk_groups = 0);

  // Whether a counts trace is replayed exactly (see exact_counts_feasible()).
  bool exact_counts() const { return exact_; }
  // Whether tokens pick inside their top-M groups (--topk-groups > 0, not a trace).
  bool group_limited() const { return topk_groups_ > 0; }

  // ids, weights: [num_tokens * topk] for global tokens first_token .. first_token+num_tokens-1.
  void route(int step, int layer, int64_t first_token, int num_tokens, int32_t* ids,
             float* weights) const;

  // The popularity (unnormalised probability) of each expert at (step, layer): [E].
  void popularity(int step, int layer, std::vector<double>* p) const;

 private:
  void route_sampled(int step, int layer, int64_t first_token, int num_tokens, int32_t* ids,
                     float* weights) const;
  void route_grouped(int step, int layer, int64_t first_token, int num_tokens, int32_t* ids) const;
  void fill_cdf(int step, int layer, std::vector<double>* cdf) const;
  void route_exact(int step, int layer, int64_t first_token, int num_tokens, int32_t* ids) const;

  WorkloadSpec spec_;
  int experts_, topk_, layers_;
  uint64_t seed_;
  std::shared_ptr<const Trace> trace_;
  std::vector<std::vector<int>> rank_of_expert_;  // [layer][expert] popularity rank (zipf order)
  mutable std::vector<double> cdf_;               // scratch, reused
  // cdf_guide_[i]: the first expert e with cdf_[e] > i / E; a draw u in
  // [i/E, (i+1)/E) then finds its expert by a short scan from there, the same
  // expert std::upper_bound finds, in O(1) expected instead of O(log E).
  mutable std::vector<int32_t> cdf_guide_;
  mutable int cdf_step_ = -1, cdf_layer_ = -1;
  // Group-limited routing (route_grouped): 0 topk_groups_ when off.
  int groups_ = 1, topk_groups_ = 0;
  mutable std::vector<double> log_pop_;          // [E] log popularity at (log_step_, log_layer_)
  mutable int log_step_ = -1, log_layer_ = -1;
  mutable std::vector<double> score_, group_score_;  // [E], [G] scratch of one token
  mutable std::vector<int32_t> order_;               // scratch: group or expert indices
  // Exact counts replay: the step's N = tokens_per_step tokens take N x K picks
  // laid out expert by expert (in a seeded order); the token in slot s takes
  // picks s, s + N, ..., s + (K-1)N. An expert's run is at most N long, so no
  // token gets it twice. slot_of_token_ is a seeded permutation of [0, N).
  bool exact_ = false;
  int64_t tokens_per_step_ = 0;
  mutable std::vector<int32_t> slot_of_token_;  // [N]
  mutable std::vector<int32_t> pick_expert_;    // [N * K] expert of each pick
  mutable int exact_step_ = -1, exact_layer_ = -1;
};

// Whether a counts trace replays exactly at tokens_per_step global tokens: every
// (step, layer) of the first `steps` steps sums to tokens_per_step x topk.
// Throws UsageError (naming the trace) when it does but some count exceeds
// tokens_per_step: a token cannot pick one expert twice.
bool exact_counts_feasible(const Trace& t, const std::string& file, int64_t tokens_per_step, int steps,
                           int layers);

}  // namespace wideep
