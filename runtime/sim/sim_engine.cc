// One simulated layer-step for all ranks (rows of the dispatch mode, per
// micro-batch with two-batch overlap), the BSP step time, and EPLB
// re-placement with modelled weight transfers: sync, chunked, asynchronous.
#include "runtime/sim/sim_engine.h"

#include "runtime/step/lplb_mode.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "balance/move_plan.h"
#include "common/check.h"
#include "common/clock.h"
#include "runtime/eplb/eplb_planner.h"

namespace wideep {
SimEngine::SimEngine(const RunConfig& cfg, const SimProfile& profile,
                     std::shared_ptr<const Workload> workload, std::vector<Placement> initial,
                     const Topology* topology)
    : cfg_(cfg), prof_(profile), workload_(std::move(workload)), placement_(std::move(initial)),
      topology_(topology), R_(cfg.num_ranks), T_(cfg.tokens), K_(cfg.topk), P_(cfg.pairs_per_token()),
      E_(cfg.experts), L_(cfg.layers), rpn_(cfg.ranks_per_node()), S_(cfg.slots_per_rank + cfg.shared_experts),
      next_layer_(cfg.layers) {
  links_.same = rpn_ > 1;
  links_.cross = R_ > rpn_;
  scale_ = compute_scale(prof_, rpn_);
  mode_ = parse_dispatch_mode(cfg.dispatch_mode);
  wire_ = wire_sizes(cfg.hidden, P_, cfg.dispatch_dtype, cfg.combine_dtype);
  ll_capacity_ = cfg.ll_max_tokens > 0 ? cfg.ll_max_tokens : T_ * R_;
  // --overlap tbo: tokens [0, A) and [A, T) of every rank, as the run splits them.
  const int first_tokens = cfg.tbo_first_tokens();
  num_mbs_ = cfg.overlap == "tbo" ? 2 : 1;
  for (int m = 0; m < num_mbs_; ++m) {
    MicroBatch& b = mbs_[m];
    b.first = m == 0 ? 0 : first_tokens;
    b.tokens = num_mbs_ == 1 ? T_ : (m == 0 ? first_tokens : T_ - first_tokens);
    // The split's node step as TokenRouter's (sim_router_test.cc): rpn_ again.
    b.router.init(RouterShape{R_, b.tokens, K_, cfg.shared_experts, E_, rpn_, cfg.balancers.lplb,
                              cfg.balancers.waterfill},
                  rpn_);
    if (cfg.balancers.lplb) {
      // The run's model (runtime/step/lplb_mode.h), not the profile's: the automatic
      // mode decides as the run does (tests/sim.cmake compares the two).
      const LplbCostModel lc = lplb_cost_for_run(cfg);
      b.router.set_lplb_mode(cfg.lplb_node_scope(), cfg.lplb_automatic() ? &lc : nullptr, L_);
    }
    b.ids.assign(static_cast<size_t>(R_) * b.tokens * K_, 0);
    b.rank_counts.assign(static_cast<size_t>(R_) * E_, 0);
  }
  gate_scratch_.assign(static_cast<size_t>(T_) * K_, 0.0f);
  slot_pairs_.assign(static_cast<size_t>(R_) * S_, 0);
  load_.assign(R_, 0);
  step_traffic_.assign(R_, {});
  rank_phase_us_.assign(R_, {});
  if (cfg.balancers.eplb) window_.assign(static_cast<size_t>(cfg.eplb_window) * L_ * E_, 0);
}

void SimEngine::route(int step, int layer) {
  for (int m = 0; m < num_mbs_; ++m) {
    MicroBatch& b = mbs_[m];
    const size_t tk = static_cast<size_t>(b.tokens) * K_;
    std::fill(b.rank_counts.begin(), b.rank_counts.end(), 0);
    for (int r = 0; r < R_; ++r) {
      int32_t* ids = &b.ids[r * tk];
      workload_->route(step, layer, static_cast<int64_t>(r) * T_ + b.first, b.tokens, ids, gate_scratch_.data());
      int64_t* counts = &b.rank_counts[static_cast<size_t>(r) * E_];
      for (size_t i = 0; i < tk; ++i) ++counts[ids[i]];
    }
  }
  if (!window_.empty()) {
    int64_t* row = &window_[(static_cast<size_t>(step % cfg_.eplb_window) * L_ + layer) * E_];
    std::fill(row, row + E_, 0);
    for (int m = 0; m < num_mbs_; ++m)
      for (int r = 0; r < R_; ++r)
        for (int e = 0; e < E_; ++e) row[e] += mbs_[m].rank_counts[static_cast<size_t>(r) * E_ + e];
  }
}

// As the run (runtime/step/ll_plan.h): a slot's capacity is split into one region
// per source rank of min(capacity / R, T) rows; a source that would put more
// rows into its region overflows it.
void SimEngine::check_ll_capacity(int step, int layer, const ModeTraffic& t) const {
  const int64_t region = std::min<int64_t>(ll_capacity_ / R_, t.ll_tokens);
  for (int d = 0; d < R_; ++d)
    for (int s = 0; s < S_; ++s) {
      const int64_t rows = t.ll_source_max[static_cast<size_t>(d) * S_ + s];
      if (rows <= region) continue;
      const std::string expert =
          s < cfg_.slots_per_rank
              ? "expert " + std::to_string(placement_[layer].phy2log[d * cfg_.slots_per_rank + s])
              : "shared expert " + std::to_string(s - cfg_.slots_per_rank);
      throw UsageError("--ll-max-tokens " + std::to_string(ll_capacity_) + ": " + expert + " (rank " +
                       std::to_string(d) + ", local slot " + std::to_string(s) + ", layer " + std::to_string(layer) +
                       ") would receive " + std::to_string(rows) + " rows from one rank at step " +
                       std::to_string(step) + (num_mbs_ > 1 ? " (one micro-batch)" : "") +
                       ", more than its region of " + std::to_string(region) +
                       " rows per source: its low-latency receive buffer would overflow");
    }
}

void SimEngine::simulate_layer(int step, int layer, StepRecord* rec, LayerCost* cost, double* solve_us,
                               NodeSpread* spread) {
  route(step, layer);
  const Placement& p = placement_[layer];
  const int M = num_mbs_;
  for (int m = 0; m < M; ++m) {
    MicroBatch& b = mbs_[m];
    b.router.assign(p, b.ids.data(), b.rank_counts.data(), &b.routing);
    *solve_us += b.routing.solve_us;
    if (spread) spread->merge(node_spread(b.routing.pair_dest_rank.data(), static_cast<int64_t>(R_) * b.tokens, P_, rpn_));
  }
  // Balancedness exactly as `wideep run` reduces it: mean/max of pairs
  // processed; a layer's expected load is its micro-batches' sum (-1: unknown).
  std::fill(load_.begin(), load_.end(), 0);
  for (int m = 0; m < M; ++m)
    for (int32_t d : mbs_[m].routing.pair_dest_rank) ++load_[d];
  int64_t mx = 0, sum = 0;
  for (int r = 0; r < R_; ++r) {
    mx = std::max(mx, load_[r]);
    sum += load_[r];
    int64_t expected = 0;
    for (int m = 0; m < M; ++m) {
      const int64_t e = mbs_[m].routing.expected_load[r];
      expected = expected < 0 || e < 0 ? -1 : expected + e;
    }
    rec->load_mismatches += expected >= 0 && expected != load_[r];
  }
  const double bal = mx > 0 ? static_cast<double>(sum) / R_ / mx : 1.0;
  rec->layer_balancedness[static_cast<size_t>(layer)] = bal;
  rec->balancedness += bal / L_;
  rec->max_rank_load += mx;
  if (!rec->rank_load.empty())
    for (int r = 0; r < R_; ++r) rec->rank_load[r] += load_[r];

  const double fixed = prof_.phase_fixed_us;
  ModeCostInputs in;
  in.profile = &prof_;
  in.links = links_;
  in.ranks = R_;
  in.rpn = rpn_;
  in.fixed_us = fixed;
  in.compute_scale = scale_;
  // Each micro-batch (the whole layer without overlap): route, balance and
  // layout at its token count, then its rows, experts and exchanges.
  MicroBatchUs mb[2];
  double pre[2] = {0, 0};
  for (int m = 0; m < M; ++m) {
    const MicroBatch& b = mbs_[m];
    const int32_t* dest = b.routing.pair_dest_rank.data();
    const int32_t* slot = b.routing.pair_local_slot.data();
    const double balance_measured = (b.routing.solve_us + b.routing.assign_us / R_) * prof_.balance_time_scale;
    // The counts exchange as the run does it (sim_cost_model.h): lplb's O(E + P)
    // allreduce + scan, or the R x E allgather; with --lplb-scope node the
    // exchange inside the node (the R x E allgather where waterfill needs
    // it); none where the automatic mode skipped the layer-step.
    const bool lplb = cfg_.balancers.lplb, node_scope = lplb && cfg_.lplb_node_scope();
    const bool matrix = cfg_.balancers.waterfill && (node_scope || (lplb && cfg_.lplb_automatic()));
    const double gather_us = !b.router.needs_counts() ? 0
                             : node_scope && !matrix ? node_counts_exchange_us(prof_, rpn_, E_)
                             : counts_exchange_us(prof_, links_, R_, E_, p.num_slots(), rpn_, lplb && !matrix);
    rec->lplb_skipped += b.routing.lplb_skipped;
    for (int r = 0; r < R_; ++r) {
      std::array<double, kNumPhases>& ph = rank_phase_us_[r];
      const double route_us = fixed + b.tokens * prof_.route_ns_per_token * 1e-3 * scale_;
      // Node scope: the rank's node's plan and its own split, as that rank runs them.
      const double measured =
          b.routing.scope_us[r] >= 0 ? b.routing.scope_us[r] * prof_.balance_time_scale : balance_measured;
      const double balance_us = fixed + measured * scale_ + (b.routing.exchanged[r] ? gather_us : 0);
      const double layout_us = fixed + static_cast<double>(b.tokens) * P_ * prof_.layout_ns_per_pair * 1e-3 * scale_;
      ph[kRoute] += route_us;
      ph[kBalance] += balance_us;
      ph[kLayout] += layout_us;
      pre[m] = std::max(pre[m], route_us + balance_us + layout_us);
    }
    ModeTraffic& tr = mb_traffic_;
    tr.reset(R_, S_, mode_ == DispatchMode::kLowLatency);
    add_mode_traffic(mode_, R_, rpn_, b.tokens, P_, S_, dest, slot, 0, b.tokens, wire_, &tr);
    if (mode_ == DispatchMode::kLowLatency) check_ll_capacity(step, layer, tr);
    rec->dispatch_bytes += tr.dispatch_bytes;
    rec->combine_bytes += tr.combine_bytes;
    rec->dispatch_bytes_cross_node += tr.dispatch_bytes_cross;
    rec->combine_bytes_cross_node += tr.combine_bytes_cross;
    std::fill(slot_pairs_.begin(), slot_pairs_.end(), 0);
    for (size_t i = 0; i < b.routing.pair_dest_rank.size(); ++i)
      ++slot_pairs_[static_cast<size_t>(dest[i]) * S_ + slot[i]];
    PhaseSections disp_max, comb_max;
    double expert_max = 0;
    for (int r = 0; r < R_; ++r) {
      const PhaseSections d = dispatch_sections(mode_, in, tr.dispatch[r]);
      const PhaseSections c = combine_sections(mode_, in, tr.combine[r], tr.reduce_rows[r]);
      double ex = 0;
      for (int s = 0; s < S_; ++s)
        ex += expert_slot_us(prof_, slot_pairs_[static_cast<size_t>(r) * S_ + s], cfg_.hidden, cfg_.ffn);
      const double expert_us = fixed + ex * scale_;
      for (int k = 0; k < kMaxSections; ++k) {
        disp_max.us[k] = std::max(disp_max.us[k], d.us[k]);
        comb_max.us[k] = std::max(comb_max.us[k], c.us[k]);
      }
      expert_max = std::max(expert_max, expert_us);
      std::array<double, kNumPhases>& ph = rank_phase_us_[r];
      ph[kDispatch] += d.total();
      ph[kExpert] += expert_us;
      ph[kCombine] += c.total();
      if (!rec->rank_dispatch_bytes.empty()) {
        rec->rank_dispatch_bytes[r] += tr.dispatch[r].send[0] + tr.dispatch[r].send[1];
        rec->rank_combine_bytes[r] += tr.combine[r].send[0] + tr.combine[r].send[1];
      }
      for (int k = 0; k < 2; ++k) {
        step_traffic_[r].send[k] += tr.dispatch[r].send[k] + tr.combine[r].send[k];
        step_traffic_[r].recv[k] += tr.dispatch[r].recv[k] + tr.combine[r].recv[k];
      }
    }
    // Each section ends when its slowest rank's does (a hop waits for every sender).
    mb[m] = {disp_max.total(), expert_max, comb_max.total()};
  }
  cost->comm_us = mb[0].dispatch + mb[0].combine + mb[1].dispatch + mb[1].combine;
  cost->compute_us = pre[0] + pre[1] + mb[0].expert + mb[1].expert;
  if (M == 1) {
    cost->layer_us = pre[0] + mb[0].dispatch + mb[0].expert + mb[0].combine;
    cost->hidden_us = 0;
  } else {
    cost->layer_us = tbo_layer_us(pre[0], pre[1], mb[0], mb[1]);
    cost->hidden_us = cost->comm_us + cost->compute_us - cost->layer_us;
  }
}

void SimEngine::cost_moves(const std::vector<Placement>& from, const std::vector<Placement>& to,
                           std::vector<RankTraffic>* per_rank) {
  const MovePlan mp = plan_weight_moves(from, to, rpn_);
  const int64_t slot_bytes = expert_weight_bytes(prof_, cfg_.hidden, cfg_.ffn);
  per_rank->assign(R_, RankTraffic{});
  for (const WeightMove& m : mp.transfers) {
    const LinkKind k = link(m.src_rank, m.dst_rank);
    (*per_rank)[m.src_rank].send[k] += slot_bytes;
    (*per_rank)[m.dst_rank].recv[k] += slot_bytes;
  }
  rec_.transfers += static_cast<int64_t>(mp.transfers.size());
  rec_.naive_transfers += mp.naive_transfers;
  rec_.local_copies += static_cast<int64_t>(mp.local_copies.size());
  rec_.bytes += static_cast<int64_t>(mp.transfers.size()) * slot_bytes;
  rec_.sent_bytes = rec_.bytes;  // the modelled transfers move exactly the plan
}

// As EplbManager::move_chunk: the next chunk's layers switch to the new
// placement; their weights move now, stalling this step boundary.
double SimEngine::move_chunk(int step) {
  std::vector<Placement> staged = placement_;
  const int end = std::min(L_, next_layer_ + chunk_layers());
  for (int l = next_layer_; l < end; ++l) staged[l] = pending_[l];
  std::vector<RankTraffic> moves;
  cost_moves(placement_, staged, &moves);
  double transfer_us = 0;
  for (int r = 0; r < R_; ++r) transfer_us = std::max(transfer_us, exchange_us(prof_, links_, moves[r], 1));
  rec_.transfer_us += transfer_us;
  placement_ = std::move(staged);
  next_layer_ = end;
  rec_.steps_to_complete = step - rec_.step + 1;
  return transfer_us;
}

// As EplbManager::start_async_chunk: the chunk's bytes go in the background
// (run(): background_step during the following steps).
void SimEngine::start_async_chunk() {
  staged_ = placement_;
  async_end_ = std::min(L_, next_layer_ + chunk_layers());
  for (int l = next_layer_; l < async_end_; ++l) staged_[l] = pending_[l];
  cost_moves(placement_, staged_, &background_);
}

// As EplbManager::async_step: the chunk's layers switch at the first step
// boundary where every rank's part has arrived (the switch itself is not timed).
bool SimEngine::async_switch(int step) {
  for (const RankTraffic& t : background_)
    for (int k = 0; k < 2; ++k)
      if (t.send[k] > 0 || t.recv[k] > 0) return false;
  placement_ = staged_;
  next_layer_ = async_end_;
  rec_.steps_to_complete = step - rec_.step + 1;
  if (next_layer_ < L_) start_async_chunk();
  return next_layer_ == L_;
}

bool SimEngine::maybe_rebalance(int step, RebalanceRecord* rec, double* stall_us) {
  *stall_us = 0;
  if (window_.empty()) return false;
  if (next_layer_ < L_) {  // a re-plan in progress: its next layers, at this step boundary
    if (cfg_.eplb_async) {
      if (!async_switch(step)) return false;
    } else {
      *stall_us += move_chunk(step);
      if (next_layer_ < L_) return false;
    }
    *rec = rec_;
    return true;
  }
  if ((step + 1) % cfg_.eplb_interval != 0) return false;
  rec_ = start_rebalance_record(cfg_, step);
  const double t0 = now_us();
  std::vector<double> loads(static_cast<size_t>(L_) * E_);
  sum_window(window_, step, cfg_.eplb_window, &loads);
  bool skip = false;
  pending_ = replan(cfg_, loads, topology_, placement_, &rec_, &skip);
  const double t1 = now_us();
  // The automatic LPLB's forecast on what will serve, per micro-batch router
  // as each run rank's router makes it (balance/lplb_forecast.h).
  for (int l = 0; l < L_; ++l)
    for (int m = 0; m < num_mbs_; ++m)
      rec_.count_forecast(
          mbs_[m].router.expect_lplb(l, skip ? placement_[l] : pending_[l], &loads[static_cast<size_t>(l) * E_]));
  rec_.lplb_forecast_us = (now_us() - t1) * prof_.balance_time_scale * scale_;
  rec_.plan_us = (now_us() - t0) * prof_.balance_time_scale * scale_;
  *stall_us += rec_.plan_us;
  if (skip) {
    rec_.skipped = true;
    rec_.steps_to_complete = 0;
    *rec = rec_;
    return true;
  }
  next_layer_ = 0;
  if (cfg_.eplb_async) {
    start_async_chunk();
    return false;
  }
  *stall_us += move_chunk(step);
  if (next_layer_ < L_) return false;
  *rec = rec_;
  return true;
}

void SimEngine::run(RunMetrics* metrics, std::ostream* json, SimTotals* totals) {
  const double wall0 = now_us();
  StepRecord warmup_record;  // warm-up steps are simulated, not recorded
  for (int step = 0; step < cfg_.total_steps(); ++step) {
    const bool measured = step >= cfg_.warmup;
    if (!measured) warmup_record.reset(L_, cfg_.per_rank ? R_ : 0);
    StepRecord& r = measured ? metrics->next_step() : warmup_record;
    r.step = step;
    for (auto& ph : rank_phase_us_) ph.fill(0);
    std::fill(step_traffic_.begin(), step_traffic_.end(), RankTraffic{});
    double solve_us = 0, comm_us = 0, compute_us = 0, hidden_us = 0;
    for (int l = 0; l < L_; ++l) {
      LayerCost c;
      if (progress_) progress_->update(step, l);
      simulate_layer(step, l, &r, &c, &solve_us, measured ? &totals->nodes_per_token : nullptr);
      r.step_us += c.layer_us;
      comm_us += c.comm_us;
      compute_us += c.compute_us;
      hidden_us += c.hidden_us;
    }
    // Asynchronous weight moves in flight share the links with this step's exchanges.
    if (cfg_.eplb_async && next_layer_ < L_) {
      double longer_us = 0;
      for (int q = 0; q < R_; ++q) {
        const double d = background_step(prof_, r.step_us, step_traffic_[q], &background_[q]);
        rank_phase_us_[q][kDispatch] += d / 2;  // both exchanges carry the shared bytes
        rank_phase_us_[q][kCombine] += d / 2;
        longer_us = std::max(longer_us, d);
      }
      r.step_us += longer_us;
      comm_us += longer_us;
    }
    for (int q = 0; q < R_; ++q)
      for (int p = 0; p < kNumPhases; ++p) r.phases_us[p] = std::max(r.phases_us[p], rank_phase_us_[q][p]);
    // Hidden: the critical-path phase times summed, less the step (0 without overlap).
    r.overlap_hidden_us = hidden_us;
    RebalanceRecord rec;
    double boundary_us = 0;
    if (maybe_rebalance(step, &rec, &boundary_us)) {
      metrics->add_rebalance(rec);
      if (json) {
        nlohmann::json j = metrics->rebalance_json(rec);
        j["simulated"] = true;
        *json << j.dump() << "\n";
      }
    }
    // The gap between this step's completion and the previous one's, as a user sees it.
    r.stall_us = r.step_us + boundary_us;
    if (!measured) continue;
    totals->solve_us.push_back(solve_us / L_);
    totals->comm_us.push_back(comm_us);
    totals->compute_us.push_back(compute_us);
    if (json) {
      nlohmann::json j = metrics->step_json(r);
      j["simulated"] = true;
      j["solve_us"] = solve_us / L_;
      *json << j.dump() << "\n";
    }
  }
  for (int m = 0; m < num_mbs_; ++m) {
    const MicroBatch& b = mbs_[m];
    totals->lp_warm_tried += b.router.lp_stats().warm_tried;
    totals->lp_warm_kept += b.router.lp_stats().warm_kept;
  }
  totals->wall_s = (now_us() - wall0) * 1e-6;
}

}  // namespace wideep
