// Deterministic values shared by the CPU and CUDA paths: expert weights are a
// function of (seed, layer, logical expert, matrix, index) and token activations
// of (seed, step, layer, global token, column), so any rank (or device) can
// regenerate them bit-identically without communication.
#pragma once

#include <cstdint>

#include "common/splitmix.h"  // splitmix64, WIDEEP_HD

namespace wideep {

// Uniform in [-1, 1) with 24 bits, exactly representable in float.
WIDEEP_HD float unit_float(uint64_t h) {
  return static_cast<float>(static_cast<int32_t>(h >> 40) - (1 << 23)) * (1.0f / (1 << 23));
}

WIDEEP_HD uint64_t mix_key(uint64_t a, uint64_t b) { return splitmix64(a ^ splitmix64(b)); }

enum : int { kMatrixW1 = 1, kMatrixW2 = 2 };

// W1 is [hidden x ffn] row-major scaled by 1/sqrt(hidden); W2 is [ffn x hidden]
// scaled by 1/sqrt(ffn): element `index` of matrix `which` of one logical expert.
WIDEEP_HD float expert_weight(uint64_t seed, int layer, int expert, int which, uint64_t index,
                              float scale) {
  uint64_t k = mix_key(mix_key(mix_key(seed, 0x57ull + layer), 0x1000ull + expert), which);
  return unit_float(mix_key(k, index)) * scale;
}

// Activation of one token row, column `col`.
WIDEEP_HD float token_activation(uint64_t seed, int step, int layer, int64_t global_token,
                                 int col) {
  uint64_t k = mix_key(mix_key(mix_key(seed, 0xA0ull + step), 0x3000ull + layer),
                       static_cast<uint64_t>(global_token));
  return unit_float(mix_key(k, static_cast<uint64_t>(col)));
}

}  // namespace wideep
