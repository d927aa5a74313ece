// Waterfill balancers: the shared-expert fill (exact integer quotas, local
// first, overloaded ranks' excess poured into slack ranks in rank order) and the
// greedy routed fill (each expert's tokens level its copies' ranks), and
// SGLang's slack-proportional per-token draw (waterfill_sglang).
#include "balance/waterfill.h"

#include <algorithm>
#include <vector>

#include "common/check.h"
#include "common/splitmix.h"

namespace wideep {

void waterfill_shared(const int64_t* routed_loads, const int64_t* shared_tokens, int num_ranks,
                      int64_t* shared_move) {
  const int R = num_ranks;
  int64_t total = 0;
  for (int r = 0; r < R; ++r) total += routed_loads[r] + shared_tokens[r];
  const int64_t level = (total + R - 1) / R;  // the water level H
  std::fill(shared_move, shared_move + static_cast<size_t>(R) * R, 0);
  // Local first: each rank keeps what fits under H. What is left over moves.
  thread_local std::vector<int64_t> excess, slack;
  excess.assign(R, 0);
  slack.assign(R, 0);
  for (int r = 0; r < R; ++r) {
    const int64_t room = std::max<int64_t>(level - routed_loads[r], 0);
    const int64_t keep = std::min(shared_tokens[r], room);
    shared_move[static_cast<size_t>(r) * R + r] = keep;
    excess[r] = shared_tokens[r] - keep;
    slack[r] = room - keep;
  }
  // Slack covers the excess (sum of loads <= R*H); two pointers in rank order
  // give each overloaded rank as few destinations as possible.
  int dst = 0;
  for (int src = 0; src < R; ++src) {
    while (excess[src] > 0) {
      while (dst < R && slack[dst] == 0) ++dst;
      WIDEEP_ASSERT(dst < R, "waterfill_shared: slack does not cover the excess");
      const int64_t t = std::min(excess[src], slack[dst]);
      shared_move[static_cast<size_t>(src) * R + dst] += t;
      excess[src] -= t;
      slack[dst] -= t;
    }
  }
}

namespace {

// Raises the least-loaded of `ranks` (ordered by load, then rank) with `tokens`,
// as if each token went to the least-loaded rank; writes what each rank got.
void level_ranks(std::vector<int>& ranks, const std::vector<int64_t>& load, int64_t tokens,
                 std::vector<int64_t>& got) {
  std::sort(ranks.begin(), ranks.end(),
            [&](int a, int b) { return load[a] < load[b] || (load[a] == load[b] && a < b); });
  const int n = static_cast<int>(ranks.size());
  int j = 1;  // ranks[0, j) get filled to a common level
  int64_t cost = 0;
  while (j < n) {
    const int64_t step = (load[ranks[j]] - load[ranks[j - 1]]) * j;
    if (cost + step > tokens) break;
    cost += step;
    ++j;
  }
  const int64_t floor_level = load[ranks[j - 1]] + (tokens - cost) / j;
  const int64_t extra = (tokens - cost) % j;
  // The extra tokens go one each to the lowest rank ids among the filled ones.
  std::vector<int> filled(ranks.begin(), ranks.begin() + j);
  std::sort(filled.begin(), filled.end());
  for (int k = 0; k < n; ++k) got[k] = 0;
  for (int k = 0; k < j; ++k) {
    const int r = ranks[k];
    const bool plus = std::lower_bound(filled.begin(), filled.end(), r) - filled.begin() < extra;
    got[k] = floor_level - load[r] + (plus ? 1 : 0);
  }
}

}  // namespace

void waterfill_routed(const LpInput& in, LpResult* out) {
  WIDEEP_ASSERT(in.placement && in.counts && out, "waterfill_routed needs a placement and counts");
  const Placement& p = *in.placement;
  const int E = p.num_logical, R = p.num_ranks;
  std::vector<int64_t> load(R, 0);
  if (in.base_load) std::copy(in.base_load, in.base_load + R, load.begin());
  std::vector<int> order(E);
  for (int e = 0; e < E; ++e) order[e] = e;
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return in.counts[a] > in.counts[b]; });
  out->copy_tokens.assign(p.num_slots(), 0);
  std::vector<int> ranks;
  std::vector<int64_t> got;
  for (int e : order) {
    const int64_t c = in.counts[e];
    if (c <= 0) break;
    if (p.logcnt[e] == 0)
      throw UsageError("expert " + std::to_string(e) + " has " + std::to_string(c) +
                       " tokens but no physical copy");
    const int* cp = p.copies(e);
    ranks.clear();
    for (int k = 0; k < p.logcnt[e]; ++k)
      if (ranks.empty() || ranks.back() != p.rank_of_slot(cp[k])) ranks.push_back(p.rank_of_slot(cp[k]));
    got.assign(ranks.size(), 0);
    level_ranks(ranks, load, c, got);
    for (size_t k = 0; k < ranks.size(); ++k) {
      const int r = ranks[k];
      load[r] += got[k];
      // Copies of e on rank r share its tokens evenly, lower slots first.
      int first = -1, n = 0;
      for (int q = 0; q < p.logcnt[e]; ++q)
        if (p.rank_of_slot(cp[q]) == r) {
          if (first < 0) first = q;
          ++n;
        }
      for (int q = 0; q < n; ++q) out->copy_tokens[cp[first + q]] = got[k] / n + (q < got[k] % n ? 1 : 0);
    }
  }
  out->rank_loads = load;
  out->max_load = *std::max_element(load.begin(), load.end());
  out->lp_opt = -1;
}

namespace {
// The draws must repeat run to run and rank to rank, from the key alone.
uint64_t mix(uint64_t x) { return splitmix64(x); }
}  // namespace

uint64_t sglang_waterfill_key(int64_t call) { return mix(0x5A1A7E9F11ull ^ mix(static_cast<uint64_t>(call))); }

void waterfill_sglang(const SglangWaterfillInput& in, int32_t* shared_dest) {
  const int R = in.num_ranks, T = in.tokens, K = in.topk, S = in.shared;
  WIDEEP_ASSERT(R > 0 && in.rank >= 0 && in.rank < R && in.rank_loads && (K == 0 || in.routed_dest),
                "waterfill_sglang: bad input");
  const size_t pairs = static_cast<size_t>(T) * S;
  if (T < kSglangMinBalanceTokens) {
    std::fill(shared_dest, shared_dest + pairs, in.rank);
    return;
  }
  int64_t sum = 0, peak = 0;
  for (int r = 0; r < R; ++r) {
    sum += in.rank_loads[r];
    peak = std::max(peak, in.rank_loads[r]);
  }
  const int64_t shared_total = static_cast<int64_t>(in.dynamic ? R : 1) * T * S;
  const int64_t level = (sum + shared_total + R - 1) / R;
  // Slack weights in tenths, so that the local bonus 11/10 stays integral.
  std::vector<int64_t> weight(R);
  for (int r = 0; r < R; ++r) weight[r] = std::max<int64_t>(level - in.rank_loads[r], 0) * 10;
  weight[in.rank] = weight[in.rank] / 10 * 11;
  const bool all_ranks = in.dynamic && peak <= level;
  std::vector<int> cand;
  cand.reserve(K + 1);
  for (int t = 0; t < T; ++t) {
    cand.clear();
    if (all_ranks) {
      for (int r = 0; r < R; ++r) cand.push_back(r);
    } else {
      cand.push_back(in.rank);
      for (int k = 0; k < K; ++k) {
        const int r = in.routed_dest[static_cast<size_t>(t) * K + k];
        if (std::find(cand.begin(), cand.end(), r) == cand.end()) cand.push_back(r);
      }
    }
    int64_t total = 0;
    for (int r : cand) total += weight[r];
    for (int j = 0; j < S; ++j) {
      int dest = in.rank;
      if (total > 0) {
        const uint64_t h = mix(in.key ^ mix(static_cast<uint64_t>(in.first_token + t) * 64 + j));
        int64_t u = static_cast<int64_t>(h % static_cast<uint64_t>(total));
        for (int r : cand) {
          if (u < weight[r]) {
            dest = r;
            break;
          }
          u -= weight[r];
        }
      }
      shared_dest[static_cast<size_t>(t) * S + j] = dest;
    }
  }
}

void SglangPlacement::init(int ranks, int tokens, int topk, int shared) {
  routed_dest.assign(static_cast<size_t>(tokens) * topk, 0);
  shared_dest.assign(static_cast<size_t>(tokens) * shared, 0);
  own_loads.assign(ranks, 0);
}

void SglangPlacement::place(int ranks, int rank, int tokens, int topk, int shared, bool dynamic, uint64_t key,
                            const int64_t* global_loads, int32_t* pair_dest) {
  const int P = topk + shared;
  for (int t = 0; t < tokens; ++t)
    for (int k = 0; k < topk; ++k) routed_dest[static_cast<size_t>(t) * topk + k] = pair_dest[static_cast<size_t>(t) * P + k];
  SglangWaterfillInput in;
  in.num_ranks = ranks;
  in.rank = rank;
  in.tokens = tokens;
  in.topk = topk;
  in.shared = shared;
  in.first_token = static_cast<int64_t>(rank) * tokens;
  in.routed_dest = routed_dest.data();
  in.dynamic = dynamic;
  in.key = key;
  if (dynamic) {
    in.rank_loads = global_loads;
  } else {
    std::fill(own_loads.begin(), own_loads.end(), 0);
    for (int32_t r : routed_dest) ++own_loads[r];
    in.rank_loads = own_loads.data();
  }
  waterfill_sglang(in, shared_dest.data());
  for (int t = 0; t < tokens; ++t)
    for (int j = 0; j < shared; ++j)
      pair_dest[static_cast<size_t>(t) * P + topk + j] = shared_dest[static_cast<size_t>(t) * shared + j];
}

}  // namespace wideep
