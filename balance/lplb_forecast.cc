// The automatic mode's forecast at a new placement: synthetic steps drawn from
// EPLB's window (balance/lplb_forecast.h).
#include "balance/lplb_forecast.h"

#include <algorithm>
#include <cmath>

#include "common/check.h"
#include "common/splitmix.h"

namespace wideep {

namespace {

// splitmix64's stream from a seed: the same draws on every rank.
class Stream {
 public:
  explicit Stream(uint64_t seed) : s_(seed) {}
  double unit() {  // [0, 1)
    const uint64_t v = splitmix64(s_);
    s_ += 0x9E3779B97F4A7C15ull;
    return static_cast<double>(v >> 11) * 0x1.0p-53;
  }

 private:
  uint64_t s_;
};

// Inversion below a mean of 30, a rounded normal above: the forecast needs the
// noise's size right, not the Poisson's far tails.
int64_t poisson(Stream& g, double mean) {
  if (!(mean > 0)) return 0;
  if (mean < 30) {
    const double u = g.unit();
    double p = std::exp(-mean), cdf = p;
    int64_t k = 0;
    while (u >= cdf && k < 400) {
      ++k;
      p *= mean / static_cast<double>(k);
      cdf += p;
    }
    return k;
  }
  const double u1 = 1.0 - g.unit(), u2 = g.unit();  // u1 in (0, 1]
  const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  return std::max<int64_t>(0, std::llround(mean + std::sqrt(mean) * z));
}

}  // namespace

void draw_lplb_step(const Placement& p, const double* popularity, int64_t pairs_per_rank, int ranks_per_node,
                    uint64_t seed, LplbDraw* out) {
  const int R = p.num_ranks, E = p.num_logical, P = p.num_slots();
  const bool node = ranks_per_node > 1 && ranks_per_node < R;
  const int rpn = node ? ranks_per_node : 1;  // without nodes a rank is its own group
  double total = 0;
  for (int e = 0; e < E; ++e) total += std::max(0.0, popularity[e]);
  out->counts.assign(E, 0);
  out->slot_rank.assign(P, 0);
  out->slot_node.assign(P, 0);
  Stream g(seed);
  for (int e = 0; e < E; ++e) {
    const double mean = total > 0 ? static_cast<double>(pairs_per_rank) * std::max(0.0, popularity[e]) / total : 0;
    const int* cp = p.copies(e);
    const int c = p.logcnt[e];
    int64_t sum = 0;
    int covered = 0;  // ranks whose pairs of e are drawn so far
    // Copies come in slot order: one rank's, then one group's, are adjacent.
    for (int i = 0; i < c;) {
      const int grp = p.rank_of_slot(cp[i]) / rpn;
      int j = i, holders = 0;
      int64_t grp_sum = 0;
      while (j < c && p.rank_of_slot(cp[j]) / rpn == grp) {
        const int r = p.rank_of_slot(cp[j]);
        const int64_t own = poisson(g, mean);
        for (; j < c && p.rank_of_slot(cp[j]) == r; ++j) out->slot_rank[cp[j]] = own;
        grp_sum += own;
        ++holders;
      }
      const int size = std::min(R, (grp + 1) * rpn) - grp * rpn;
      grp_sum += poisson(g, mean * (size - holders));
      if (node)
        for (int q = i; q < j; ++q) out->slot_node[cp[q]] = grp_sum;
      sum += grp_sum;
      covered += size;
      i = j;
    }
    out->counts[e] = sum + poisson(g, mean * (R - covered));
  }
}

LplbVerdict lplb_global_forecast(const Placement& p, const double* popularity, int64_t pairs_per_rank,
                                 int ranks_per_node, const LplbCostModel& m, LayerLp* lp, uint64_t seed, LplbDraw* scratch, int draws) {
  WIDEEP_ASSERT(draws > 0 && lp && scratch, "lplb_global_forecast: bad input");
  scratch->routed_load.resize(p.num_ranks);
  const bool node = ranks_per_node > 1 && ranks_per_node < p.num_ranks;
  double gain_us = 0;
  for (int d = 0; d < draws; ++d) {
    draw_lplb_step(p, popularity, pairs_per_rank, ranks_per_node, splitmix64(seed + static_cast<uint64_t>(d)),
                   scratch);
    LplbGlobalView view;
    view.counts = scratch->counts.data();
    view.slot_rank = scratch->slot_rank.data();
    view.slot_node = node ? scratch->slot_node.data() : nullptr;
    view.pairs_per_rank = pairs_per_rank;
    view.ranks_per_node = ranks_per_node;
    LplbVerdict v = lplb_global_verdict(p, view, nullptr, m);
    if (v.use) {
      lp->solve(p, view.counts, view.slot_rank, view.slot_node, nullptr, -1, scratch->routed_load.data());
      v = lplb_global_verdict(p, view, lp->result().copy_tokens.data(), m);
    }
    gain_us += v.gain_us;
  }
  LplbVerdict out = lplb_verdict_of(gain_us / draws, m, p.num_slots(), true);
  out.use = out.paid;
  return out;
}

LplbForecast lplb_expect(LplbMode& lm, int layer, const Placement& p, const double* popularity, int64_t pairs_per_rank,
                 int ranks_per_node, LayerLp* lp, LplbDraw* scratch) {
  if (!lm.automatic || lm.node_scope || lm.gates.empty()) return LplbForecast::kNone;
  const uint64_t key = placement_key(p);
  const uint64_t seed = splitmix64(key ^ splitmix64(static_cast<uint64_t>(layer)));
  const LplbVerdict v = lplb_global_forecast(p, popularity, pairs_per_rank, ranks_per_node, lm.cost, lp, seed, scratch);
  const LplbForecast f = lplb_forecast_of(v);
  lm.gates[0].expect(layer, key, f);
  return f;
}

}  // namespace wideep
