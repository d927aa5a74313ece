// Derived tables and validation of a layer's placement.
#include "balance/placement.h"

#include <algorithm>
#include <cstdint>

#include "common/check.h"

namespace wideep {

std::string Placement::validate(bool require_all_served) const {
  if (num_ranks <= 0 || slots_per_rank <= 0 || num_logical <= 0)
    return "ranks, slots per rank and experts must be positive";
  if (static_cast<int>(phy2log.size()) != num_ranks * slots_per_rank)
    return "phy2log has " + std::to_string(phy2log.size()) + " slots, expected ranks*slots = " +
           std::to_string(num_ranks * slots_per_rank);
  std::vector<int> cnt(num_logical, 0);
  for (size_t s = 0; s < phy2log.size(); ++s) {
    int e = phy2log[s];
    if (e < 0 || e >= num_logical)
      return "slot " + std::to_string(s) + " holds expert " + std::to_string(e) +
             ", outside [0, " + std::to_string(num_logical) + ")";
    ++cnt[e];
  }
  if (require_all_served) {
    for (int e = 0; e < num_logical; ++e)
      if (cnt[e] == 0) return "expert " + std::to_string(e) + " has no physical slot";
  }
  return {};
}

Placement Placement::from_phy2log(int num_ranks, int num_logical, const std::vector<int>& p2l,
                                  const std::string& what) {
  Placement p;
  p.num_ranks = num_ranks;
  p.num_logical = num_logical;
  if (num_ranks <= 0 || p2l.size() % static_cast<size_t>(num_ranks) != 0)
    throw UsageError(what + ": " + std::to_string(p2l.size()) + " slots do not divide among " +
                     std::to_string(num_ranks) + " ranks");
  p.slots_per_rank = static_cast<int>(p2l.size()) / num_ranks;
  p.phy2log = p2l;
  std::string err = p.validate(true);
  if (!err.empty()) throw UsageError(what + ": " + err);
  p.logcnt.assign(num_logical, 0);
  for (int e : p2l) ++p.logcnt[e];
  p.max_copies = *std::max_element(p.logcnt.begin(), p.logcnt.end());
  p.log2phy.assign(static_cast<size_t>(num_logical) * p.max_copies, -1);
  std::vector<int> fill(num_logical, 0);
  for (int s = 0; s < p.num_slots(); ++s) {
    int e = p2l[s];
    p.log2phy[static_cast<size_t>(e) * p.max_copies + fill[e]++] = s;
  }
  return p;
}

Placement Placement::initial(int num_ranks, int num_logical, int slots_per_rank) {
  WIDEEP_ASSERT(num_ranks > 0 && num_logical > 0 && slots_per_rank > 0 &&
                    static_cast<int64_t>(num_ranks) * slots_per_rank >= num_logical,
                "initial placement needs at least one slot per expert");
  std::vector<int> p2l(static_cast<size_t>(num_ranks) * slots_per_rank);
  for (size_t i = 0; i < p2l.size(); ++i) p2l[i] = static_cast<int>(i % static_cast<size_t>(num_logical));
  return from_phy2log(num_ranks, num_logical, p2l);
}

double predicted_balancedness(const Placement& p, const double* loads) {
  std::vector<double> rank(static_cast<size_t>(p.num_ranks), 0.0);
  for (int slot = 0; slot < p.num_slots(); ++slot) {
    const int e = p.phy2log[slot];
    rank[static_cast<size_t>(p.rank_of_slot(slot))] += loads[e] / p.logcnt[e];
  }
  double sum = 0, mx = 0;
  for (double v : rank) {
    sum += v;
    mx = v > mx ? v : mx;
  }
  return mx > 0 ? sum / p.num_ranks / mx : 1.0;
}

}  // namespace wideep
