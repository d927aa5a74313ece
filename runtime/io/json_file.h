// Reading a user's JSON file (traces, placements, topologies, profiles, loads):
// one place that turns a missing or malformed file into a UsageError.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace wideep {

// The parsed file. `what` names it for the message ("--loads PATH").
// Throws UsageError: cannot open the file, or not valid JSON.
nlohmann::json read_json_file(const std::string& path, const std::string& what);

}  // namespace wideep
