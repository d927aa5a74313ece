// Placement and topology inputs of `wideep run`/`sim`: --init-placement (the
// JSON of `wideep plan`, or SGLang's / vLLM's placement, told apart by their
// fields), --topology (builtin or file:PATH with {"r2o": [[...]]})
// and the default initial placement. Throws UsageError naming the option/file.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "balance/placement.h"
#include "balance/topology.h"
#include "runtime/io/config.h"

namespace wideep {

// nullptr when --topology is not given.
std::unique_ptr<Topology> load_topology(const RunConfig& cfg, int num_ranks);

// --init-placement when given; else the topology placement (uniform loads);
// else Placement::initial (slot i holds expert i % E).
// source (optional): "FILE (FORMAT)" for --init-placement, else empty.
std::vector<Placement> initial_placement(const RunConfig& cfg, const Topology* topology,
                                         std::string* source = nullptr);

// Reads `layers` layers of num_ranks * slots_per_rank slots from wideep's
// {"phy2log": [[...] per layer]}, SGLang's {"physical_to_logical_map": ...}
// or vLLM's (the same plus "logical_replica_count", which must agree).
// format (optional) receives "wideep", "sglang" or "vllm".
std::vector<Placement> read_placement_file(const std::string& path, const std::string& option,
                                           int layers, int num_ranks, int num_logical,
                                           int slots_per_rank, std::string* format = nullptr);

}  // namespace wideep
