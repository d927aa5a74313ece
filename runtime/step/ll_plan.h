// The host plan of low-latency dispatch (--dispatch-mode low-latency; docs/
// usage.md "Dispatch modes"): one row wire_row(H, 1, dtype) per (token, pair)
// whose expert lives on another rank, into that rank's buffer of the pair's
// local slot. Each local slot holds --ll-max-tokens rows (default T x R),
// split into one region per source rank of region_rows = min(capacity / R, T)
// rows (a source sends at most one row per token to a slot); a source that
// would put more rows into a region is an error naming the expert, never a
// silent drop.
//
// No counts round (the MPI transport): every (source, destination) message is
// one header row (the number of data rows; metadata, not counted as dispatch
// bytes) followed by the rows; the receiver posts each source's whole region
// (1 + S * region_rows rows) at a fixed offset, so it needs no count before
// the payload, reads the headers when it arrives, and packs the regions
// together. Transports whose receives must know their sizes (--transport shm,
// NCCL) run a counts round first instead (documented in docs/usage.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace wideep {

// Rows of one (slot, source) region.
int64_t ll_region_rows(int64_t capacity, int R, int T);

// counts [R x S] = rows this rank sends into each (destination, local slot)
// (pairs on this rank itself are not sent).
void ll_slot_rows(const int32_t* pair_dest, const int32_t* pair_slot, int64_t n, int rank, int R, int S,
                  int64_t* counts);

// The first (destination * S + slot) whose rows exceed region_rows, or -1.
int64_t ll_first_overflow(const int64_t* counts, int R, int S, int64_t region_rows);

// The no-counts-round exchange: rows [R x (1 + S * region)] on every receiver.
struct LlExchange {
  int64_t source_rows = 0;                 // 1 header + S * region rows per source
  std::vector<int64_t> send_rows, send_row_offset;  // [R] header + data rows, in the gather with headers
  std::vector<int64_t> recv_bytes, recv_offset;     // [R] the whole region (exact for this rank itself)
  std::vector<int64_t> from_row, rows, to_row;      // [R] compaction after the headers arrived
  std::vector<int64_t> recv_msg;                    // [R] rows | pairs, as a counts round would have given
  void init(int R);
};

// The header row's contents (the first 16 bytes of a row of >= 16 bytes).
void ll_write_header(int64_t rows, unsigned char* header_row);
int64_t ll_read_header(const unsigned char* header_row);  // -1 when it is no header

// Sizes of the exchange from this rank's layout (rank_row_offset [R+1], data
// rows only; the gather puts peer p's header row before its rows).
void ll_plan_send(const int32_t* rank_row_offset, int R, int rank, int S, int64_t region_rows, int64_t row_bytes,
                  LlExchange* x);
// After the exchange: every source's header (headers [R] as read), checked
// (at most S * region rows; a bad one is an Error(kRemote) naming the
// source), the compaction moves and recv_msg.
void ll_plan_received(const int64_t* header_rows, int R, int S, int64_t region_rows, LlExchange* x);

}  // namespace wideep
