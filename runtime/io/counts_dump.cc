// The SGLang `stat` dump of a run's global logical counts (--dump-counts).
#include "runtime/io/counts_dump.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/check.h"

namespace wideep {

void probe_dump_counts(const RunConfig& cfg) {
  if (cfg.dump_counts.empty()) return;
  std::ofstream probe(cfg.dump_counts, std::ios::app);
  if (!probe) throw UsageError("--dump-counts " + cfg.dump_counts + ": cannot open for writing");
}

CountsDump::CountsDump(const RunConfig& cfg) : cfg_(cfg), on_(!cfg.dump_counts.empty()) {
  if (!on_) return;
  window_ = std::min(cfg.eplb_window, cfg.steps);
  ring_.assign(static_cast<size_t>(window_) * cfg.layers * cfg.experts, 0);
  ring_step_.assign(window_, -1);
}

void CountsDump::record(int step, int layer, const std::vector<int64_t>& local_counts) {
  if (!on_ || step < cfg_.warmup) return;
  const int slot = (step - cfg_.warmup) % window_;
  ring_step_[slot] = step;
  const size_t E = static_cast<size_t>(cfg_.experts);
  WIDEEP_ASSERT(local_counts.size() >= E, "--dump-counts: fewer local counts than experts");
  std::copy(local_counts.begin(), local_counts.begin() + E,
            ring_.begin() + (static_cast<size_t>(slot) * cfg_.layers + layer) * E);
}

void CountsDump::write(Communicator& comm) {
  if (!on_) return;
  comm.set_context({cfg_.total_steps(), -1, "dump-counts"});
  comm.allreduce_sum_int64(ring_.data(), static_cast<int64_t>(ring_.size()));
  if (comm.rank() != 0) return;
  // Oldest first: the ring's entries ordered by the step they hold.
  std::vector<int> order;
  for (int i = 0; i < window_; ++i)
    if (ring_step_[i] >= 0) order.push_back(i);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return ring_step_[a] < ring_step_[b]; });
  const size_t E = static_cast<size_t>(cfg_.experts);
  nlohmann::json steps = nlohmann::json::array();
  for (int i : order) {
    nlohmann::json layers = nlohmann::json::array();
    for (int l = 0; l < cfg_.layers; ++l) {
      const auto first = ring_.begin() + (static_cast<size_t>(i) * cfg_.layers + l) * E;
      layers.push_back(std::vector<int64_t>(first, first + E));
    }
    steps.push_back(std::move(layers));
  }
  // The keys of SGLang's _StatAccumulator.dump (expert_distribution.py): rank 0
  // writes the counts already summed over ranks; no utilization history here.
  nlohmann::json j;
  j["rank"] = 0;
  j["logical_count"] = std::move(steps);
  j["average_utilization_rate_over_window"] = nullptr;
  std::ofstream out(cfg_.dump_counts, std::ios::trunc);
  out << j.dump() << "\n";
  if (!out) throw Error(ErrorCategory::kSystem, "--dump-counts " + cfg_.dump_counts + ": write failed");
}

}  // namespace wideep
