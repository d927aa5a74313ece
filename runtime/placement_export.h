// A placement as the JSON of wideep, SGLang or vLLM, shared by `wideep plan
// --format` and `--dump-placement` of `wideep run`/`sim` (slot ids global:
// rank r owns slots [r*P/R, (r+1)*P/R), as in both programs):
//   wideep: {"phy2log" [L][P], "log2phy" [L][E][X] (-1 padded, X the most copies), "logcnt" [L][E]}
//   sglang: {"physical_to_logical_map" [L][P]}             SGLang --init-expert-location
//   vllm:   {"physical_to_logical_map", "logical_to_physical_map" [L][E][P-E+1] (-1 padded),
//            "logical_replica_count" [L][E]}                vLLM EplbState's tensors
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "balance/placement.h"

namespace wideep {

// format: wideep | sglang | vllm.
nlohmann::json placement_json(const std::vector<Placement>& ps, const std::string& format);

// Writes placement_json to path; throws Error (system) naming `option` when the write fails.
void write_placement_file(const std::string& path, const std::string& option, const std::vector<Placement>& ps,
                          const std::string& format);

}  // namespace wideep
