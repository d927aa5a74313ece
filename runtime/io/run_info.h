// What a summary records so that its run can be reproduced: the full resolved
// configuration of `wideep run`/`sim` as JSON, and the commit this binary was
// built from (stamped by CMake at configure time; "unknown" without git).
#pragma once

#include <nlohmann/json.hpp>

#include "runtime/io/config.h"

namespace wideep {

// Every option's value after validation (defaults resolved), by option name
// without the dashes ("eplb_interval"), plus the derived slots per rank.
nlohmann::json config_json(const RunConfig& cfg);

const char* build_commit();

}  // namespace wideep
