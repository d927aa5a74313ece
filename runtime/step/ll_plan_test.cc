// Low-latency regions: rows per (destination, slot), the overflow found at
// the first full region, the exchange sizes with header rows worked by hand,
// headers read back (a corrupt or oversized one named as the sender's).
#include "runtime/step/ll_plan.h"

#include <gtest/gtest.h>

#include "common/check.h"
#include "runtime/step/exchange_plan.h"

namespace wideep {
namespace {

TEST(LlPlan, RegionRows) {
  EXPECT_EQ(ll_region_rows(32 * 4, 4, 32), 32);  // the default T x R: T rows per source
  EXPECT_EQ(ll_region_rows(10, 4, 32), 2);
  EXPECT_EQ(ll_region_rows(1000, 4, 32), 32);  // a source never sends more than T rows to a slot
}

TEST(LlPlan, SlotRowsSkipSelfAndFindOverflow) {
  // Rank 1 of 3, S = 2: pairs to (0,1), (1,0) (itself), (2,1), (2,1), (0,0).
  const int32_t dest[] = {0, 1, 2, 2, 0}, slot[] = {1, 0, 1, 1, 0};
  int64_t counts[6];
  ll_slot_rows(dest, slot, 5, 1, 3, 2, counts);
  const int64_t want[] = {1, 1, 0, 0, 0, 2};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(counts[i], want[i]) << i;
  EXPECT_EQ(ll_first_overflow(counts, 3, 2, 2), -1);
  EXPECT_EQ(ll_first_overflow(counts, 3, 2, 1), 2 * 2 + 1);
}

TEST(LlPlan, ExchangeWithHeadersWorkedByHand) {
  // Rank 1 of 3 sends 2 rows to rank 0, 1 to itself, 0 to rank 2; S = 2, region 3, row 64 B.
  const int32_t off[] = {0, 2, 3, 3};
  LlExchange x;
  x.init(3);
  ll_plan_send(off, 3, 1, 2, 3, 64, &x);
  EXPECT_EQ(x.source_rows, 7);
  const int64_t send_rows[] = {3, 2, 1}, send_off[] = {0, 3, 5};
  for (int p = 0; p < 3; ++p) {
    EXPECT_EQ(x.send_rows[p], send_rows[p]);
    EXPECT_EQ(x.send_row_offset[p], send_off[p]);
    EXPECT_EQ(x.recv_offset[p], p * 7 * 64);
  }
  EXPECT_EQ(x.recv_bytes[0], 7 * 64);
  EXPECT_EQ(x.recv_bytes[1], 2 * 64);  // its own message: exact
  EXPECT_EQ(x.recv_bytes[2], 7 * 64);
  // Headers as they arrive: 4 rows from rank 0, 1 from itself, 0 from rank 2.
  unsigned char row[64] = {};
  ll_write_header(4, row);
  const int64_t heads[] = {ll_read_header(row), 1, 0};
  EXPECT_EQ(heads[0], 4);
  ll_plan_received(heads, 3, 2, 3, &x);
  const int64_t from[] = {1, 8, 15}, to[] = {0, 4, 5};
  for (int p = 0; p < 3; ++p) {
    EXPECT_EQ(x.from_row[p], from[p]);
    EXPECT_EQ(x.to_row[p], to[p]);
    EXPECT_EQ(x.rows[p], heads[p]);
    EXPECT_EQ(unpack_rows(x.recv_msg[p]), heads[p]);
    EXPECT_EQ(unpack_pairs(x.recv_msg[p]), heads[p]);
  }
}

TEST(LlPlan, BadHeadersNameTheSender) {
  unsigned char row[64] = {};
  EXPECT_EQ(ll_read_header(row), -1);  // no magic: not a header
  LlExchange x;
  x.init(2);
  x.source_rows = 1 + 2 * 3;
  const int64_t missing[] = {0, -1};
  try {
    ll_plan_received(missing, 2, 2, 3, &x);
    FAIL() << "a missing header was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::kRemote);
    EXPECT_NE(std::string(e.what()).find("rank 1 sent a low-latency message whose header is missing"),
              std::string::npos);
  }
  const int64_t big[] = {7, 0};
  EXPECT_THROW(ll_plan_received(big, 2, 2, 3, &x), Error);  // 7 > S * region = 6
}

}  // namespace
}  // namespace wideep
