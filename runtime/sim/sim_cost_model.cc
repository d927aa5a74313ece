// Link, grouped-GEMM and core-sharing formulas of the `wideep sim` cost model.
#include "runtime/sim/sim_cost_model.h"

#include <algorithm>
#include <cmath>

#include "runtime/step/token_router.h"

namespace wideep {

double exchange_us(const SimProfile& p, const LinkSet& links, const RankTraffic& t, int rounds) {
  const LinkClass* cls[2] = {&p.same_node, &p.cross_node};
  const bool present[2] = {links.same, links.cross};
  double worst = 0;
  for (const int64_t* bytes : {t.send, t.recv}) {
    double dir = 0;
    for (int c = 0; c < 2; ++c) {
      if (!present[c] && bytes[c] == 0) continue;
      // GB/s = 1e3 bytes per microsecond.
      dir = std::max(dir, rounds * cls[c]->latency_us + bytes[c] / (cls[c]->gbps * 1e3));
    }
    worst = std::max(worst, dir);
  }
  return worst;
}

double pipelined_us(const PipeStage& first, const PipeStage& second, int64_t chunks) {
  return pipelined_us(first, second, PipeStage{}, chunks);
}

double pipelined_us(const PipeStage& first, const PipeStage& second, const PipeStage& third, int64_t chunks) {
  const double n = static_cast<double>(std::max<int64_t>(1, chunks));
  const double a = first.busy_us / n, b = second.busy_us / n, c = third.busy_us / n;
  return first.latency_us + second.latency_us + third.latency_us + a + b + c + (n - 1) * std::max({a, b, c});
}

int64_t pipeline_chunks(int64_t bytes, double chunk_bytes) {
  if (chunk_bytes <= 0 || bytes <= 0) return 1;
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(static_cast<double>(bytes) / chunk_bytes)));
}

double expert_slot_us(const SimProfile& p, int64_t pairs, int hidden, int ffn) {
  if (pairs <= 0) return 0;
  const int64_t tile = p.tile_tokens;
  const double rows = static_cast<double>((pairs + tile - 1) / tile * tile);
  const double compute_us = rows * 4.0 * hidden * ffn / (p.expert_tflops * 1e6);
  const double weights_us = p.mem_gbps > 0 ? expert_weight_bytes(p, hidden, ffn) / (p.mem_gbps * 1e3) : 0;
  return p.expert_launch_us + std::max(compute_us, weights_us) + pairs * p.expert_ns_per_pair * 1e-3;
}

double compute_scale(const SimProfile& p, int ranks_per_node) {
  if (p.cores_per_node <= 0) return 1.0;
  return std::max(1.0, static_cast<double>(ranks_per_node) / p.cores_per_node);
}

int64_t counts_exchange_bytes(int num_ranks, int num_logical, int num_slots, bool lplb) {
  if (lplb && !lplb_uses_matrix(num_ranks, num_logical, num_slots))
    return lplb_scan_bytes(num_ranks, num_logical, num_slots);
  return lplb_matrix_bytes(num_ranks, num_logical);
}

double counts_exchange_us(const SimProfile& p, const LinkSet& links, int num_ranks, int num_logical, int num_slots,
                          int ranks_per_node, bool lplb) {
  const int rpn = std::max(1, std::min(ranks_per_node, num_ranks));
  RankTraffic t;
  if (lplb && !lplb_uses_matrix(num_ranks, num_logical, num_slots)) {
    const LinkKind k = num_ranks > rpn ? kCrossNode : kSameNode;
    t.send[k] = t.recv[k] = lplb_scan_bytes(num_ranks, num_logical, num_slots);
  } else {
    const int64_t row = static_cast<int64_t>(num_logical) * 8;
    t.send[kSameNode] = t.recv[kSameNode] = row * (rpn - 1);
    t.send[kCrossNode] = t.recv[kCrossNode] = row * (num_ranks - rpn);
  }
  return exchange_us(p, links, t, p.gather_rounds);
}

double node_counts_exchange_us(const SimProfile& p, int ranks_per_node, int num_logical) {
  if (ranks_per_node <= 1) return 0;
  RankTraffic t;
  t.send[kSameNode] = t.recv[kSameNode] = static_cast<int64_t>(ranks_per_node - 1) * num_logical * 8;
  return exchange_us(p, LinkSet{true, false}, t, p.gather_rounds);
}

int64_t expert_weight_bytes(const SimProfile& p, int hidden, int ffn) {
  return static_cast<int64_t>(std::llround(2.0 * hidden * ffn * p.weight_bytes_per_param));
}

double tbo_layer_us(double pre_a_us, double pre_b_us, const MicroBatchUs& a, const MicroBatchUs& b) {
  const double a_disp_end = pre_a_us + a.dispatch;                // comm
  const double b_pre_end = pre_a_us + pre_b_us;                   // compute, beside A.dispatch
  const double b_disp_end = std::max(a_disp_end, b_pre_end) + b.dispatch;
  const double a_exp_end = std::max(a_disp_end, b_pre_end) + a.expert;
  const double b_exp_end = std::max(a_exp_end, b_disp_end) + b.expert;
  const double a_comb_end = std::max(a_exp_end, b_disp_end) + a.combine;  // comm: after B.dispatch
  return std::max(b_exp_end, a_comb_end) + b.combine;
}

double background_step(const SimProfile& p, double step_us, const RankTraffic& step_traffic,
                       RankTraffic* remaining) {
  const LinkClass* cls[2] = {&p.same_node, &p.cross_node};
  double longer_us = 0;
  for (int dir = 0; dir < 2; ++dir) {
    const int64_t* step_bytes = dir == 0 ? step_traffic.send : step_traffic.recv;
    int64_t* left = dir == 0 ? remaining->send : remaining->recv;
    for (int c = 0; c < 2; ++c) {
      if (left[c] <= 0) continue;
      const double bytes_per_us = cls[c]->gbps * 1e3;
      const double idle_us = std::max(0.0, step_us - step_bytes[c] / bytes_per_us);
      const int64_t in_idle = std::min<int64_t>(left[c], static_cast<int64_t>(idle_us * bytes_per_us));
      left[c] -= in_idle;
      // Even share while both flow: the step's exchanges take their bytes'
      // time again for each background byte sent beside them.
      const int64_t shared = std::min(left[c], step_bytes[c]);
      left[c] -= shared;
      longer_us = std::max(longer_us, shared / bytes_per_us);
    }
  }
  return longer_us;
}

}  // namespace wideep
