// Reference MoE output per expert batch with the same FFN as the experts, from
// inputs regenerated here (routing, activations), never taken from the runner,
// and taken through the wire's deterministic rounding (runtime/check/reference.h).
#include "runtime/check/reference.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/det_values.h"
#include "kernels/expert_cpu.h"
#include "kernels/row_bodies.h"

namespace wideep {
namespace {

// One matrix of expert_weight (kernels/det_values.h). Inlined into each
// variant below, so that the compiler vectorizes it for that one's target.
inline __attribute__((always_inline)) void fill_matrix(uint64_t seed, int layer, int expert, int which, float scale,
                                                       float* w, size_t n) {
  for (size_t i = 0; i < n; ++i) w[i] = expert_weight(seed, layer, expert, which, i, scale);
}
void fill_matrix_plain(uint64_t seed, int layer, int expert, int which, float scale, float* w, size_t n) {
  fill_matrix(seed, layer, expert, which, scale, w, n);
}
// The hash's 64-bit multiplies vectorize only with AVX-512 DQ (vpmullq).
__attribute__((target("avx512f,avx512dq"))) void fill_matrix_avx512(uint64_t seed, int layer, int expert, int which,
                                                                   float scale, float* w, size_t n) {
  fill_matrix(seed, layer, expert, which, scale, w, n);
}

}  // namespace

void reference_expert_weights(uint64_t seed, int layer, int expert, int hidden, int ffn, float* w1, float* w2,
                              bool vector) {
  static const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
  auto* fill = vector && avx512 ? fill_matrix_avx512 : fill_matrix_plain;
  const size_t n = static_cast<size_t>(hidden) * ffn;
  // The scales of generate_expert_weights (kernels/expert_cpu.cc), computed alike.
  fill(seed, layer, expert, kMatrixW1, 1.0f / std::sqrt(static_cast<float>(hidden)), w1, n);
  fill(seed, layer, expert, kMatrixW2, 1.0f / std::sqrt(static_cast<float>(ffn)), w2, n);
}

int64_t reference_cache_slots(const RunConfig& cfg) {
  return std::min<int64_t>(kReferenceCacheSlots, static_cast<int64_t>(cfg.layers) * (cfg.experts + cfg.shared_experts));
}

Reference::Reference(const RunConfig& cfg, const Workload& workload, DType compute)
    : cfg_(cfg),
      workload_(workload),
      compute_(compute),
      wire_(wire_row(cfg.hidden, cfg.pairs_per_token(),
                     resolve_wire_dtype(cfg.dispatch_dtype, compute, "--dispatch-dtype", true))) {
  token_part_.assign(wire_.slot_offset, 0);
  combine_allowance_ = compute == DType::kF32 &&
                       resolve_wire_dtype(cfg.combine_dtype, compute, "--combine-dtype", false) == DType::kBF16;
  cache_.resize(static_cast<size_t>(reference_cache_slots(cfg)));
  order_.reserve(static_cast<size_t>(cfg.experts + cfg.shared_experts));
  const size_t T = cfg.tokens, H = cfg.hidden, F = cfg.ffn, K = cfg.topk;
  x_.assign(T * H, 0.0f);
  ids_.assign(T * K, 0);
  gate_w_.assign(T * K, 0.0f);
  ref_.assign(T * H, 0.0f);
  if (combine_allowance_) magnitude_.assign(T * H, 0.0);
  xg_.assign(T * H, 0.0f);
  y_.assign(T * H, 0.0f);
  h_.assign(T * F, 0.0f);
  rows_.assign(T, 0);
  w_.assign(T, 0.0f);
}

int64_t Reference::cache_bytes() const {
  int64_t n = 0;
  for (const CachedExpert& c : cache_) n += static_cast<int64_t>(c.w.size() * sizeof(float));
  return n;
}

int Reference::cached(int layer, int expert) const {
  for (size_t i = 0; i < cache_.size(); ++i)
    if (cache_[i].layer == layer && cache_[i].expert == expert) return static_cast<int>(i);
  return -1;
}

const float* Reference::weights(int layer, int expert) {
  const int hit = cached(layer, expert);
  CachedExpert* slot = hit >= 0 ? &cache_[static_cast<size_t>(hit)] : nullptr;
  if (!slot) {
    // An empty slot has last_use 0: it goes before any used one.
    slot = &*std::min_element(cache_.begin(), cache_.end(),
                              [](const CachedExpert& a, const CachedExpert& b) { return a.last_use < b.last_use; });
    const size_t n = static_cast<size_t>(cfg_.hidden) * cfg_.ffn;
    slot->w.resize(2 * n);
    reference_expert_weights(cfg_.seed, layer, expert, cfg_.hidden, cfg_.ffn, slot->w.data(), slot->w.data() + n);
    slot->layer = layer;
    slot->expert = expert;
    ++generated_;
  }
  slot->last_use = ++uses_;
  return slot->w.data();
}

CheckResult Reference::compare(int step, int layer, int64_t first_token, const float* out) {
  const int T = cfg_.tokens, K = cfg_.topk, H = cfg_.hidden, F = cfg_.ffn;
  const size_t n = static_cast<size_t>(H) * F;
  // The inputs, as DESIGN.md defines them: a runner that routes or builds
  // activations from anything but (seed, step, layer, global token) differs here.
  workload_.route(step, layer, first_token, T, ids_.data(), gate_w_.data());
  for (int t = 0; t < T; ++t)
    for (int c = 0; c < H; ++c)
      x_[static_cast<size_t>(t) * H + c] = token_activation(cfg_.seed, step, layer, first_token + t, c);
  if (compute_ != DType::kF32 || wire_.dtype != DType::kF32)
    for (int t = 0; t < T; ++t) {
      float* xt = &x_[static_cast<size_t>(t) * H];
      wire_roundtrip(xt, H, compute_, wire_, token_part_.data(), xt);
    }
  const float* x = x_.data();
  const int32_t* ids = ids_.data();
  const float* gate_w = gate_w_.data();
  std::fill(ref_.begin(), ref_.end(), 0.0f);
  std::fill(magnitude_.begin(), magnitude_.end(), 0.0);
  // Experts whose weights are cached first: a miss evicts the least recently
  // used, so the cached ones must be used before the others evict them.
  order_.clear();
  for (int e = 0; e < cfg_.experts + cfg_.shared_experts; ++e) order_.push_back(e);
  std::stable_partition(order_.begin(), order_.end(), [&](int e) { return cached(layer, e) >= 0; });
  for (int e : order_) {
    int rows = 0;
    for (int t = 0; t < T; ++t) {
      if (e >= cfg_.experts) {  // shared expert: every token, weight 1
        rows_[rows] = t;
        w_[rows++] = 1.0f;
        continue;
      }
      for (int k = 0; k < K; ++k)
        if (ids[t * K + k] == e) {
          rows_[rows] = t;
          w_[rows++] = gate_w[t * K + k];
        }
    }
    if (rows == 0) continue;
    for (int i = 0; i < rows; ++i)
      std::memcpy(&xg_[static_cast<size_t>(i) * H], x + static_cast<size_t>(rows_[i]) * H, sizeof(float) * H);
    const float* w = weights(layer, e);
    expert_ffn_cpu(xg_.data(), rows, H, F, w, w + n, h_.data(), y_.data());
    for (int i = 0; i < rows; ++i) {
      float* dst = &ref_[static_cast<size_t>(rows_[i]) * H];
      const float* y = &y_[static_cast<size_t>(i) * H];
      for (int c = 0; c < H; ++c) dst[c] += w_[i] * y[c];
      if (combine_allowance_) {
        double* m = &magnitude_[static_cast<size_t>(rows_[i]) * H];
        for (int c = 0; c < H; ++c) m[c] += std::fabs(static_cast<double>(w_[i]) * y[c]);
      }
    }
  }
  CheckResult r;
  for (int t = 0; t < T; ++t) {
    for (int c = 0; c < H; ++c) {
      const size_t i = static_cast<size_t>(t) * H + c;
      const double raw = std::fabs(static_cast<double>(out[i]) - ref_[i]);
      // bf16 combine rows: what their rounding can explain (2^-8 of the pairs' magnitudes) is not an error.
      double err = raw;
      if (combine_allowance_) {
        // Hierarchical dispatch rounds twice (each rank's partial row, then its
        // node's sum at the forwarder): 2^-8 (sum_r |s_r| + sum_n |s_n|) <=
        // (2 + 2^-8) 2^-8 of the pairs' magnitudes (docs/usage.md "Dispatch modes").
        const double roundings = cfg_.dispatch_mode == "hierarchical" ? 2 + std::ldexp(1.0, -8) : 1;
        err = raw - roundings * std::ldexp(magnitude_[i], -8);
        if (err < 0) err = 0;  // NaN stays NaN
      }
      r.raw_abs_err = std::isnan(raw) ? INFINITY : std::max(r.raw_abs_err, raw);
      r.scale = std::max(r.scale, static_cast<double>(std::fabs(ref_[i])));
      if (!(err <= r.max_abs_err)) {  // also catches NaN (a comparison with NaN is false)
        r.max_abs_err = std::isfinite(err) ? err : INFINITY;
        r.worst_token = t;
      }
    }
  }
  return r;
}

}  // namespace wideep
