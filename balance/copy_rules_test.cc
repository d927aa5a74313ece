// Tests of the shared copy-choice rules: the fixed rule's loads from counts
// equal the loads of its per-pair choice, shared pairs land where the waterfill
// quotas say, and the expected loads add up to every pair exactly once.
#include "balance/copy_rules.h"

#include <gtest/gtest.h>

#include <numeric>
#include <random>

#include "balance/waterfill.h"

namespace wideep {
namespace {

// R ranks, E experts, a random replication of `extra` slots.
Placement random_placement(std::mt19937_64& rng, int R, int E, int slots_per_rank) {
  std::vector<int> phy2log(static_cast<size_t>(R) * slots_per_rank);
  for (int s = 0; s < R * slots_per_rank; ++s) phy2log[s] = s < E ? s : static_cast<int>(rng() % E);
  std::shuffle(phy2log.begin(), phy2log.end(), rng);
  return Placement::from_phy2log(R, E, phy2log);
}

TEST(CopyRules, StaticLoadsFromCountsEqualPerPairChoice) {
  std::mt19937_64 rng(11);
  for (int it = 0; it < 300; ++it) {
    const int R = 1 + rng() % 8, E = R * (1 + rng() % 4), S = E / R + rng() % 3, T = rng() % 40, K = 1 + rng() % 4;
    const Placement p = random_placement(rng, R, E, S);
    std::vector<int64_t> counts(static_cast<size_t>(R) * E, 0), want(R, 0), got(R, -1);
    std::vector<int32_t> seen(E), slots(static_cast<size_t>(T) * K), ids(static_cast<size_t>(T) * K);
    for (int r = 0; r < R; ++r) {
      for (int32_t& e : ids) {
        e = static_cast<int32_t>(rng() % E);
        ++counts[static_cast<size_t>(r) * E + e];
      }
      static_copy_choice(p, ids.data(), static_cast<int64_t>(T) * K, r, seen.data(), slots.data());
      for (size_t i = 0; i < ids.size(); ++i) {
        ASSERT_EQ(p.phy2log[slots[i]], ids[i]) << "a pair went to a copy of another expert";
        ++want[p.rank_of_slot(slots[i])];
      }
    }
    static_rank_loads(p, counts.data(), R, got.data());
    ASSERT_EQ(got, want) << "it " << it;
  }
}

TEST(CopyRules, SharedPairsFollowTheWaterfillQuotas) {
  std::mt19937_64 rng(5);
  for (int it = 0; it < 300; ++it) {
    const int R = 1 + rng() % 8, T = rng() % 20, K = 1 + rng() % 3, SH = 1 + rng() % 2, P = K + SH;
    std::vector<int64_t> routed(R), shared(R, static_cast<int64_t>(T) * SH), move(static_cast<size_t>(R) * R);
    for (int64_t& v : routed) v = rng() % 100;
    waterfill_shared(routed.data(), shared.data(), R, move.data());
    std::vector<int64_t> received(R, 0);
    for (int r = 0; r < R; ++r) {
      std::vector<int32_t> dest(static_cast<size_t>(T) * P, -1);
      place_shared_pairs(r, R, T, K, SH, &move[static_cast<size_t>(r) * R], dest.data());
      std::vector<int64_t> sent(R, 0);
      for (int t = 0; t < T; ++t) {
        for (int k = 0; k < K; ++k) ASSERT_EQ(dest[static_cast<size_t>(t) * P + k], -1) << "routed pair touched";
        for (int j = 0; j < SH; ++j) ++sent[dest[static_cast<size_t>(t) * P + K + j]];
      }
      for (int d = 0; d < R; ++d) {
        ASSERT_EQ(sent[d], move[static_cast<size_t>(r) * R + d]) << "rank " << r << " to " << d;
        received[d] += sent[d];
      }
      // Without quotas every shared pair stays home.
      place_shared_pairs(r, R, T, K, SH, nullptr, dest.data());
      for (int t = 0; t < T; ++t)
        for (int j = 0; j < SH; ++j) ASSERT_EQ(dest[static_cast<size_t>(t) * P + K + j], r);
    }
    std::vector<int64_t> expected(R);
    expected_loads(routed.data(), move.data(), R, static_cast<int64_t>(T) * SH, expected.data());
    for (int r = 0; r < R; ++r) ASSERT_EQ(expected[r], routed[r] + received[r]);
    expected_loads(routed.data(), nullptr, R, static_cast<int64_t>(T) * SH, expected.data());
    for (int r = 0; r < R; ++r) ASSERT_EQ(expected[r], routed[r] + static_cast<int64_t>(T) * SH);
  }
}

TEST(CopyRules, LayerLpRoutedLoadsAddUpToThePairs) {
  std::mt19937_64 rng(9);
  for (int it = 0; it < 200; ++it) {
    const int R = 1 + rng() % 8, E = R * (1 + rng() % 4), S = E / R + 1 + rng() % 2;
    const int64_t shared_per_rank = rng() % 3 * 10;
    const bool moves_shared = rng() % 2;
    const Placement p = random_placement(rng, R, E, S);
    std::vector<int64_t> counts(static_cast<size_t>(R) * E), routed(R);
    for (int64_t& c : counts) c = rng() % 30;
    LayerLp lp;
    lp.init(R, E, shared_per_rank, moves_shared, 0);
    lp.solve(p, counts.data(), routed.data());
    const int64_t pairs = std::accumulate(counts.begin(), counts.end(), int64_t{0});
    ASSERT_EQ(std::accumulate(routed.begin(), routed.end(), int64_t{0}), pairs);
    const int64_t base = moves_shared ? 0 : shared_per_rank;
    for (int r = 0; r < R; ++r) ASSERT_LE(routed[r] + base, lp.result().max_load);
  }
}

}  // namespace
}  // namespace wideep
