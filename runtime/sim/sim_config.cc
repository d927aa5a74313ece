// CLI11 binding and validation of the sim-only options.
#include "runtime/sim/sim_config.h"

#include <CLI/CLI.hpp>

#include "common/check.h"

namespace wideep {

void add_sim_options(CLI::App& app, SimOptions& s) {
  app.add_option("--ranks", s.ranks, "virtual ranks R")->required();
  app.add_option("--profile", s.profile, "link and compute profile (launch/profiles/*.json)")->required();
}

void validate_sim(RunConfig& cfg, const SimOptions& s) {
  if (s.ranks <= 0) throw UsageError("--ranks must be positive (got " + std::to_string(s.ranks) + ")");
  if (s.ranks > 8192) throw UsageError("--ranks " + std::to_string(s.ranks) + " is larger than 8192");
  if (!cfg.backend.empty()) throw UsageError("--backend has no meaning for wideep sim (the profile models the links)");
  if (cfg.check) throw UsageError("--check has no meaning for wideep sim (no expert outputs are computed)");
  if (cfg.baseline) throw UsageError("--baseline has no meaning for wideep sim");
  if (!cfg.inject.empty()) throw UsageError("--inject has no meaning for wideep sim");
  validate(cfg, s.ranks);
  const int64_t pairs = static_cast<int64_t>(s.ranks) * cfg.tokens * cfg.pairs_per_token();
  if (pairs > (1ll << 28))
    throw UsageError("--ranks x --tokens x (--topk + --shared-experts) is larger than 2^28 pairs");
  if (static_cast<int64_t>(s.ranks) * cfg.experts > (1ll << 26))
    throw UsageError("--ranks x --experts is larger than 2^26");
}

}  // namespace wideep
