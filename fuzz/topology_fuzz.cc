// libFuzzer target of the topology file reader (--topology file:PATH with
// {"r2o": [[...]]}): load_topology, then the LPLB placement it implies. Only
// a UsageError may come out.
#include <cstdint>
#include <vector>

#include "common/check.h"
#include "fuzz/fuzz_input.h"
#include "runtime/io/placement_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  wideep::fuzz::Bytes in(data, size);
  wideep::RunConfig cfg;
  const int ranks = in.take(16), per_rank = in.take(4), redundant_per_rank = in.take(4) - 1;
  cfg.experts = ranks * per_rank;
  cfg.redundant = ranks * redundant_per_rank;
  cfg.num_ranks = ranks;
  cfg.slots_per_rank = per_rank + redundant_per_rank;
  cfg.topology = "file:" + wideep::fuzz::write_scratch("topology", in.data(), in.size());
  try {
    auto t = wideep::load_topology(cfg, ranks);
    if (!t) __builtin_trap();
    std::vector<double> loads(cfg.experts);
    for (int e = 0; e < cfg.experts; ++e) loads[e] = 1.0 + (e * 7) % 5;
    wideep::topology_placement(*t, ranks, cfg.experts, loads.data());
  } catch (const wideep::UsageError&) {
  }
  return 0;
}
