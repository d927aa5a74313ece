// Writes a placement file in wideep's, SGLang's or vLLM's JSON (runtime/io/plan_json.h):
// `--dump-placement` of `wideep run`/`sim`.
#pragma once

#include <string>
#include <vector>

#include "balance/placement.h"

namespace wideep {

// Writes placement_json to path; throws Error (system) naming `option` when the write fails.
void write_placement_file(const std::string& path, const std::string& option, const std::vector<Placement>& ps,
                          const std::string& format);

}  // namespace wideep
