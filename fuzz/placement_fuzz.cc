// libFuzzer target of the placement file reader (--init-placement FILE):
// read_placement_file on arbitrary bytes for a shape taken from the first
// bytes. Only a UsageError may come out; an accepted placement must be whole.
#include <cstdint>

#include "common/check.h"
#include "fuzz/fuzz_input.h"
#include "runtime/io/placement_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  wideep::fuzz::Bytes in(data, size);
  const int layers = in.take(3), ranks = in.take(8), per_rank = in.take(4), extra = in.take(4) - 1;
  const int logical = ranks * per_rank;
  const int slots_per_rank = per_rank + extra;
  const std::string path = wideep::fuzz::write_scratch("placement", in.data(), in.size());
  try {
    const auto p = wideep::read_placement_file(path, "--init-placement", layers, ranks, logical, slots_per_rank);
    if (static_cast<int>(p.size()) != layers) __builtin_trap();
  } catch (const wideep::UsageError&) {
  }
  return 0;
}
