// Fault injection (--inject KIND:ARGS, off by default; for tests and studies):
//   drop:RANK:STEP      one (token, expert) pair of RANK's dispatch is dropped
//   dup:RANK:STEP       one pair is sent twice
//   misroute:RANK:STEP  one pair goes to the wrong local expert
//   corrupt:RANK:STEP   bytes of one dispatched token's activations are flipped
//   corrupt-weights:RANK[:w1|w2]  one expert that RANK receives in a rebalance is
//                       flipped: byte 7 of its W1 (w1, the default) or the last
//                       byte of its W2 (w2: the end of the slot, so that a checksum
//                       that skips part of the slot is caught)
//   nan:RANK:STEP       one dispatched token's activations become NaN in transit
//                       (a check that lets NaN through is caught; applied by the
//                       runner's row-fault function like corrupt)
//   slow:RANK:US        RANK sleeps US microseconds every step (a straggler)
//   hold-wave:RANK:STEPS  --eplb-async: RANK posts each background weight wave
//                       (its sends and receives) STEPS step boundaries late, so
//                       that the wave arrives late on RANK and on its peers
//                       (the layers must keep the old placement until it has)
//   die:RANK:STEP       RANK exits abruptly at STEP
//   hang:RANK:STEP      RANK stops participating at STEP (sleeps forever)
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace wideep {

struct Fault {
  enum class Kind { kDrop, kDup, kMisroute, kCorrupt, kCorruptWeights, kSlow, kDie, kHang, kNan, kHoldWave };
  enum class WeightPart { kW1, kW2 };  // which matrix of the slot corrupt-weights flips
  Kind kind;
  int rank = 0;
  int step = 0;       // steps count from 0 including warm-up
  long slow_us = 0;
  int hold_steps = 0;  // hold-wave: step boundaries each wave waits before it is posted
  WeightPart part = WeightPart::kW1;
};

// The byte of a slot ([W1 | W2], slot_bytes in all) that corrupt-weights flips:
// byte 7 of W1, or the last byte of W2 (the slot's last byte).
size_t corrupt_weights_byte(const Fault& f, size_t slot_bytes);

// Throws UsageError naming --inject.
std::vector<Fault> parse_faults(const std::vector<std::string>& specs, int num_ranks);

// Faults that need a context: hold-wave holds a wave of --eplb-async, whose
// waves go in the background only on --backend mpi (NCCL moves them at once,
// so a held rank would stall its peers). Throws UsageError naming --inject.
void check_fault_context(const std::vector<Fault>& faults, bool eplb_async, const std::string& backend);

// The fault of `kind` for (rank, step), or nullptr. Step -1 matches any step.
const Fault* find_fault(const std::vector<Fault>& faults, Fault::Kind kind, int rank, int step);

}  // namespace wideep
