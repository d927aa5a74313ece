// Per-(slot, source) regions, headers and overflow of low-latency dispatch (runtime/step/ll_plan.h).
#include "runtime/step/ll_plan.h"

#include <algorithm>
#include <cstring>

#include "common/check.h"
#include "runtime/step/exchange_plan.h"

namespace wideep {

namespace {
constexpr int64_t kHeaderMagic = 0x4c4c4844525357ll;  // "WSRDHLL": a low-latency header row
}  // namespace

int64_t ll_region_rows(int64_t capacity, int R, int T) { return std::min<int64_t>(capacity / R, T); }

void ll_slot_rows(const int32_t* pair_dest, const int32_t* pair_slot, int64_t n, int rank, int R, int S,
                  int64_t* counts) {
  std::fill(counts, counts + static_cast<int64_t>(R) * S, 0);
  for (int64_t i = 0; i < n; ++i)
    if (pair_dest[i] != rank) ++counts[static_cast<int64_t>(pair_dest[i]) * S + pair_slot[i]];
}

int64_t ll_first_overflow(const int64_t* counts, int R, int S, int64_t region_rows) {
  for (int64_t i = 0; i < static_cast<int64_t>(R) * S; ++i)
    if (counts[i] > region_rows) return i;
  return -1;
}

void LlExchange::init(int R) {
  for (auto* v : {&send_rows, &send_row_offset, &recv_bytes, &recv_offset, &from_row, &rows, &to_row, &recv_msg})
    v->assign(R, 0);
}

void ll_write_header(int64_t rows, unsigned char* header_row) {
  const int64_t h[2] = {kHeaderMagic, rows};
  std::memcpy(header_row, h, sizeof h);
}

int64_t ll_read_header(const unsigned char* header_row) {
  int64_t h[2];
  std::memcpy(h, header_row, sizeof h);
  return h[0] == kHeaderMagic && h[1] >= 0 ? h[1] : -1;
}

void ll_plan_send(const int32_t* rank_row_offset, int R, int rank, int S, int64_t region_rows, int64_t row_bytes,
                  LlExchange* x) {
  x->source_rows = 1 + static_cast<int64_t>(S) * region_rows;
  for (int p = 0; p < R; ++p) {
    const int64_t n = rank_row_offset[p + 1] - rank_row_offset[p];
    x->send_rows[p] = 1 + n;
    x->send_row_offset[p] = rank_row_offset[p] + p;
    x->recv_offset[p] = p * x->source_rows * row_bytes;
    // This rank knows what it sends itself: the self part is exact (the communicator copies it).
    x->recv_bytes[p] = (p == rank ? 1 + n : x->source_rows) * row_bytes;
  }
}

void ll_plan_received(const int64_t* header_rows, int R, int S, int64_t region_rows, LlExchange* x) {
  int64_t at = 0;
  for (int p = 0; p < R; ++p) {
    const int64_t n = header_rows[p];
    if (n < 0 || n > static_cast<int64_t>(S) * region_rows)
      fail_call(ErrorCategory::kRemote, "dispatch", p,
                "rank " + std::to_string(p) + " sent a low-latency message whose header " +
                    (n < 0 ? std::string("is missing or corrupt")
                           : "announces " + std::to_string(n) + " rows (its region holds " +
                                 std::to_string(static_cast<int64_t>(S) * region_rows) + ")"),
                "low-latency header", __FILE__, __LINE__);
    x->from_row[p] = p * x->source_rows + 1;
    x->rows[p] = n;
    x->to_row[p] = at;
    x->recv_msg[p] = pack_rows_pairs(n, n);
    at += n;
  }
}

}  // namespace wideep
