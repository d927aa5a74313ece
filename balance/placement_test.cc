// The first placement of a run (Placement::initial: slot i holds expert i % E)
// on rank counts whose experts do not divide, worked out by hand.
#include "balance/placement.h"

#include <gtest/gtest.h>

#include <vector>

namespace wideep {
namespace {

std::vector<int> rank_experts(const Placement& p, int r) {
  return {p.phy2log.begin() + r * p.slots_per_rank, p.phy2log.begin() + (r + 1) * p.slots_per_rank};
}

// 8 ranks x 2 slots, 12 experts + 4 redundant: slots 0-11 hold experts 0-11
// (ranks 0-5), the last four repeat experts 0-3 on ranks 6 and 7.
TEST(InitialPlacement, TwelveExpertsOnEightRanks) {
  const Placement p = Placement::initial(8, 12, 2);
  EXPECT_EQ(p.phy2log, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0, 1, 2, 3}));
  EXPECT_EQ(rank_experts(p, 0), (std::vector<int>{0, 1}));
  EXPECT_EQ(rank_experts(p, 6), (std::vector<int>{0, 1}));
  EXPECT_EQ(rank_experts(p, 7), (std::vector<int>{2, 3}));
  EXPECT_EQ(p.logcnt, (std::vector<int>{2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1}));
  EXPECT_EQ(p.max_copies, 2);
  // Expert 3's copies: slot 3 (rank 1) and slot 15 (rank 7); expert 4 only slot 4.
  EXPECT_EQ(p.copies(3)[0], 3);
  EXPECT_EQ(p.copies(3)[1], 15);
  EXPECT_EQ(p.copies(4)[0], 4);
  EXPECT_EQ(p.copies(4)[1], -1);
}

// 6 ranks x 3 slots, 16 + 2: rank 5 holds the last expert and copies of 0 and 1.
TEST(InitialPlacement, SixteenExpertsOnSixRanks) {
  const Placement p = Placement::initial(6, 16, 3);
  EXPECT_EQ(rank_experts(p, 0), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(rank_experts(p, 4), (std::vector<int>{12, 13, 14}));
  EXPECT_EQ(rank_experts(p, 5), (std::vector<int>{15, 0, 1}));
  EXPECT_EQ(p.logcnt[0], 2);
  EXPECT_EQ(p.logcnt[2], 1);
}

// One slot per rank: 2 + 2 on 4 ranks alternates, 4 + 0 is expert r on rank r.
TEST(InitialPlacement, OneExpertPerRank) {
  EXPECT_EQ(Placement::initial(4, 2, 1).phy2log, (std::vector<int>{0, 1, 0, 1}));
  EXPECT_EQ(Placement::initial(4, 4, 1).phy2log, (std::vector<int>{0, 1, 2, 3}));
  // DeepSeek's decode: 256 + 64 on 320 GPUs; GPU 256 + i holds a copy of expert i.
  const Placement p = Placement::initial(320, 256, 1);
  EXPECT_EQ(p.phy2log[255], 255);
  EXPECT_EQ(p.phy2log[256], 0);
  EXPECT_EQ(p.phy2log[319], 63);
  EXPECT_EQ(p.logcnt[63], 2);
  EXPECT_EQ(p.logcnt[64], 1);
}

// Without redundancy and E % R == 0, expert e is on rank e / (E / R) (the
// layout of every run before issue 27).
TEST(InitialPlacement, DividingExpertsAreContiguousPerRank) {
  const Placement p = Placement::initial(4, 8, 2);
  for (int e = 0; e < 8; ++e) EXPECT_EQ(p.rank_of_slot(p.copies(e)[0]), e / 2) << "expert " << e;
}

// Two copies share a rank only when a rank has more slots than there are
// experts: 2 ranks x 3 slots of 2 experts.
TEST(InitialPlacement, CopiesShareARankOnlyWhenSlotsExceedExperts) {
  const Placement p = Placement::initial(2, 2, 3);
  EXPECT_EQ(p.phy2log, (std::vector<int>{0, 1, 0, 1, 0, 1}));
  EXPECT_EQ(p.logcnt, (std::vector<int>{3, 3}));
  // 72 ranks x 4 slots of 256 experts: no rank holds two copies of one expert.
  const Placement q = Placement::initial(72, 256, 4);
  for (int r = 0; r < 72; ++r) {
    const std::vector<int> x = rank_experts(q, r);
    for (int i = 0; i < 4; ++i)
      for (int j = i + 1; j < 4; ++j) EXPECT_NE(x[i], x[j]) << "rank " << r;
  }
  EXPECT_EQ(rank_experts(q, 63), (std::vector<int>{252, 253, 254, 255}));
  EXPECT_EQ(rank_experts(q, 64), (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(rank_experts(q, 71), (std::vector<int>{28, 29, 30, 31}));
}

}  // namespace
}  // namespace wideep
