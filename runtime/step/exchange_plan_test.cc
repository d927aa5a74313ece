// Sizes and offsets of dispatch and combine from a layout and the counts
// round, worked by hand for 3 ranks (rank 1's view), and a peer announcing
// more than it can send named as the culprit.
#include "runtime/step/exchange_plan.h"

#include <gtest/gtest.h>

#include "common/check.h"

namespace wideep {
namespace {

// Rank 1 sends 2 rows to rank 0, 0 to itself... (rank_row_offset {0, 2, 2, 5})
// and receives 4 rows (9 pairs) from rank 0, 1 (2 pairs) from itself, 0 from rank 2.
TEST(ExchangePlan, WorkedByHand) {
  const int32_t off[] = {0, 2, 2, 5};
  const int64_t pairs[] = {3, 0, 4};
  int64_t msg[3];
  counts_message(off, pairs, 3, msg);
  EXPECT_EQ(unpack_rows(msg[0]), 2);
  EXPECT_EQ(unpack_pairs(msg[0]), 3);
  EXPECT_EQ(unpack_rows(msg[2]), 3);
  EXPECT_EQ(unpack_pairs(msg[2]), 4);
  const int64_t recv[] = {pack_rows_pairs(4, 9), pack_rows_pairs(1, 2), 0};
  ExchangePlan x;
  x.init(3);
  plan_exchange(off, recv, 3, /*T=*/8, /*P=*/4, /*row_bytes=*/96, /*return_row_bytes=*/32, &x);
  EXPECT_EQ(x.recv_total_rows, 5);
  EXPECT_EQ(x.recv_total_pairs, 11);
  EXPECT_EQ(x.send_bytes, (std::vector<int64_t>{192, 0, 288}));
  EXPECT_EQ(x.send_offset, (std::vector<int64_t>{0, 192, 192}));
  EXPECT_EQ(x.send_row_offset, (std::vector<int64_t>{0, 2, 2}));
  EXPECT_EQ(x.recv_bytes, (std::vector<int64_t>{384, 96, 0}));
  EXPECT_EQ(x.recv_offset, (std::vector<int64_t>{0, 384, 480}));
  EXPECT_EQ(x.recv_row_offset, (std::vector<int64_t>{0, 4, 5}));
  // Combine: back to each peer what came from it, return rows only.
  EXPECT_EQ(x.back_send_bytes, (std::vector<int64_t>{128, 32, 0}));
  EXPECT_EQ(x.back_send_offset, (std::vector<int64_t>{0, 128, 160}));
  EXPECT_EQ(x.back_recv_bytes, (std::vector<int64_t>{64, 0, 96}));
  EXPECT_EQ(x.back_recv_offset, (std::vector<int64_t>{0, 64, 64}));
}

TEST(ExchangePlan, ImpossibleAnnouncementsNameThePeer) {
  const int32_t off[] = {0, 1, 2};
  ExchangePlan x;
  x.init(2);
  for (int64_t bad : {pack_rows_pairs(9, 9), pack_rows_pairs(2, 9), pack_rows_pairs(2, 0), int64_t{-1}}) {
    const int64_t recv[] = {pack_rows_pairs(1, 1), bad};
    try {
      plan_exchange(off, recv, 2, /*T=*/8, /*P=*/4, 64, 16, &x);
      FAIL() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.category(), ErrorCategory::kRemote);
      EXPECT_NE(std::string(e.what()).find("rank 1 announced"), std::string::npos) << e.what();
    }
  }
  const int64_t ok[] = {pack_rows_pairs(8, 32), 0};
  EXPECT_NO_THROW(plan_exchange(off, ok, 2, 8, 4, 64, 16, &x));
}

}  // namespace
}  // namespace wideep
