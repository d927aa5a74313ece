// Weight-move planning between two placements of all layers: which slots keep
// their expert, which are filled by a local copy, and which by a transfer from
// which holder (same node first, sending spread), in one posting order.
#include "balance/move_plan.h"

#include <algorithm>
#include <tuple>

#include "common/check.h"

namespace wideep {
namespace {

void check_shapes(const std::vector<Placement>& old_p, const std::vector<Placement>& new_p,
                  int ranks_per_node) {
  if (old_p.size() != new_p.size())
    throw UsageError("weight moves: old placement has " + std::to_string(old_p.size()) +
                     " layers, new has " + std::to_string(new_p.size()));
  for (size_t l = 0; l < old_p.size(); ++l) {
    const Placement& a = old_p[l];
    const Placement& b = new_p[l];
    if (a.num_ranks != b.num_ranks || a.slots_per_rank != b.slots_per_rank ||
        a.num_logical != b.num_logical || a.phy2log.size() != b.phy2log.size())
      throw UsageError("weight moves: layer " + std::to_string(l) + " differs in shape");
    std::string err = a.validate(true);
    if (err.empty()) err = b.validate(true);
    if (!err.empty()) throw UsageError("weight moves: layer " + std::to_string(l) + ": " + err);
    if (ranks_per_node <= 0 || a.num_ranks % ranks_per_node != 0)
      throw UsageError("weight moves: ranks per node " + std::to_string(ranks_per_node) +
                       " does not divide " + std::to_string(a.num_ranks) + " ranks");
  }
}

// A slot that needs a transfer, and the ranks that may send it.
struct Need {
  WeightMove move;              // src_* filled once a sender is chosen
  std::vector<int> candidates;  // ranks (ascending) of the preferred holders
  std::vector<int> src_slots;   // their lowest old slot holding the expert
};

void choose_source(Need& n, int which) {
  n.move.src_rank = n.candidates[which];
  n.move.src_slot = n.src_slots[which];
}

// Greedy: the most constrained needs first, each to its least busy candidate
// (lowest rank on ties). Then augmenting paths: from the busiest sender b,
// search ranks reachable by re-assigning one of a rank's sends to another
// candidate of it; if one sends at most max-2, shift sends along the path.
// When no path exists from b, the ranks reachable from it must carry all their
// sends among themselves, so the maximum is optimal (a min-max semi-matching).
void spread_senders(std::vector<Need>& needs, int num_ranks, std::vector<int64_t>& sends) {
  std::vector<size_t> order(needs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return needs[a].candidates.size() < needs[b].candidates.size();
  });
  sends.assign(num_ranks, 0);
  std::vector<int> chosen(needs.size());  // index into candidates
  for (size_t i : order) {
    Need& n = needs[i];
    size_t best = 0;
    for (size_t c = 1; c < n.candidates.size(); ++c)
      if (sends[n.candidates[c]] < sends[n.candidates[best]]) best = c;
    chosen[i] = static_cast<int>(best);
    ++sends[n.candidates[best]];
  }
  std::vector<std::vector<size_t>> by_rank(num_ranks);
  std::vector<int> parent_rank(num_ranks);
  std::vector<size_t> parent_need(num_ranks);
  std::vector<int> queue;
  while (!needs.empty()) {
    const int b = static_cast<int>(std::max_element(sends.begin(), sends.end()) - sends.begin());
    const int64_t peak = sends[b];
    for (auto& v : by_rank) v.clear();
    for (size_t i = 0; i < needs.size(); ++i) by_rank[needs[i].candidates[chosen[i]]].push_back(i);
    std::fill(parent_rank.begin(), parent_rank.end(), -2);
    parent_rank[b] = -1;
    queue.assign(1, b);
    int target = -1;
    for (size_t q = 0; q < queue.size() && target < 0; ++q) {
      const int u = queue[q];
      for (size_t i : by_rank[u]) {
        for (int c : needs[i].candidates) {
          if (parent_rank[c] != -2) continue;
          parent_rank[c] = u, parent_need[c] = i;
          if (sends[c] <= peak - 2) {
            target = c;
            break;
          }
          queue.push_back(c);
        }
        if (target >= 0) break;
      }
    }
    if (target < 0) break;
    --sends[b], ++sends[target];
    for (int c = target; parent_rank[c] >= 0; c = parent_rank[c]) {
      Need& n = needs[parent_need[c]];
      chosen[parent_need[c]] = static_cast<int>(
          std::find(n.candidates.begin(), n.candidates.end(), c) - n.candidates.begin());
    }
  }
  for (size_t i = 0; i < needs.size(); ++i) choose_source(needs[i], chosen[i]);
}

}  // namespace

MovePlan plan_weight_moves(const std::vector<Placement>& old_placement,
                           const std::vector<Placement>& new_placement, int ranks_per_node) {
  check_shapes(old_placement, new_placement, ranks_per_node);
  MovePlan plan;
  if (old_placement.empty()) return plan;
  const int R = old_placement[0].num_ranks;
  std::vector<int64_t> naive_sends(R, 0);
  std::vector<Need> needs;
  for (size_t l = 0; l < old_placement.size(); ++l) {
    const Placement& op = old_placement[l];
    const Placement& np = new_placement[l];
    const int S = op.slots_per_rank;
    // first_slot[e * R + r]: rank r's lowest old slot holding e, or -1.
    std::vector<int> first_slot(static_cast<size_t>(op.num_logical) * R, -1);
    std::vector<int> first_holder(op.num_logical, -1);  // the naive plan's source rank
    for (int s = op.num_slots() - 1; s >= 0; --s) {
      first_slot[static_cast<size_t>(op.phy2log[s]) * R + s / S] = s;
      first_holder[op.phy2log[s]] = s / S;
    }
    for (int s = 0; s < np.num_slots(); ++s) {
      const int e = np.phy2log[s], d = s / S;
      if (op.phy2log[s] == e) continue;  // stays
      ++plan.naive_transfers;
      if (first_holder[e] != d) ++naive_sends[first_holder[e]];
      WeightMove m{static_cast<int>(l), e, -1, -1, d, s};
      const int own = first_slot[static_cast<size_t>(e) * R + d];
      if (own >= 0) {
        m.src_rank = d, m.src_slot = own;
        plan.local_copies.push_back(m);
        continue;
      }
      Need n{m, {}, {}};
      for (int pass = 0; pass < 2 && n.candidates.empty(); ++pass) {
        for (int r = 0; r < R; ++r) {
          const int slot = first_slot[static_cast<size_t>(e) * R + r];
          const bool same_node = r / ranks_per_node == d / ranks_per_node;
          if (slot >= 0 && (pass == 1 || same_node)) n.candidates.push_back(r), n.src_slots.push_back(slot);
        }
      }
      needs.push_back(std::move(n));
    }
  }
  std::vector<int64_t> sends;
  spread_senders(needs, R, sends);
  for (const Need& n : needs) {
    plan.transfers.push_back(n.move);
    if (n.move.src_rank / ranks_per_node != n.move.dst_rank / ranks_per_node) ++plan.cross_node_transfers;
  }
  // Posting order: every rank walks this list, so the sends from a to b and
  // b's receives from a appear in the same relative order.
  std::sort(plan.transfers.begin(), plan.transfers.end(), [](const WeightMove& a, const WeightMove& b) {
    return std::tie(a.layer, a.src_rank, a.dst_rank, a.dst_slot) <
           std::tie(b.layer, b.src_rank, b.dst_rank, b.dst_slot);
  });
  plan.max_sends_per_rank = sends.empty() ? 0 : *std::max_element(sends.begin(), sends.end());
  plan.naive_max_sends_per_rank = *std::max_element(naive_sends.begin(), naive_sends.end());
  return plan;
}

}  // namespace wideep
