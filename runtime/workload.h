// Synthetic and replayed routing: each token's top-k logical experts and gate
// weights, deterministic in (seed, step, layer, global token index) so the same
// seed gives the same routing whatever the rank count.
//   uniform | zipf:S | hot:FRAC | drift:S:PERIOD | trace:FILE
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace wideep {

struct WorkloadSpec {
  enum class Kind { kUniform, kZipf, kHot, kDrift, kTrace };
  Kind kind = Kind::kZipf;
  double skew = 1.2;    // zipf and drift exponent S
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
  Workload(const WorkloadSpec& spec, int experts, int topk, int layers, uint64_t seed,
           std::shared_ptr<const Trace> trace);

  // ids, weights: [num_tokens * topk] for global tokens first_token .. first_token+num_tokens-1.
  void route(int step, int layer, int64_t first_token, int num_tokens, int32_t* ids,
             float* weights) const;

  // The popularity (unnormalised probability) of each expert at (step, layer): [E].
  void popularity(int step, int layer, std::vector<double>* p) const;

 private:
  void route_sampled(int step, int layer, int64_t first_token, int num_tokens, int32_t* ids,
                     float* weights) const;
  void fill_cdf(int step, int layer, std::vector<double>* cdf) const;

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
};

}  // namespace wideep
