// Workload generators: popularity per (step, layer), sampling of k distinct
// experts per token by sequential draws without replacement (or, group-limited,
// top-M groups then top-k experts by per-token scores), and trace replay.
#include "runtime/io/workload.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/check.h"
#include "kernels/det_values.h"
#include "runtime/io/json_file.h"

namespace wideep {
namespace {

double to_double(const std::string& s, const std::string& what) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != 0 || !std::isfinite(v))
    throw UsageError("--workload " + what + ": '" + s + "' is not a number");
  return v;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) out.push_back(cur);
  if (!s.empty() && s.back() == sep) out.push_back("");
  return out;
}

// A JSON whole number in [lo, hi], else a UsageError: nlohmann's get<int> would
// truncate 1.5 silently and cast 1e300 with undefined behaviour (docs/reliability.md).
int64_t json_int(const nlohmann::json& v, int64_t lo, int64_t hi, const std::string& what) {
  if (!v.is_number_integer()) throw UsageError(what + " must be a whole number");
  const bool above = v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi);
  const int64_t x = above ? hi : v.get<int64_t>();
  if (above || x < lo || x > hi)
    throw UsageError(what + " " + v.dump() + " is outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return x;
}

inline double unit_double(uint64_t h) { return static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0); }

// A standard Gumbel variate from a hash: -log(-log u), u in (0, 1) strictly
// (the midpoint of the hash's 2^53 cells), so it is always finite.
inline double gumbel(uint64_t h) {
  const double u = (static_cast<double>(h >> 11) + 0.5) * (1.0 / 9007199254740992.0);
  return -std::log(-std::log(u));
}

// Indices [0, n) with the `keep` highest scores first (ties: the lower index),
// so the choice is deterministic.
void top_indices(const double* score, int n, int keep, std::vector<int32_t>* order) {
  order->resize(n);
  for (int i = 0; i < n; ++i) (*order)[i] = i;
  std::partial_sort(order->begin(), order->begin() + keep, order->end(), [score](int32_t a, int32_t b) {
    return score[a] > score[b] || (score[a] == score[b] && a < b);
  });
}

}  // namespace

WorkloadSpec parse_workload(const std::string& text) {
  WorkloadSpec w;
  w.text = text;
  const std::vector<std::string> f = split(text, ':');
  const std::string& kind = f.empty() ? text : f[0];
  auto want = [&](size_t n, const char* form) {
    if (f.size() != n) throw UsageError("--workload '" + text + "': expected " + form);
  };
  if (kind == "uniform") {
    want(1, "uniform");
    w.kind = WorkloadSpec::Kind::kUniform;
  } else if (kind == "zipf") {
    want(2, "zipf:S");
    w.kind = WorkloadSpec::Kind::kZipf;
    w.skew = to_double(f[1], "zipf:S");
    if (w.skew < 0 || w.skew > 10) throw UsageError("--workload zipf:S needs 0 <= S <= 10");
  } else if (kind == "hot") {
    want(2, "hot:FRAC");
    w.kind = WorkloadSpec::Kind::kHot;
    w.hot_frac = to_double(f[1], "hot:FRAC");
    if (!(w.hot_frac > 0 && w.hot_frac <= 1)) throw UsageError("--workload hot:FRAC needs 0 < FRAC <= 1");
  } else if (kind == "drift") {
    want(3, "drift:S:PERIOD");
    w.kind = WorkloadSpec::Kind::kDrift;
    w.skew = to_double(f[1], "drift:S");
    const double period = to_double(f[2], "drift:PERIOD");
    if (w.skew < 0 || w.skew > 10) throw UsageError("--workload drift:S needs 0 <= S <= 10");
    if (period < 1 || period != std::floor(period) || period > 1e9)
      throw UsageError("--workload drift:S:PERIOD needs a whole PERIOD >= 1");
    w.period = static_cast<int>(period);
  } else if (kind == "noise") {
    want(2, "noise:SIGMA");
    w.kind = WorkloadSpec::Kind::kNoise;
    w.skew = to_double(f[1], "noise:SIGMA");
    if (!(w.skew >= 0 && w.skew <= 4)) throw UsageError("--workload noise:SIGMA needs 0 <= SIGMA <= 4");
  } else if (kind == "trace") {
    w.kind = WorkloadSpec::Kind::kTrace;
    w.file = text.size() > 6 ? text.substr(6) : "";
    if (w.file.empty()) throw UsageError("--workload trace:FILE needs a file");
  } else {
    throw UsageError("--workload '" + text +
                     "': unknown workload (uniform, zipf:S, hot:FRAC, drift:S:PERIOD, noise:SIGMA, trace:FILE)");
  }
  return w;
}

Trace load_trace(const std::string& path, int experts, int topk, int layers, int steps_needed) {
  const std::string where = "--workload trace:" + path;
  const nlohmann::json j = read_json_file(path, where);
  Trace t;
  try {
    if (!j.is_object()) throw UsageError(where + ": the top level must be an object");
    const std::string kind = j.at("kind").get<std::string>();
    if (kind == "topk") t.kind = Trace::Kind::kTopk;
    else if (kind == "counts") t.kind = Trace::Kind::kCounts;
    else throw UsageError(where + ": \"kind\" must be \"topk\" or \"counts\"");
    t.experts = static_cast<int>(json_int(j.at("experts"), 1, INT32_MAX, where + ": \"experts\""));
    t.topk = t.kind == Trace::Kind::kTopk ? static_cast<int>(json_int(j.at("topk"), 1, INT32_MAX, where + ": \"topk\"")) : topk;
    t.layers = static_cast<int>(json_int(j.at("layers"), 1, INT32_MAX, where + ": \"layers\""));
    if (t.experts != experts)
      throw UsageError(where + ": trace has " + std::to_string(t.experts) + " experts, --experts is " + std::to_string(experts));
    if (t.topk != topk)
      throw UsageError(where + ": trace has topk " + std::to_string(t.topk) + ", --topk is " + std::to_string(topk));
    if (t.layers < layers)
      throw UsageError(where + ": trace has " + std::to_string(t.layers) + " layers, --layers is " + std::to_string(layers));
    const auto& steps = j.at("steps");
    if (!steps.is_array()) throw UsageError(where + ": \"steps\" must be an array");
    if (static_cast<int>(steps.size()) < steps_needed)
      throw UsageError(where + ": trace has " + std::to_string(steps.size()) + " steps, the run needs " +
                       std::to_string(steps_needed) + " (--warmup + --steps)");
    for (size_t s = 0; s < static_cast<size_t>(steps_needed); ++s) {
      const auto& ls = steps[s].at("layers");
      if (!ls.is_array() || static_cast<int>(ls.size()) < layers)
        throw UsageError(where + ": step " + std::to_string(s) + " has fewer layers than --layers");
      std::vector<std::vector<int32_t>> step_layers;
      for (int l = 0; l < layers; ++l) {
        std::vector<int32_t> flat;
        const auto& d = ls[l];
        if (!d.is_array() || d.empty())
          throw UsageError(where + ": step " + std::to_string(s) + " layer " + std::to_string(l) + " is empty or not an array");
        if (t.kind == Trace::Kind::kTopk) {
          for (const auto& tok : d) {
            if (!tok.is_array() || static_cast<int>(tok.size()) != topk)
              throw UsageError(where + ": step " + std::to_string(s) + " layer " + std::to_string(l) + ": every token needs " + std::to_string(topk) + " expert ids");
            for (size_t k = 0; k < tok.size(); ++k) {
              const int e = static_cast<int>(json_int(tok[k], 0, experts - 1, where + ": step " + std::to_string(s) + ": expert id"));
              for (size_t q = 0; q < k; ++q)
                if (flat[flat.size() - k + q] == e)
                  throw UsageError(where + ": step " + std::to_string(s) + ": a token names expert " + std::to_string(e) + " twice");
              flat.push_back(e);
            }
          }
        } else {
          if (static_cast<int>(d.size()) != experts)
            throw UsageError(where + ": step " + std::to_string(s) + " layer " + std::to_string(l) + " needs " + std::to_string(experts) + " counts");
          int positive = 0;
          for (const auto& c : d) {
            const int64_t v = json_int(c, 0, INT32_MAX, where + ": count in step " + std::to_string(s));
            positive += v > 0;
            flat.push_back(static_cast<int32_t>(v));
          }
          if (positive < topk)
            throw UsageError(where + ": step " + std::to_string(s) + " layer " + std::to_string(l) + " has fewer than --topk experts with a positive count");
        }
        step_layers.push_back(std::move(flat));
      }
      t.steps.push_back(std::move(step_layers));
    }
  } catch (const nlohmann::json::exception& e) {
    throw UsageError(where + ": malformed trace (" + e.what() + ")");
  }
  return t;
}

bool exact_counts_feasible(const Trace& t, const std::string& file, int64_t tokens_per_step, int steps,
                           int layers) {
  if (t.kind != Trace::Kind::kCounts || tokens_per_step <= 0) return false;
  const int64_t want = tokens_per_step * t.topk;
  for (int s = 0; s < steps; ++s)
    for (int l = 0; l < layers; ++l) {
      int64_t sum = 0;
      for (int32_t c : t.steps[s][l]) sum += c;
      if (sum != want) return false;  // a popularity trace, as before exact replay existed
    }
  // Every step sums to N x K: the user asks for exact replay, so an impossible
  // count is an error rather than a silent fallback.
  for (int s = 0; s < steps; ++s)
    for (int l = 0; l < layers; ++l)
      for (size_t e = 0; e < t.steps[s][l].size(); ++e)
        if (t.steps[s][l][e] > tokens_per_step)
          throw UsageError("--workload trace:" + file + ": step " + std::to_string(s) + " layer " +
                           std::to_string(l) + " gives expert " + std::to_string(e) + " " +
                           std::to_string(t.steps[s][l][e]) + " picks, more than the " +
                           std::to_string(tokens_per_step) +
                           " tokens of a step (ranks x --tokens): a token picks an expert at most once, "
                           "so the counts cannot be replayed exactly (they sum to ranks x --tokens x --topk)");
  return true;
}

Workload::Workload(const WorkloadSpec& spec, int experts, int topk, int layers, uint64_t seed,
                   std::shared_ptr<const Trace> trace, int64_t tokens_per_step, int groups, int topk_groups)
    : spec_(spec), experts_(experts), topk_(topk), layers_(layers), seed_(seed), trace_(std::move(trace)) {
  if (topk_groups < 0) throw UsageError("--topk-groups must be >= 0");
  if (topk_groups > 0) {
    if (groups <= 0 || experts % groups != 0)
      throw UsageError("--topk-groups needs --groups " + std::to_string(groups) + " to divide --experts " +
                       std::to_string(experts));
    if (topk_groups > groups)
      throw UsageError("--topk-groups " + std::to_string(topk_groups) + " exceeds --groups " + std::to_string(groups));
    if (static_cast<int64_t>(topk) > static_cast<int64_t>(topk_groups) * (experts / groups))
      throw UsageError("--topk " + std::to_string(topk) + " exceeds the experts of --topk-groups " +
                       std::to_string(topk_groups) + " groups of " + std::to_string(experts / groups));
    // A trace's routing is what it is: group limits apply to synthetic workloads.
    if (spec_.kind != WorkloadSpec::Kind::kTrace) {
      groups_ = groups;
      topk_groups_ = topk_groups;
    }
  }
  if (spec_.kind == WorkloadSpec::Kind::kTrace && trace_) {
    exact_ = exact_counts_feasible(*trace_, spec_.file, tokens_per_step, static_cast<int>(trace_->steps.size()),
                                   layers);
    tokens_per_step_ = exact_ ? tokens_per_step : 0;
  }
  // A per-layer permutation so that the hot experts differ by layer.
  rank_of_expert_.resize(layers);
  for (int l = 0; l < layers; ++l) {
    std::vector<int> order(experts);
    for (int e = 0; e < experts; ++e) order[e] = e;
    for (int i = experts - 1; i > 0; --i) {
      const uint64_t h = mix_key(mix_key(seed, 0x7E57ull + l), i);
      std::swap(order[i], order[h % static_cast<uint64_t>(i + 1)]);
    }
    rank_of_expert_[l].assign(experts, 0);
    for (int r = 0; r < experts; ++r) rank_of_expert_[l][order[r]] = r;
  }
  cdf_.assign(experts, 0.0);
}

void Workload::popularity(int step, int layer, std::vector<double>* p) const {
  p->assign(experts_, 1.0);
  const std::vector<int>& rank = rank_of_expert_[layer];
  switch (spec_.kind) {
    case WorkloadSpec::Kind::kUniform: break;
    case WorkloadSpec::Kind::kZipf:
      for (int e = 0; e < experts_; ++e) (*p)[e] = std::pow(rank[e] + 1.0, -spec_.skew);
      break;
    case WorkloadSpec::Kind::kNoise:
      // Fixed log-normal popularity per (seed, layer): exp(SIGMA * z), z standard
      // normal (Box-Muller); nothing moves between steps, so what EPLB's window
      // cannot foresee is the multinomial draw of each step's tokens.
      for (int e = 0; e < experts_; ++e) {
        const uint64_t h = mix_key(mix_key(seed_, 0x401Full + layer), e);
        const double u1 = 1.0 - unit_double(splitmix64(h)), u2 = unit_double(splitmix64(h + 1));
        const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
        (*p)[e] = std::exp(spec_.skew * z);
      }
      break;
    case WorkloadSpec::Kind::kDrift: {
      const int shift = std::max(1, experts_ / 8) * (step / spec_.period);
      for (int e = 0; e < experts_; ++e)
        (*p)[e] = std::pow((rank[e] + shift) % experts_ + 1.0, -spec_.skew);
      break;
    }
    case WorkloadSpec::Kind::kHot: {
      // Marginal pick rate: the hot expert in min(1, FRAC*K) of tokens, the rest uniform.
      const double q = std::min(1.0, spec_.hot_frac * topk_);
      for (int e = 0; e < experts_; ++e)
        (*p)[e] = rank[e] == 0 ? q : (topk_ - q) / (experts_ - 1);
      break;
    }
    case WorkloadSpec::Kind::kTrace: {
      const std::vector<int32_t>& d = trace_->steps[step][layer];
      if (trace_->kind == Trace::Kind::kCounts) {
        for (int e = 0; e < experts_; ++e) (*p)[e] = d[e];
      } else {
        std::fill(p->begin(), p->end(), 0.0);
        for (int32_t e : d) (*p)[e] += 1.0;
      }
      break;
    }
  }
}

void Workload::fill_cdf(int step, int layer, std::vector<double>* cdf) const {
  popularity(step, layer, cdf);
  double acc = 0;
  for (double& v : *cdf) v = (acc += v);
  for (double& v : *cdf) v /= acc;
}

void Workload::route(int step, int layer, int64_t first_token, int num_tokens, int32_t* ids,
                     float* weights) const {
  const int K = topk_;
  if (spec_.kind == WorkloadSpec::Kind::kTrace && trace_->kind == Trace::Kind::kTopk) {
    const std::vector<int32_t>& d = trace_->steps[step][layer];
    const int64_t n = static_cast<int64_t>(d.size()) / K;
    for (int t = 0; t < num_tokens; ++t) {
      const int64_t src = (first_token + t) % n;
      for (int k = 0; k < K; ++k) ids[t * K + k] = d[src * K + k];
    }
  } else if (exact_) {
    route_exact(step, layer, first_token, num_tokens, ids);
  } else if (topk_groups_ > 0) {
    route_grouped(step, layer, first_token, num_tokens, ids);
  } else {
    route_sampled(step, layer, first_token, num_tokens, ids, weights);
  }
  // Gate weights: positive, normalised per token, from the token's own key.
  for (int t = 0; t < num_tokens; ++t) {
    const uint64_t key = mix_key(mix_key(mix_key(seed_, 0x6A7Eull + step), layer), first_token + t);
    float sum = 0;
    for (int k = 0; k < K; ++k) sum += (weights[t * K + k] = 0.5f + static_cast<float>(unit_double(mix_key(key, k))));
    for (int k = 0; k < K; ++k) weights[t * K + k] /= sum;
  }
}

void Workload::route_exact(int step, int layer, int64_t first_token, int num_tokens, int32_t* ids) const {
  const int K = topk_, E = experts_;
  const int64_t N = tokens_per_step_;
  WIDEEP_ASSERT(first_token >= 0 && first_token + num_tokens <= N, "exact replay: token outside the step");
  if (step != exact_step_ || layer != exact_layer_) {
    const uint64_t key = mix_key(mix_key(mix_key(seed_, 0xE1AC7ull + step), 0x700ull + layer), 0x51u);
    // Experts in a seeded order, so that no expert is always first in the layout.
    std::vector<int32_t> order(E);
    for (int e = 0; e < E; ++e) order[e] = e;
    for (int i = E - 1; i > 0; --i) std::swap(order[i], order[mix_key(key, i) % static_cast<uint64_t>(i + 1)]);
    pick_expert_.clear();
    pick_expert_.reserve(static_cast<size_t>(N) * K);
    const std::vector<int32_t>& d = trace_->steps[step][layer];
    for (int32_t e : order) pick_expert_.insert(pick_expert_.end(), static_cast<size_t>(d[e]), e);
    WIDEEP_ASSERT(static_cast<int64_t>(pick_expert_.size()) == N * K, "exact replay: counts do not sum to N x K");
    // A seeded permutation of the slots, so that a rank's tokens (contiguous
    // global indices) get a random share of every expert.
    slot_of_token_.resize(static_cast<size_t>(N));
    for (int64_t g = 0; g < N; ++g) slot_of_token_[g] = static_cast<int32_t>(g);
    const uint64_t pkey = mix_key(key, 0x9E77ull);
    for (int64_t i = N - 1; i > 0; --i)
      std::swap(slot_of_token_[i], slot_of_token_[mix_key(pkey, static_cast<uint64_t>(i)) % static_cast<uint64_t>(i + 1)]);
    exact_step_ = step;
    exact_layer_ = layer;
  }
  for (int t = 0; t < num_tokens; ++t) {
    const int64_t s = slot_of_token_[first_token + t];
    for (int k = 0; k < K; ++k) ids[static_cast<size_t>(t) * K + k] = pick_expert_[s + k * N];
  }
}

void Workload::route_sampled(int step, int layer, int64_t first_token, int num_tokens, int32_t* ids,
                             float*) const {
  const int K = topk_, E = experts_;
  const bool hot = spec_.kind == WorkloadSpec::Kind::kHot;
  if (!hot && (step != cdf_step_ || layer != cdf_layer_)) {
    fill_cdf(step, layer, &cdf_);
    cdf_guide_.resize(E);
    for (int i = 0, e = 0; i < E; ++i) {
      const double lo = static_cast<double>(i) / E;
      while (e < E && cdf_[e] <= lo) ++e;
      cdf_guide_[i] = e;
    }
    cdf_step_ = step;
    cdf_layer_ = layer;
  }
  int hot_expert = 0;
  if (hot)
    for (int e = 0; e < E; ++e)
      if (rank_of_expert_[layer][e] == 0) hot_expert = e;
  const double hot_rate = std::min(1.0, spec_.hot_frac * K);
  for (int t = 0; t < num_tokens; ++t) {
    int32_t* out = ids + static_cast<size_t>(t) * K;
    uint64_t state = mix_key(mix_key(mix_key(seed_, 0xB0ull + step), 0x900ull + layer), first_token + t);
    int n = 0;
    if (hot && unit_double(state = splitmix64(state)) < hot_rate) out[n++] = hot_expert;
    // Sequential draws without replacement (rejection of repeats); a bounded
    // number of tries, then the lowest unused experts, keeps it deterministic.
    for (int tries = 0; n < K && tries < 64 * K; ++tries) {
      const double u = unit_double(state = splitmix64(state));
      int e;
      if (hot) {
        e = static_cast<int>(u * (E - 1));
        if (e >= hot_expert) ++e;
      } else {
        // The first e with cdf_[e] > u (std::upper_bound), from the guide; one
        // bucket early, so that rounding in u * E can never start past it.
        e = cdf_guide_[std::max(std::min(static_cast<int>(u * E), E - 1) - 1, 0)];
        while (e < E && cdf_[e] <= u) ++e;
        if (e >= E) e = E - 1;
      }
      bool dup = false;
      for (int q = 0; q < n; ++q) dup |= out[q] == e;
      if (!dup) out[n++] = e;
    }
    for (int e = 0; n < K; ++e) {
      bool dup = false;
      for (int q = 0; q < n; ++q) dup |= out[q] == e;
      if (!dup) out[n++] = e;
    }
  }
}

// Group-limited routing. A sampled workload has no router logits, so it gets
// per-token scores from its popularity p (popularity()): token t's score of
// expert e is s_e = log p_e + g_e, g_e a standard Gumbel variate keyed by
// (seed, step, layer, global token, e). Without groups, the top-k of these
// scores is a sample of k distinct experts drawn in proportion to p without
// replacement (the Gumbel-top-k trick), the distribution route_sampled draws
// from, so the popularity skew carries over. With groups, as DeepSeek-V3's
// router does with its affinities: a group's score is the sum of its top-2
// expert scores (its top-1 when a group holds one expert; equal-sized groups,
// so we rank by the mean, which orders them as the sum does and also covers the
// excluded expert below), the token keeps its top-M groups and takes its top-k
// experts inside them. hot:FRAC keeps its meaning: with probability
// min(1, FRAC k) the token takes the hot expert (its score is +inf, so its
// group is among the M), otherwise the hot expert is excluded (score -inf,
// left out of its group's score; taken only if the M groups hold fewer than k
// other experts) and the others are uniform.
void Workload::route_grouped(int step, int layer, int64_t first_token, int num_tokens, int32_t* ids) const {
  const int K = topk_, E = experts_, G = groups_, M = topk_groups_, size = E / G;
  const bool hot = spec_.kind == WorkloadSpec::Kind::kHot;
  if (step != log_step_ || layer != log_layer_) {
    if (hot) {
      log_pop_.assign(E, 0.0);  // uniform apart from the hot expert, handled per token
    } else {
      popularity(step, layer, &log_pop_);
      for (double& v : log_pop_) v = v > 0 ? std::log(v) : -HUGE_VAL;
    }
    log_step_ = step;
    log_layer_ = layer;
  }
  int hot_expert = -1;
  if (hot)
    for (int e = 0; e < E; ++e)
      if (rank_of_expert_[layer][e] == 0) hot_expert = e;
  const double hot_rate = std::min(1.0, spec_.hot_frac * K);
  score_.resize(E);
  group_score_.resize(G);
  std::vector<double> picked(static_cast<size_t>(M) * size);  // scores of the chosen groups' experts
  std::vector<int32_t> best;                                    // indices into picked
  for (int t = 0; t < num_tokens; ++t) {
    // Its own stream (0xC0 + step), apart from route_sampled's (0xB0 + step).
    uint64_t state = mix_key(mix_key(mix_key(seed_, 0xC0ull + step), 0x900ull + layer), first_token + t);
    const bool take_hot = hot && unit_double(state = splitmix64(state)) < hot_rate;
    for (int e = 0; e < E; ++e) score_[e] = log_pop_[e] + gumbel(state = splitmix64(state));
    if (hot) score_[hot_expert] = take_hot ? HUGE_VAL : -HUGE_VAL;
    for (int g = 0; g < G; ++g) {
      // Mean of the group's top-2 finite scores (+inf stays +inf); -inf when none.
      double top1 = -HUGE_VAL, top2 = -HUGE_VAL;
      int n = 0;
      for (int e = g * size; e < (g + 1) * size; ++e) {
        const double v = score_[e];
        if (v == -HUGE_VAL) continue;
        ++n;
        if (v > top1) {
          top2 = top1;
          top1 = v;
        } else if (v > top2) {
          top2 = v;
        }
      }
      group_score_[g] = n == 0 ? -HUGE_VAL : n == 1 ? top1 : 0.5 * top1 + 0.5 * top2;
    }
    top_indices(group_score_.data(), G, M, &order_);
    // The chosen groups in index order, their experts' scores side by side, so
    // that a tie goes to the lower expert id; then the top-k of those.
    std::sort(order_.begin(), order_.begin() + M);
    for (int q = 0; q < M; ++q)
      std::copy_n(score_.data() + static_cast<size_t>(order_[q]) * size, size,
                  picked.data() + static_cast<size_t>(q) * size);
    top_indices(picked.data(), M * size, K, &best);
    int32_t* out = ids + static_cast<size_t>(t) * K;
    for (int k = 0; k < K; ++k) out[k] = order_[best[k] / size] * size + best[k] % size;
  }
}

}  // namespace wideep
