// Parsing and lookup of --inject faults.
#include "runtime/check/inject.h"

#include <cstdlib>
#include <sstream>

#include "common/check.h"

namespace wideep {
namespace {
long to_long(const std::string& s, const std::string& spec) {
  char* end = nullptr;
  const long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || *end != 0 || v < 0) throw UsageError("--inject '" + spec + "': '" + s + "' is not a whole number >= 0");
  return v;
}
// A whole number of step boundaries: at least one (0 would hold nothing).
int hold_steps(const std::string& s, const std::string& spec) {
  const long v = to_long(s, spec);
  if (v < 1 || v > 1000000) throw UsageError("--inject '" + spec + "': STEPS must be in [1, 1000000]");
  return static_cast<int>(v);
}
}  // namespace

std::vector<Fault> parse_faults(const std::vector<std::string>& specs, int num_ranks) {
  std::vector<Fault> out;
  for (const std::string& spec : specs) {
    std::vector<std::string> f;
    std::istringstream in(spec);
    std::string part;
    while (std::getline(in, part, ':')) f.push_back(part);
    if (f.empty()) throw UsageError("--inject: empty fault");
    Fault x{};
    const std::string& k = f[0];
    size_t want = 3;
    if (k == "drop") x.kind = Fault::Kind::kDrop;
    else if (k == "dup") x.kind = Fault::Kind::kDup;
    else if (k == "misroute") x.kind = Fault::Kind::kMisroute;
    else if (k == "corrupt") x.kind = Fault::Kind::kCorrupt;
    else if (k == "die") x.kind = Fault::Kind::kDie;
    else if (k == "hang") x.kind = Fault::Kind::kHang;
    else if (k == "nan") x.kind = Fault::Kind::kNan;
    else if (k == "slow") x.kind = Fault::Kind::kSlow;
    else if (k == "hold-wave") x.kind = Fault::Kind::kHoldWave;
    else if (k == "corrupt-weights") {
      x.kind = Fault::Kind::kCorruptWeights;
      want = 2;
      if (f.size() == 3) {  // the optional part: corrupt-weights:RANK:w1|w2
        if (f[2] == "w1") x.part = Fault::WeightPart::kW1;
        else if (f[2] == "w2") x.part = Fault::WeightPart::kW2;
        else throw UsageError("--inject '" + spec + "': expected corrupt-weights:RANK[:w1|w2], got '" + f[2] + "'");
        want = 3;
      }
    } else
      throw UsageError("--inject '" + spec + "': unknown fault (drop, dup, misroute, corrupt, nan, corrupt-weights, slow, hold-wave, die, hang)");
    if (f.size() != want)
      throw UsageError("--inject '" + spec + "': expected " + k +
                       (x.kind == Fault::Kind::kCorruptWeights ? ":RANK[:w1|w2]"
                        : k == "slow"                           ? ":RANK:US"
                        : k == "hold-wave"                      ? ":RANK:STEPS"
                                                                : ":RANK:STEP"));
    x.rank = static_cast<int>(to_long(f[1], spec));
    if (x.rank >= num_ranks) throw UsageError("--inject '" + spec + "': rank " + f[1] + " does not exist");
    if (x.kind == Fault::Kind::kSlow) { x.slow_us = to_long(f[2], spec); x.step = -1; }
    else if (x.kind == Fault::Kind::kHoldWave) { x.hold_steps = hold_steps(f[2], spec); x.step = -1; }
    else if (want == 3 && x.kind != Fault::Kind::kCorruptWeights) x.step = static_cast<int>(to_long(f[2], spec));
    else x.step = -1;
    out.push_back(x);
  }
  return out;
}

void check_fault_context(const std::vector<Fault>& faults, bool eplb_async, const std::string& backend) {
  for (const Fault& f : faults)
    if (f.kind == Fault::Kind::kHoldWave && (!eplb_async || backend != "mpi"))
      throw UsageError("--inject hold-wave holds a background weight wave: it needs --eplb-async and --backend mpi");
}

size_t corrupt_weights_byte(const Fault& f, size_t slot_bytes) {
  return f.part == Fault::WeightPart::kW2 ? slot_bytes - 1 : 7;
}

const Fault* find_fault(const std::vector<Fault>& faults, Fault::Kind kind, int rank, int step) {
  for (const Fault& f : faults)
    if (f.kind == kind && f.rank == rank && (f.step == -1 || step == -1 || f.step == step)) return &f;
  return nullptr;
}

}  // namespace wideep
