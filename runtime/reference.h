// The local reference of --check: the exact MoE output of this rank's own
// tokens, computed without communication and without trusting the runner: the
// routing (workload), the activations (kernels/det_values.h) and the weights of
// every logical and shared expert are regenerated here from (seed, step, layer,
// global token); weights are generated once, on first use.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/config.h"
#include "runtime/workload.h"

namespace wideep {

struct CheckResult {
  double max_abs_err = 0;  // +inf when an output is NaN or infinite
  double scale = 0;        // max |reference| over the checked outputs
  int worst_token = -1;    // local index of the token with the largest error
};

class Reference {
 public:
  // Keeps its own copy of the workload (its routing scratch is not shared with the runner's).
  Reference(const RunConfig& cfg, const Workload& workload);

  // Compares out [T x H], the outputs of global tokens first_token ..
  // first_token + T - 1 at (step, layer), with the reference. A NaN or an
  // infinity in `out` gives max_abs_err = +inf.
  CheckResult compare(int step, int layer, int64_t first_token, const float* out);

  // The reference's inputs of the last compare(), for tests: x [T x H], ids and gate weights [T x K].
  const std::vector<float>& input() const { return x_; }
  const std::vector<int32_t>& topk_ids() const { return ids_; }
  const std::vector<float>& gate_weights() const { return gate_w_; }

 private:
  const float* weights(int layer, int expert);  // W1 then W2, contiguous

  const RunConfig& cfg_;
  Workload workload_;
  std::vector<std::vector<float>> cache_;  // [layer * (E + shared) + expert]
  std::vector<float> x_, gate_w_;
  std::vector<int32_t> ids_;
  std::vector<float> ref_, xg_, h_, y_;
  std::vector<int32_t> rows_;
  std::vector<float> w_;
};

}  // namespace wideep
