// One simulated layer-step for all ranks, the BSP step time, and EPLB
// re-placement with modelled weight transfers.
#include "runtime/sim/sim_engine.h"

#include <algorithm>
#include <cstring>

#include "balance/move_plan.h"
#include "common/check.h"
#include "common/clock.h"
#include "runtime/eplb_planner.h"

namespace wideep {
SimEngine::SimEngine(const RunConfig& cfg, const SimProfile& profile,
                     std::shared_ptr<const Workload> workload, std::vector<Placement> initial,
                     const Topology* topology)
    : cfg_(cfg), prof_(profile), workload_(std::move(workload)), placement_(std::move(initial)),
      topology_(topology), R_(cfg.num_ranks), T_(cfg.tokens), K_(cfg.topk), P_(cfg.pairs_per_token()),
      E_(cfg.experts), L_(cfg.layers), rpn_(cfg.ranks_per_node()) {
  links_.same = rpn_ > 1;
  links_.cross = R_ > rpn_;
  scale_ = compute_scale(prof_, rpn_);
  router_.init(R_, T_, K_, cfg.shared_experts, E_, cfg.balancers.lplb, cfg.balancers.waterfill, rpn_,
               rpn_);  // TokenRouter splits with the node step too (sim_router_test.cc)
  layout_.init(R_, T_, P_);
  ids_.assign(static_cast<size_t>(R_) * T_ * K_, 0);
  gate_scratch_.assign(static_cast<size_t>(T_) * K_, 0.0f);
  rank_counts_.assign(static_cast<size_t>(R_) * E_, 0);
  slot_pairs_.assign(static_cast<size_t>(R_) * (cfg.slots_per_rank + cfg.shared_experts), 0);
  load_.assign(R_, 0);
  disp_.assign(R_, {});
  comb_.assign(R_, {});
  rows_out_.assign(R_, 0);
  rank_phase_us_.assign(R_, {});
  if (cfg.balancers.eplb) window_.assign(static_cast<size_t>(cfg.eplb_window) * L_ * E_, 0);
}

void SimEngine::route(int step, int layer) {
  const size_t tk = static_cast<size_t>(T_) * K_;
  std::fill(rank_counts_.begin(), rank_counts_.end(), 0);
  for (int r = 0; r < R_; ++r) {
    int32_t* ids = &ids_[r * tk];
    workload_->route(step, layer, static_cast<int64_t>(r) * T_, T_, ids, gate_scratch_.data());
    int64_t* counts = &rank_counts_[static_cast<size_t>(r) * E_];
    for (size_t i = 0; i < tk; ++i) ++counts[ids[i]];
  }
  if (!window_.empty()) {
    int64_t* row = &window_[(static_cast<size_t>(step % cfg_.eplb_window) * L_ + layer) * E_];
    std::fill(row, row + E_, 0);
    for (int r = 0; r < R_; ++r)
      for (int e = 0; e < E_; ++e) row[e] += rank_counts_[static_cast<size_t>(r) * E_ + e];
  }
}

void SimEngine::simulate_layer(int step, int layer, StepRecord* rec, LayerCost* cost,
                               int64_t* cross_d, int64_t* cross_c, double* solve_us) {
  route(step, layer);
  const Placement& p = placement_[layer];
  router_.assign(p, ids_.data(), rank_counts_.data(), &routing_);
  *solve_us += routing_.solve_us;
  const int local_slots = cfg_.slots_per_rank + cfg_.shared_experts;
  // The run's wire rows (kernels/wire_row.h), fp32 as the host path sends them.
  const int64_t rb = static_cast<int64_t>(wire_row(cfg_.hidden, P_, DType::kF32).row_bytes);
  const int64_t hb = static_cast<int64_t>(return_row_bytes(cfg_.hidden, DType::kF32));
  std::fill(slot_pairs_.begin(), slot_pairs_.end(), 0);
  std::fill(load_.begin(), load_.end(), 0);
  for (int r = 0; r < R_; ++r) disp_[r] = comb_[r] = RankTraffic{};
  // The real layout of every rank: rows (tokens sent once per destination).
  for (int r = 0; r < R_; ++r) {
    const size_t base = static_cast<size_t>(r) * T_ * P_;
    const int32_t* dest = &routing_.pair_dest_rank[base];
    const int32_t* slot = &routing_.pair_local_slot[base];
    build_layout(dest, &layout_);
    rows_out_[r] = layout_.total_rows;
    for (int d = 0; d < R_; ++d) {
      const int64_t rows = layout_.rank_rows[d];
      if (rows == 0 || d == r) continue;
      const LinkKind k = link(r, d);
      disp_[r].send[k] += rows * rb;
      disp_[d].recv[k] += rows * rb;
      comb_[d].send[k] += rows * hb;
      comb_[r].recv[k] += rows * hb;
      rec->dispatch_bytes += rows * rb;
      rec->combine_bytes += rows * hb;
      if (k == kCrossNode) {
        *cross_d += rows * rb;
        *cross_c += rows * hb;
      }
    }
    for (int i = 0; i < T_ * P_; ++i) {
      ++load_[dest[i]];
      ++slot_pairs_[static_cast<size_t>(dest[i]) * local_slots + slot[i]];
    }
  }
  // Balancedness exactly as `wideep run` reduces it: mean/max of pairs processed.
  int64_t mx = 0, sum = 0;
  for (int r = 0; r < R_; ++r) {
    mx = std::max(mx, load_[r]);
    sum += load_[r];
    rec->load_mismatches += routing_.expected_load[r] >= 0 && routing_.expected_load[r] != load_[r];
  }
  const double b = mx > 0 ? static_cast<double>(sum) / R_ / mx : 1.0;
  rec->layer_balancedness[static_cast<size_t>(layer)] = b;
  rec->balancedness += b / L_;
  rec->max_rank_load += mx;
  // Phase times of every rank, then the BSP critical path of the layer.
  const double fixed = prof_.phase_fixed_us;
  const double balance_measured = (routing_.solve_us + routing_.assign_us / R_) * prof_.balance_time_scale;
  // The counts exchange as the run does it (sim_cost_model.h): lplb's O(E + P)
  // allreduce + scan, or the R x E allgather.
  const double gather_us =
      router_.needs_counts() ? counts_exchange_us(prof_, links_, R_, E_, p.num_slots(), rpn_, cfg_.balancers.lplb)
                             : 0;
  *cost = LayerCost{};
  double pre_max = 0;
  for (int r = 0; r < R_; ++r) {
    std::array<double, kNumPhases> ph{};
    ph[kRoute] = fixed + T_ * prof_.route_ns_per_token * 1e-3 * scale_;
    ph[kBalance] = fixed + balance_measured * scale_ + gather_us;
    ph[kLayout] = fixed + static_cast<double>(T_) * P_ * prof_.layout_ns_per_pair * 1e-3 * scale_;
    ph[kDispatch] = fixed + exchange_us(prof_, links_, disp_[r], prof_.dispatch_rounds);
    double ex = 0;
    for (int s = 0; s < local_slots; ++s)
      ex += expert_slot_us(prof_, slot_pairs_[static_cast<size_t>(r) * local_slots + s], cfg_.hidden, cfg_.ffn);
    ph[kExpert] = fixed + ex * scale_;
    ph[kCombine] = fixed + exchange_us(prof_, links_, comb_[r], prof_.combine_rounds) +
                   rows_out_[r] * prof_.combine_ns_per_row * 1e-3 * scale_;
    pre_max = std::max(pre_max, ph[kRoute] + ph[kBalance] + ph[kLayout]);
    for (int q = 0; q < kNumPhases; ++q) {
      cost->max_us[q] = std::max(cost->max_us[q], ph[q]);
      rank_phase_us_[r][q] += ph[q];
    }
  }
  cost->layer_us = pre_max + cost->max_us[kDispatch] + cost->max_us[kExpert] + cost->max_us[kCombine];
}

// As EplbManager::maybe_rebalance: after step `step` when due, plan from the
// window of global counts, then the weight moves cost their bytes over the links.
bool SimEngine::maybe_rebalance(int step, RebalanceRecord* rec) {
  if (window_.empty() || (step + 1) % cfg_.eplb_interval != 0) return false;
  *rec = RebalanceRecord{};
  rec->step = step;
  const double t0 = now_us();
  std::vector<double> loads(static_cast<size_t>(L_) * E_, 0.0);
  const int filled = std::min(step + 1, cfg_.eplb_window);
  for (int w = 0; w < filled; ++w)
    for (size_t i = 0; i < loads.size(); ++i) loads[i] += static_cast<double>(window_[w * loads.size() + i]);
  std::vector<Placement> fresh = plan_placement(cfg_, loads, topology_, placement_);
  rec->plan_us = (now_us() - t0) * prof_.balance_time_scale * scale_;
  const MovePlan mp = plan_weight_moves(placement_, fresh, rpn_);
  const int64_t slot_bytes = expert_weight_bytes(prof_, cfg_.hidden, cfg_.ffn);
  std::vector<RankTraffic> moves(R_);
  for (const WeightMove& m : mp.transfers) {
    const LinkKind k = link(m.src_rank, m.dst_rank);
    moves[m.src_rank].send[k] += slot_bytes;
    moves[m.dst_rank].recv[k] += slot_bytes;
  }
  for (int r = 0; r < R_; ++r) rec->transfer_us = std::max(rec->transfer_us, exchange_us(prof_, links_, moves[r], 1));
  rec->transfers = static_cast<int64_t>(mp.transfers.size());
  rec->naive_transfers = mp.naive_transfers;
  rec->local_copies = static_cast<int64_t>(mp.local_copies.size());
  rec->bytes = rec->transfers * slot_bytes;
  rec->sent_bytes = rec->bytes;  // the modelled transfers move exactly the plan
  placement_ = std::move(fresh);
  return true;
}

void SimEngine::run(RunMetrics* metrics, std::ostream* json, SimTotals* totals) {
  const double wall0 = now_us();
  StepRecord warmup_record;  // warm-up steps are simulated, not recorded
  for (int step = 0; step < cfg_.total_steps(); ++step) {
    if (step < cfg_.warmup) warmup_record.reset(L_);
    StepRecord& r = step < cfg_.warmup ? warmup_record : metrics->next_step();
    r.step = step;
    for (auto& ph : rank_phase_us_) ph.fill(0);
    int64_t cross_d = 0, cross_c = 0;
    double solve_us = 0;
    for (int l = 0; l < L_; ++l) {
      LayerCost c;
      simulate_layer(step, l, &r, &c, &cross_d, &cross_c, &solve_us);
      r.step_us += c.layer_us;
    }
    for (int q = 0; q < R_; ++q)
      for (int p = 0; p < kNumPhases; ++p) r.phases_us[p] = std::max(r.phases_us[p], rank_phase_us_[q][p]);
    RebalanceRecord rec;
    if (maybe_rebalance(step, &rec)) {
      metrics->add_rebalance(rec);
      if (json) {
        nlohmann::json j = metrics->rebalance_json(rec);
        j["simulated"] = true;
        *json << j.dump() << "\n";
      }
    }
    if (step < cfg_.warmup) continue;
    totals->dispatch_bytes_cross += cross_d;
    totals->combine_bytes_cross += cross_c;
    totals->solve_us.push_back(solve_us / L_);
    if (json) {
      nlohmann::json j = metrics->step_json(r);
      j["simulated"] = true;
      j["dispatch_bytes_cross_node"] = cross_d;
      j["combine_bytes_cross_node"] = cross_c;
      j["solve_us"] = solve_us / L_;
      *json << j.dump() << "\n";
    }
  }
  totals->lp_warm_tried = router_.lp_stats().warm_tried;
  totals->lp_warm_kept = router_.lp_stats().warm_kept;
  totals->wall_s = (now_us() - wall0) * 1e-6;
}

}  // namespace wideep
