// runtime/check/: what proves a run right (the --check reference, fault
// injection, layer dumps). Includes io/.
//
// The local reference of --check: the exact MoE output of this rank's own
// tokens, computed without communication and without trusting the runner: the
// routing (workload), the activations (kernels/det_values.h) and the weights of
// every logical and shared expert are regenerated here from (seed, step, layer,
// global token). Weights are regenerated when needed into a cache of
// kReferenceCacheSlots experts, so that --check holds O(H*F) per rank, not
// every expert of every layer; each expert's weights serve all the tokens of
// one compare() that picked it, and those still cached go first. The input goes
// through what the wire does to it, deterministically: rounded to the compute
// dtype, through the dispatch dtype (bf16 rounding; fp8 quantized per 128
// channels, bit-identical to the kernels'), stored in the compute dtype again
// (kernels/row_bodies.h wire_roundtrip). The rest is fp32: the bf16 rounding
// of h and y (bf16 compute) is left to check_limit (runtime/step/moe_pipeline.h).
// bf16 combine rows with fp32 compute: each token's output is a sum of
// partial rows (one per rank holding some of its pairs, a grouping only the
// runner knows), each rounded to bf16 once, so it lies within
// 2^-8 * sum over its pairs |w_p y_p| of the exact sum whatever the grouping
// (|round(s) - s| <= 2^-8 |s| and sum_r |s_r| <= sum_p |w_p y_p|): that
// allowance is subtracted from each output's error (CheckResult::max_abs_err).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/wire_row.h"
#include "runtime/io/config.h"
#include "runtime/io/workload.h"

namespace wideep {

// Experts whose weights (W1 and W2, fp32) the reference keeps between uses.
constexpr int kReferenceCacheSlots = 4;
// The slots a run fills: at most one per (layer, logical or shared expert).
int64_t reference_cache_slots(const RunConfig& cfg);
// generate_expert_weights (kernels/expert_cpu.h) bit for bit, ~5x faster
// where the CPU has AVX-512 (vector; false: the plain loop, for tests). With
// a few experts cached, regenerating them is most of what --check costs.
void reference_expert_weights(uint64_t seed, int layer, int expert, int hidden, int ffn, float* w1, float* w2,
                              bool vector = true);

struct CheckResult {
  // +inf when an output is NaN or infinite. With bf16 combine rows (fp32
  // compute), the error beyond each output's rounding allowance (above).
  double max_abs_err = 0;
  double raw_abs_err = 0;  // the largest |out - reference| itself
  double scale = 0;        // max |reference| over the checked outputs
  int worst_token = -1;    // local index of the token with the largest error
};

class Reference {
 public:
  // Keeps its own copy of the workload (its routing scratch is not shared with
  // the runner's). compute: the run's compute dtype (run_dtype); the dispatch
  // dtype is cfg's --dispatch-dtype (auto: compute).
  Reference(const RunConfig& cfg, const Workload& workload, DType compute = DType::kF32);

  // Whether outputs get the bf16 combine rows' allowance (above).
  bool combine_allowance() const { return combine_allowance_; }

  // Compares out [T x H], the outputs of global tokens first_token ..
  // first_token + T - 1 at (step, layer), with the reference. A NaN or an
  // infinity in `out` gives max_abs_err = +inf.
  CheckResult compare(int step, int layer, int64_t first_token, const float* out);

  // The reference's inputs of the last compare(), for tests: x [T x H] (as
  // the experts receive it), ids and gate weights [T x K].
  const std::vector<float>& input() const { return x_; }
  const std::vector<int32_t>& topk_ids() const { return ids_; }
  const std::vector<float>& gate_weights() const { return gate_w_; }
  // The reference output [T x H] of the last compare().
  const std::vector<float>& output() const { return ref_; }
  // The weight cache, for tests and `wideep mem`: experts generated so far
  // (misses) and the bytes its slots hold now.
  int64_t weights_generated() const { return generated_; }
  int64_t cache_bytes() const;

 private:
  struct CachedExpert {
    int layer = -1, expert = -1;
    uint64_t last_use = 0;
    std::vector<float> w;  // W1 then W2, contiguous
  };
  int cached(int layer, int expert) const;  // its index in cache_, or -1
  const float* weights(int layer, int expert);  // W1 then W2; evicts the least recently used

  const RunConfig& cfg_;
  Workload workload_;
  DType compute_;
  bool combine_allowance_ = false;
  WireRow wire_;                            // the dispatch row (its x part)
  std::vector<unsigned char> token_part_;   // scratch: one token's x on the wire
  std::vector<CachedExpert> cache_;  // reference_cache_slots(cfg) entries
  uint64_t uses_ = 0;
  int64_t generated_ = 0;
  std::vector<float> x_, gate_w_;
  std::vector<int32_t> ids_;
  std::vector<float> ref_, xg_, h_, y_;
  std::vector<double> magnitude_;  // [T x H] sum over pairs |w_p y_p|, where combine_allowance_
  std::vector<int32_t> rows_;
  std::vector<float> w_;
  std::vector<int> order_;  // experts of one compare(), cached ones first
};

}  // namespace wideep
