// The local reference of --check: the exact MoE output of this rank's own
// tokens, computed without communication from the deterministic weights of
// every logical and shared expert (generated once, on first use).
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/config.h"

namespace wideep {

struct CheckResult {
  double max_abs_err = 0;
  double scale = 0;       // max |reference| over the checked outputs
  int worst_token = -1;   // local index of the token with the largest error
};

class Reference {
 public:
  explicit Reference(const RunConfig& cfg);

  // Compares out [T x H] with the reference for inputs x, ids and gate weights.
  CheckResult compare(int layer, const float* x, const int32_t* ids, const float* gate_w,
                      const float* out);

 private:
  const float* weights(int layer, int expert);  // W1 then W2, contiguous

  const RunConfig& cfg_;
  std::vector<std::vector<float>> cache_;  // [layer * (E + shared) + expert]
  std::vector<float> ref_, xg_, h_, y_;
  std::vector<int32_t> rows_;
  std::vector<float> w_;
};

}  // namespace wideep
