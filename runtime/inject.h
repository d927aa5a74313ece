// Fault injection (--inject KIND:ARGS, off by default; for tests and studies):
//   drop:RANK:STEP      one (token, expert) pair of RANK's dispatch is dropped
//   dup:RANK:STEP       one pair is sent twice
//   misroute:RANK:STEP  one pair goes to the wrong local expert
//   corrupt:RANK:STEP   bytes of one dispatched token's activations are flipped
//   corrupt-weights:RANK  one expert that RANK receives in a rebalance is flipped
//   slow:RANK:US        RANK sleeps US microseconds every step (a straggler)
//   die:RANK:STEP       RANK exits abruptly at STEP
//   hang:RANK:STEP      RANK stops participating at STEP (sleeps forever)
#pragma once

#include <string>
#include <vector>

namespace wideep {

struct Fault {
  enum class Kind { kDrop, kDup, kMisroute, kCorrupt, kCorruptWeights, kSlow, kDie, kHang };
  Kind kind;
  int rank = 0;
  int step = 0;       // steps count from 0 including warm-up
  long slow_us = 0;
};

// Throws UsageError naming --inject.
std::vector<Fault> parse_faults(const std::vector<std::string>& specs, int num_ranks);

// The fault of `kind` for (rank, step), or nullptr. Step -1 matches any step.
const Fault* find_fault(const std::vector<Fault>& faults, Fault::Kind kind, int rank, int step);

}  // namespace wideep
