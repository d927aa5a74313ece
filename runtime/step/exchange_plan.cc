// Per-peer sizes and offsets of dispatch and combine (runtime/step/exchange_plan.h).
#include "runtime/step/exchange_plan.h"

#include <string>

#include "common/check.h"

namespace wideep {

void ExchangePlan::init(int R) {
  for (auto* v : {&send_rows, &send_row_offset, &recv_rows, &recv_row_offset, &send_bytes, &send_offset, &recv_bytes,
                  &recv_offset, &back_send_bytes, &back_send_offset, &back_recv_bytes, &back_recv_offset})
    v->assign(R, 0);
}

void counts_message(const int32_t* rank_row_offset, const int64_t* rank_pairs, int R, int64_t* msg) {
  for (int r = 0; r < R; ++r) msg[r] = pack_rows_pairs(rank_row_offset[r + 1] - rank_row_offset[r], rank_pairs[r]);
}

void plan_exchange(const int32_t* rank_row_offset, const int64_t* recv_msg, int R, int T, int P,
                   int64_t row_bytes, int64_t return_row_bytes, ExchangePlan* out) {
  int64_t rows = 0, pairs = 0;
  for (int r = 0; r < R; ++r) {
    const int64_t n = unpack_rows(recv_msg[r]), q = unpack_pairs(recv_msg[r]);
    if (recv_msg[r] < 0 || n > T || q > n * P || (n > 0 && q < 1))
      fail_call(ErrorCategory::kRemote, "dispatch", r,
                "rank " + std::to_string(r) + " announced " + std::to_string(n) + " rows with " + std::to_string(q) +
                    " pairs (at most " + std::to_string(T) + " rows of " + std::to_string(P) + " pairs)",
                "counts round", __FILE__, __LINE__);
    out->send_rows[r] = rank_row_offset[r + 1] - rank_row_offset[r];
    out->send_row_offset[r] = rank_row_offset[r];
    out->send_bytes[r] = out->send_rows[r] * row_bytes;
    out->send_offset[r] = out->send_row_offset[r] * row_bytes;
    out->recv_rows[r] = n;
    out->recv_row_offset[r] = rows;
    out->recv_bytes[r] = n * row_bytes;
    out->recv_offset[r] = rows * row_bytes;
    out->back_send_bytes[r] = n * return_row_bytes;
    out->back_send_offset[r] = rows * return_row_bytes;
    out->back_recv_bytes[r] = out->send_rows[r] * return_row_bytes;
    out->back_recv_offset[r] = out->send_row_offset[r] * return_row_bytes;
    rows += n;
    pairs += q;
  }
  out->recv_total_rows = rows;
  out->recv_total_pairs = pairs;
}

}  // namespace wideep
