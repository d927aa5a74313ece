// Sizes and offsets of one layer's dispatch and combine exchanges, indexed by
// peer, computed on the host for both backends from this rank's layout and
// what every peer announced in the counts round. Dispatch moves wire rows
// (row_bytes each), combine moves return rows (return_row_bytes) the other
// way: what a rank received from r, it sends back to r, in the same order.
//
// The counts round (one int64 per peer): rows in the low 32 bits, pairs (the
// (token, expert) pairs those rows carry) in the high 32 bits, so that the
// receiver sizes its grouped buffers before the rows arrive.
#pragma once

#include <cstdint>
#include <vector>

namespace wideep {

inline int64_t pack_rows_pairs(int64_t rows, int64_t pairs) { return rows | (pairs << 32); }
inline int64_t unpack_rows(int64_t msg) { return msg & 0xffffffffll; }
inline int64_t unpack_pairs(int64_t msg) { return msg >> 32; }

struct ExchangePlan {
  // dispatch, by peer
  std::vector<int64_t> send_rows, send_row_offset, recv_rows, recv_row_offset;
  std::vector<int64_t> send_bytes, send_offset, recv_bytes, recv_offset;
  // combine, by peer (this rank's own rows included; the pipeline keeps them in place)
  std::vector<int64_t> back_send_bytes, back_send_offset, back_recv_bytes, back_recv_offset;
  int64_t recv_total_rows = 0, recv_total_pairs = 0;

  void init(int num_ranks);
};

// The counts message of this rank [R] from its layout (rank_row_offset [R+1])
// and the pairs it sends to each rank [R].
void counts_message(const int32_t* rank_row_offset, const int64_t* rank_pairs, int R, int64_t* msg);

// Fills `out` from this rank's layout and the received messages [R]. A peer
// announcing more rows than it has tokens, or more pairs than its rows can
// carry, is an Error(kRemote) naming the peer.
void plan_exchange(const int32_t* rank_row_offset, const int64_t* recv_msg, int R, int T, int P,
                   int64_t row_bytes, int64_t return_row_bytes, ExchangePlan* out);

}  // namespace wideep
