// Options of `wideep sim` beyond those it shares with `wideep run` (config.h):
// --ranks and --profile, and the validation of the whole sim command line
// (run-only options are rejected by name). Throws UsageError naming the option.
#pragma once

#include <string>

#include "runtime/io/config.h"

namespace CLI {
class App;
}

namespace wideep {

struct SimOptions {
  int ranks = 0;        // virtual ranks
  std::string profile;  // JSON profile (runtime/sim/sim_profile.h)
};

// Binds --ranks and --profile (both required).
void add_sim_options(CLI::App& app, SimOptions& s);

// Rejects run-only options, bounds the size of one process's simulation, then
// validate(cfg, s.ranks).
void validate_sim(RunConfig& cfg, const SimOptions& s);

}  // namespace wideep
