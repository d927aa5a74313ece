// --dump-counts FILE of `wideep run`: keeps this rank's per-step logical expert
// counts of the last --eplb-window measured steps, sums them over ranks at the
// end (collective) and writes, on rank 0, an SGLang `stat` dump in JSON:
//   {"rank": 0, "logical_count": [steps][layers][experts], "average_utilization_rate_over_window": null}
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "runtime/io/config.h"

namespace wideep {

// Opens FILE for appending (it is written at the end) so that a bad path is an input
// error before any communication; throws UsageError naming --dump-counts.
void probe_dump_counts(const RunConfig& cfg);

class CountsDump {
 public:
  // Does nothing unless cfg.dump_counts is set.
  explicit CountsDump(const RunConfig& cfg);

  // The counts of layer `layer` at `step` on this rank ([E]); warm-up steps are skipped.
  void record(int step, int layer, const std::vector<int64_t>& local_counts);

  // Collective (every rank calls it, once, after the last step): sums over
  // ranks; rank 0 writes the file. Steps in order, oldest first.
  void write(Communicator& comm);

 private:
  const RunConfig& cfg_;
  bool on_ = false;
  int window_ = 0;                // min(--eplb-window, --steps)
  std::vector<int64_t> ring_;     // [window][layers][experts]
  std::vector<int> ring_step_;    // the step in each ring entry, -1 when empty
};

}  // namespace wideep
