// Summary statistics, JSON lines and the fixed-column table of `wideep run`.
#include "runtime/io/metrics.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>

#include "common/check.h"
#include "runtime/io/run_info.h"

namespace wideep {

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = q * (v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - lo);
}

RunMetrics::RunMetrics(const RunConfig& cfg, const char* backend) : cfg_(cfg), backend_(backend) {
  steps_.resize(static_cast<size_t>(std::max(cfg.steps, 0)));
  for (StepRecord& r : steps_) r.reset(std::max(cfg.layers, 0), cfg.per_rank ? cfg.num_ranks : 0);
  rebalances_.reserve(static_cast<size_t>(cfg.total_steps() / std::max(cfg.eplb_interval, 1) + 1));
}

StepRecord& RunMetrics::next_step() {
  WIDEEP_ASSERT(used_ < steps_.size(), "more steps recorded than --steps");
  StepRecord& r = steps_[used_++];
  r.reset(cfg_.layers, cfg_.per_rank ? cfg_.num_ranks : 0);
  return r;
}

void RunMetrics::add_rebalance(const RebalanceRecord& r) {
  rebalances_.push_back(r);
  // The re-plan's last moves happened at the boundary after step
  // r.step + steps_to_complete - 1: the next step is the first on the new placement.
  if (!r.skipped && steady_from_ < 0) steady_from_ = r.step + r.steps_to_complete;
}

nlohmann::json RunMetrics::step_json(const StepRecord& r) const {
  nlohmann::json j;
  j["type"] = "step";
  j["step"] = r.step;
  j["step_us"] = r.step_us;
  nlohmann::json ph;
  for (int p = 0; p < kNumPhases; ++p) ph[phase_name(p)] = r.phases_us[p];
  j["phases_us"] = ph;
  j["balancedness"] = r.balancedness;
  j["layer_balancedness"] = r.layer_balancedness;
  j["max_rank_load"] = r.max_rank_load;
  j["dispatch_bytes"] = r.dispatch_bytes;
  j["combine_bytes"] = r.combine_bytes;
  j["dispatch_bytes_cross_node"] = r.dispatch_bytes_cross_node;
  j["combine_bytes_cross_node"] = r.combine_bytes_cross_node;
  if (cfg_.overlap != "none") j["overlap_hidden_us"] = r.overlap_hidden_us;
  j["load_mismatches"] = r.load_mismatches;
  j["load_planned"] = r.load_planned;
  if (cfg_.balancers.lplb) j["lplb_skipped"] = r.lplb_skipped;
  if (cfg_.baseline) j["baseline_a2a_us"] = r.baseline_us;
  if (cfg_.phase_barrier) j["wait_us"] = r.wait_us;
  if (cfg_.check) j["max_abs_err"] = r.max_abs_err;
  j["stall_us"] = r.stall_us;
  if (cfg_.per_rank)
    j["per_rank"] = {{"load", r.rank_load}, {"dispatch_bytes", r.rank_dispatch_bytes},
                     {"combine_bytes", r.rank_combine_bytes}};
  return j;
}

nlohmann::json RunMetrics::rebalance_json(const RebalanceRecord& r) const {
  return {{"type", "rebalance"}, {"step", r.step}, {"plan_us", r.plan_us},
          {"lplb_forecast_us", r.lplb_forecast_us},
          {"lplb_forecast", {{"plan", r.lplb_forecast[0]}, {"probe", r.lplb_forecast[1]}, {"quiet", r.lplb_forecast[2]}}},
          {"transfer_us", r.transfer_us}, {"bytes", r.bytes}, {"sent_bytes", r.sent_bytes},
          {"transfers", r.transfers},
          {"naive_transfers", r.naive_transfers}, {"local_copies", r.local_copies},
          {"gbps", r.gbps()}, {"baseline_us", r.baseline_us},
          {"baseline_gbps", r.baseline_us > 0 ? r.bytes * 8e-3 / r.baseline_us : 0.0},
          {"mode", r.mode}, {"steps_to_complete", r.steps_to_complete}, {"skipped", r.skipped},
          {"predicted_balancedness", {{"before", r.predicted_before}, {"after", r.predicted_after}}},
          {"policy", r.policy}, {"kept_layers", r.kept_layers},
          {"experts_moved", r.skipped ? int64_t{0} : r.experts_moved}};
}

nlohmann::json RunMetrics::summary_json() const {
  std::vector<double> step_us, bal, base, dc, wait, stall;
  std::array<std::vector<double>, kNumPhases> ph;
  double max_err = 0, max_rel = 0;
  int64_t dbytes = 0, cbytes = 0, dcross = 0, ccross = 0, mismatches = 0, lplb_skipped = 0;
  std::vector<double> hidden;
  for (const StepRecord& r : steps()) {
    step_us.push_back(r.step_us);
    stall.push_back(r.stall_us);
    bal.push_back(r.balancedness);
    base.push_back(r.baseline_us);
    wait.push_back(r.wait_us);
    dc.push_back(r.phases_us[kDispatch] + r.phases_us[kCombine]);
    for (int p = 0; p < kNumPhases; ++p) ph[p].push_back(r.phases_us[p]);
    max_err = std::max(max_err, r.max_abs_err);
    max_rel = std::max(max_rel, r.rel_err);
    dbytes += r.dispatch_bytes;
    cbytes += r.combine_bytes;
    dcross += r.dispatch_bytes_cross_node;
    ccross += r.combine_bytes_cross_node;
    hidden.push_back(r.overlap_hidden_us);
    mismatches += r.load_mismatches;
    lplb_skipped += r.lplb_skipped;
  }
  const double n = std::max<size_t>(used_, 1);
  double mean_step = 0, mean_bal = 0, min_bal = used_ == 0 ? 0 : 1e300;
  for (double v : step_us) mean_step += v / n;
  for (double v : bal) {
    mean_bal += v / n;
    min_bal = std::min(min_bal, v);
  }
  nlohmann::json j;
  j["type"] = "summary";
  j["ranks"] = cfg_.num_ranks;
  j["backend"] = backend_;
  if (!dtype_.empty()) j["dtype"] = dtype_;
  j["balancer"] = cfg_.balancers.text;
  j["workload"] = cfg_.workload.text;
  j["steps"] = used_;
  j["experts"] = cfg_.experts;
  j["topk"] = cfg_.topk;
  j["hidden"] = cfg_.hidden;
  j["ffn"] = cfg_.ffn;
  j["tokens"] = cfg_.tokens;
  j["layers"] = cfg_.layers;
  j["redundant"] = cfg_.redundant;
  j["shared_experts"] = cfg_.shared_experts;
  j["seed"] = cfg_.seed;
  if (!cfg_.topology.empty()) j["topology"] = cfg_.topology;
  j["step_us"] = {{"p50", percentile(step_us, 0.5)}, {"p99", percentile(step_us, 0.99)}, {"mean", mean_step}};
  // What a user would see stall: the gaps between step completions, rebalances included.
  j["stall_us"] = {{"max", stall.empty() ? 0.0 : *std::max_element(stall.begin(), stall.end())},
                   {"p99", percentile(stall, 0.99)}};
  nlohmann::json phj;
  for (int p = 0; p < kNumPhases; ++p) phj[phase_name(p)] = percentile(ph[p], 0.5);
  j["phases_us"] = phj;
  j["dispatch_combine_us"] = percentile(dc, 0.5);
  j["balancedness"] = {{"mean", mean_bal}, {"min", min_bal}};
  j["gamma"] = mean_bal > 0 ? 1.0 / mean_bal : 0.0;
  if (cfg_.check) {
    j["max_abs_err"] = max_err;
    j["max_rel_err"] = max_rel;
  }
  j["dispatch_bytes"] = static_cast<int64_t>(std::llround(dbytes / n));  // per step, all ranks
  j["combine_bytes"] = static_cast<int64_t>(std::llround(cbytes / n));
  j["dispatch_bytes_cross_node"] = static_cast<int64_t>(std::llround(dcross / n));
  j["combine_bytes_cross_node"] = static_cast<int64_t>(std::llround(ccross / n));
  if (!dispatch_dtype_.empty()) j["dispatch_dtype"] = dispatch_dtype_;
  if (!combine_dtype_.empty()) j["combine_dtype"] = combine_dtype_;
  j["dispatch_mode"] = cfg_.dispatch_mode;
  j["transport"] = cfg_.transport;
  j["overlap"] = cfg_.overlap;
  {
    // Hidden time: on each rank, its phases as each micro-batch spent them,
    // summed, less its step time; averaged over ranks (a maximum over ranks
    // would mix different ranks' phases). Without overlap it is minus the
    // bookkeeping between phases: about 0. Efficiency: hidden over what could
    // at best be hidden, min(communication, compute).
    // Without overlap nothing is hidden: the residue is bookkeeping between
    // phases (and read -5.7 us, issue 29), so it is reported as 0.
    const double hidden_us = cfg_.overlap == "none" ? 0.0 : percentile(hidden, 0.5);
    const double comm_us = percentile(ph[kDispatch], 0.5) + percentile(ph[kCombine], 0.5);
    double compute_us = 0;
    for (int p : {kRoute, kBalance, kLayout, kExpert}) compute_us += percentile(ph[p], 0.5);
    const double hideable = std::min(comm_us, compute_us);
    j["overlap_hidden_us"] = hidden_us;
    j["overlap_efficiency"] = hideable > 0 ? hidden_us / hideable : 0.0;
  }
  j["load_mismatches"] = mismatches;
  if (cfg_.balancers.lplb) {
    j["lplb_skipped"] = lplb_skipped;
    j["lplb_scope"] = cfg_.lplb_scope;
    j["lplb_auto"] = cfg_.lplb_auto;
  }
  int64_t wbytes = 0, skipped = 0;
  double reb_us = 0;
  for (const RebalanceRecord& r : rebalances_) {
    wbytes += r.bytes;
    reb_us += r.plan_us + r.transfer_us;
    skipped += r.skipped;
  }
  j["rebalances"] = static_cast<int64_t>(rebalances_.size()) - skipped;
  j["rebalances_skipped"] = skipped;
  j["weight_bytes_moved"] = wbytes;
  j["rebalance_us"] = reb_us;
  if (cfg_.baseline) j["baseline_a2a_us"] = percentile(base, 0.5);
  if (cfg_.phase_barrier) j["wait_us"] = percentile(wait, 0.5);
  j["layout_share_of_dispatch"] = percentile(ph[kDispatch], 0.5) > 0
                                      ? percentile(ph[kLayout], 0.5) / percentile(ph[kDispatch], 0.5)
                                      : 0.0;
  add_report_fields(j);
  return j;
}

// Steady state: the measured steps from the first completed re-placement on
// (the whole run's figures mix in the steps on the initial placement).
nlohmann::json RunMetrics::steady_json() const {
  std::vector<double> step_us, bal;
  for (const StepRecord& r : steps())
    if (steady_from_ >= 0 && r.step >= steady_from_) {
      step_us.push_back(r.step_us);
      bal.push_back(r.balancedness);
    }
  if (step_us.empty()) return nullptr;
  double mean_step = 0, mean_bal = 0;
  for (double v : step_us) mean_step += v / step_us.size();
  for (double v : bal) mean_bal += v / bal.size();
  return {{"from_step", steady_from_}, {"steps", step_us.size()},
          {"step_us", {{"p50", percentile(step_us, 0.5)}, {"p99", percentile(step_us, 0.99)}, {"mean", mean_step}}},
          {"balancedness", {{"mean", mean_bal}, {"min", *std::min_element(bal.begin(), bal.end())}}},
          {"gamma", mean_bal > 0 ? 1.0 / mean_bal : 0.0}};
}

// Issue 29's fields: what ran (policy, initial placement, the resolved
// configuration, argv, commit), the steady state, warnings, moves.
void RunMetrics::add_report_fields(nlohmann::json& j) const {
  if (cfg_.balancers.eplb) {
    j["eplb_policy"] = cfg_.eplb_policy;
    nlohmann::json chosen = nlohmann::json::object();
    int64_t moved = 0;
    for (const RebalanceRecord& r : rebalances_) {
      if (r.skipped) continue;
      chosen[r.policy] = chosen.value(r.policy, 0) + 1;
      moved += r.experts_moved;
    }
    j["eplb_policy_chosen"] = chosen;  // re-plans per policy that ran
    j["experts_moved"] = moved;
  }
  const nlohmann::json steady = steady_json();
  if (!steady.is_null()) j["steady"] = steady;
  j["init_placement"] = init_placement_.empty() ? nlohmann::json(nullptr) : nlohmann::json(init_placement_);
  if (!warnings_.empty()) j["warnings"] = warnings_;
  j["config"] = config_json(cfg_);
  j["argv"] = cfg_.argv;
  j["commit"] = build_commit();
}

void RunMetrics::print_table() const {
  const nlohmann::json s = summary_json();
  fmt::print("# wideep run: {} ranks, backend {}{}{}, transport {}, balancer {}, workload {}\n", cfg_.num_ranks,
             backend_, dtype_.empty() ? "" : " ", dtype_, cfg_.transport, cfg_.balancers.text, cfg_.workload.text);
  fmt::print("# E={} topk={} H={} F={} T={}/rank L={} redundant={} shared={} steps={} (+{} warm-up)\n",
             cfg_.experts, cfg_.topk, cfg_.hidden, cfg_.ffn, cfg_.tokens, cfg_.layers,
             cfg_.redundant, cfg_.shared_experts, cfg_.steps, cfg_.warmup);
  if (cfg_.balancers.eplb)
    fmt::print("# eplb: policy {}, groups {}, interval {}, window {}, keep within {}, max moves {}\n",
               policy_description_, cfg_.groups, cfg_.eplb_interval, cfg_.eplb_window, cfg_.eplb_keep_within,
               cfg_.eplb_max_moves > 0 ? std::to_string(cfg_.eplb_max_moves) : std::string("no cap"));
  fmt::print("# initial placement: {}\n", init_placement_.empty() ? "default" : init_placement_);
  fmt::print("{:>12} {:>12} {:>12}\n", "step p50 us", "step p99 us", "mean us");
  fmt::print("{:>12.1f} {:>12.1f} {:>12.1f}\n", s["step_us"]["p50"].get<double>(),
             s["step_us"]["p99"].get<double>(), s["step_us"]["mean"].get<double>());
  fmt::print("phase p50 (slowest rank, us):");
  for (int p = 0; p < kNumPhases; ++p)
    fmt::print(" {}={:.1f}", phase_name(p), s["phases_us"][phase_name(p)].get<double>());
  fmt::print("\n");
  fmt::print("balancedness mean {:.4f}  min {:.4f}  gamma {:.3f}  (all {} measured steps; min over steps of the "
             "layers' mean)\n",
             s["balancedness"]["mean"].get<double>(), s["balancedness"]["min"].get<double>(),
             s["gamma"].get<double>(), used_);
  if (s.contains("steady"))
    fmt::print("steady state (steps {}.. after the first re-placement, {} steps): step p50 {:.1f} p99 {:.1f} mean "
               "{:.1f} us  balancedness mean {:.4f} min {:.4f}\n",
               s["steady"]["from_step"].get<int>(), s["steady"]["steps"].get<size_t>(),
               s["steady"]["step_us"]["p50"].get<double>(), s["steady"]["step_us"]["p99"].get<double>(),
               s["steady"]["step_us"]["mean"].get<double>(), s["steady"]["balancedness"]["mean"].get<double>(),
               s["steady"]["balancedness"]["min"].get<double>());
  fmt::print("dispatch {:.3f} MB/step  combine {:.3f} MB/step (to other ranks, all ranks)\n",
             s["dispatch_bytes"].get<int64_t>() / 1e6, s["combine_bytes"].get<int64_t>() / 1e6);
  // --baseline implies --phase-barrier (config.cc): dispatch and combine then
  // time the exchange alone, the wait for the slowest rank is timed apart, and
  // only those two quantities make a ratio.
  if (cfg_.baseline && cfg_.phase_barrier)
    fmt::print("exchange (dispatch+combine after a barrier) p50 {:.1f} us vs raw all-to-allv of the same bytes p50 "
               "{:.1f} us: ratio {:.3f}; wait for the slowest rank (timed apart) p50 {:.1f} us\n",
               s["dispatch_combine_us"].get<double>(), s["baseline_a2a_us"].get<double>(),
               s["dispatch_combine_us"].get<double>() / std::max(1e-9, s["baseline_a2a_us"].get<double>()),
               s["wait_us"].get<double>());
  if (!rebalances_.empty()) {
    fmt::print("rebalances {}  weight bytes moved {} ({:.3f} MB)  rebalance time {:.1f} us\n",
               rebalances_.size(), s["weight_bytes_moved"].get<int64_t>(), s["weight_bytes_moved"].get<int64_t>() / 1e6,
               s["rebalance_us"].get<double>());
    std::string chosen;
    for (const auto& kv : s["eplb_policy_chosen"].items())
      chosen += fmt::format("{}{} x{}", chosen.empty() ? "" : ", ", kv.key(), kv.value().get<int>());
    fmt::print("eplb: policy {} ran {}; experts moved {}; {} re-plan(s) skipped (kept or below --eplb-min-gain)\n",
               cfg_.eplb_policy, chosen.empty() ? "no re-plan" : chosen, s["experts_moved"].get<int64_t>(),
               s["rebalances_skipped"].get<int64_t>());
  }
  for (const std::string& w : warnings_) fmt::print("warning: {}\n", w);
  if (cfg_.check)
    fmt::print("check: max abs err {:.3g} (relative {:.3g})\n", s["max_abs_err"].get<double>(),
               s["max_rel_err"].get<double>());
}

}  // namespace wideep
