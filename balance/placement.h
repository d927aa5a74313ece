// Placement of one MoE layer's logical experts on physical slots.
// Layout: rank r owns the contiguous slots [r*slots_per_rank, (r+1)*slots_per_rank);
// phy2log[slot] is the logical expert a slot holds; log2phy is padded with -1 and
// lists each expert's copies in increasing slot order. Pure data, no I/O.
#pragma once

#include <string>
#include <vector>

namespace wideep {

struct Placement {
  int num_ranks = 0;
  int slots_per_rank = 0;
  int num_logical = 0;
  std::vector<int> phy2log;  // [num_ranks * slots_per_rank]
  std::vector<int> logcnt;   // [num_logical] copies of each expert
  int max_copies = 0;        // width of a log2phy row
  std::vector<int> log2phy;  // [num_logical * max_copies], -1 padded

  int num_slots() const { return num_ranks * slots_per_rank; }
  int rank_of_slot(int slot) const { return slot / slots_per_rank; }
  const int* copies(int expert) const { return &log2phy[static_cast<size_t>(expert) * max_copies]; }

  // Builds the derived tables from phy2log. Throws UsageError (naming `what`)
  // when the shape is inconsistent or a slot names an expert out of range.
  static Placement from_phy2log(int num_ranks, int num_logical, const std::vector<int>& phy2log,
                                const std::string& what = "placement");

  // The first placement of a run without a balancer or file: physical slot i
  // holds logical expert i % E (SGLang's trivial layout). With E % R == 0 and no
  // redundancy, expert e is on rank e / (E / R); the P - E redundant slots, the
  // last ones, repeat experts 0, 1, ... Two copies of one expert share a rank
  // only when a rank has more slots than there are experts.
  static Placement initial(int num_ranks, int num_logical, int slots_per_rank);

  // Empty when valid, otherwise a message: every expert needs >= 1 copy when
  // require_all_served, every slot holds an expert in [0, num_logical).
  std::string validate(bool require_all_served = true) const;
};

// Balancedness (mean / max rank load) this placement would give `loads`
// [num_logical] with each expert's load split evenly over its copies (the
// static rule's expectation): what an EPLB re-plan is predicted to gain.
double predicted_balancedness(const Placement& p, const double* loads);

}  // namespace wideep
