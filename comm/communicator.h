// The one communication interface of wideep; backends (MPI on hosts, NCCL on
// devices) implement it. Every call here is collective over all ranks unless
// it says otherwise, and every wait ends after the timeout with an Error of
// category kTimeout naming the operation, the step, the phase and the peers
// that did not answer. Buffers are host memory for MPI, device memory for NCCL.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/exchange_memory.h"

namespace wideep {

// Where the caller is, for messages: set by the runtime before each phase.
struct CommContext {
  int step = -1;
  int layer = -1;
  const char* phase = "init";
};

// The send side of alltoallv_rows: rows gathered where they lie. Row i is the
// concatenation of its segments seg[i * segments_per_row + j], each
// seg_bytes[j] long (e.g. a token's activations, then its routing metadata).
struct RowGather {
  int segments_per_row = 0;
  const void* const* seg = nullptr;      // [rows * segments_per_row]
  const int64_t* seg_bytes = nullptr;    // [segments_per_row]

  int64_t row_bytes() const {
    int64_t b = 0;
    for (int j = 0; j < segments_per_row; ++j) b += seg_bytes[j];
    return b;
  }
};

// One point-to-point transfer of a batched exchange (EPLB weight moves).
struct P2PTransfer {
  int peer;      // the other rank
  void* buf;     // send: source; recv: destination
  int64_t bytes;
  int tag;       // the same on both sides; the posting order is the plan order
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual const char* backend_name() const = 0;

  void set_context(const CommContext& ctx) { ctx_ = ctx; }
  const CommContext& context() const { return ctx_; }
  void set_timeout_s(double s) { timeout_s_ = s; }
  double timeout_s() const { return timeout_s_; }

  // --transport: how alltoallv_bytes / alltoallv_rows move the rows between
  // ranks of one node (ranks_per_node consecutive ranks of one shared-memory
  // domain): "mpi" (the backend's own messages), "shm" (MPI-3 shared memory,
  // comm/shm_transport.h; the MPI backend only) or "auto" (shm where some node
  // holds two ranks or more, else mpi; a backend without shm: its own).
  // Collective; call it before the first exchange. Returns false for a
  // transport this backend lacks; transport_name() says which one runs.
  virtual bool set_transport(const std::string& name, int /*ranks_per_node*/) {
    return name == "mpi" || name == "auto";
  }
  virtual const char* transport_name() const { return "mpi"; }

  // recv[r] = what rank r put in its send[this rank]; R values each side.
  virtual void alltoall_int64(const int64_t* send, int64_t* recv) = 0;

  // Payload exchange by point-to-point pairs (names the peers on timeout).
  // Offsets and sizes in bytes, indexed by peer.
  virtual void alltoallv_bytes(const void* send, const int64_t* send_bytes,
                               const int64_t* send_offset, void* recv,
                               const int64_t* recv_bytes, const int64_t* recv_offset) = 0;

  // alltoallv_bytes without a packed send buffer: peer p gets send_rows[p]
  // rows starting at row send_row_offset[p] of `send`, concatenated, into
  // recv + recv_offset[p] on its side (what a packed buffer would have held).
  virtual void alltoallv_rows(const RowGather& send, const int64_t* send_rows,
                              const int64_t* send_row_offset, void* recv,
                              const int64_t* recv_bytes, const int64_t* recv_offset) = 0;

  // Nonblocking alltoallv_bytes / alltoallv_rows (two-batch overlap): start_*
  // posts the exchange and returns its id at once; progress() advances every
  // posted exchange and returns whether `id` has completed (the caller calls it
  // between pieces of compute: MPI progresses only inside its calls);
  // wait_exchange() blocks until `id` completes, with the timeout of every
  // wait. Every rank starts and waits for its exchanges in the same order; at
  // most kMaxPendingExchanges are in flight. The buffers must stay untouched
  // until the wait. These defaults (the NCCL backend, which orders on its
  // stream anyway) run the exchange inside start.
  static constexpr int kMaxPendingExchanges = 2;
  virtual int start_alltoallv_bytes(const void* send, const int64_t* send_bytes, const int64_t* send_offset,
                                    void* recv, const int64_t* recv_bytes, const int64_t* recv_offset) {
    alltoallv_bytes(send, send_bytes, send_offset, recv, recv_bytes, recv_offset);
    return 0;
  }
  virtual int start_alltoallv_rows(const RowGather& send, const int64_t* send_rows, const int64_t* send_row_offset,
                                   void* recv, const int64_t* recv_bytes, const int64_t* recv_offset) {
    alltoallv_rows(send, send_rows, send_row_offset, recv, recv_bytes, recv_offset);
    return 0;
  }
  virtual bool progress(int /*id*/) { return true; }
  virtual void wait_exchange(int /*id*/) {}

  // In-place exchanges (--transport shm). exchange_memory(): where a kernel
  // backend allocates the buffers it exchanges from and into, so that node
  // peers write rows straight into a receive buffer and read send rows where
  // they lie; null where the backend has no such memory (private buffers).
  // start_alltoallv_bytes_in_place: start_alltoallv_bytes from a send buffer
  // of exchange_memory(), except that node peers' rows are not moved: after
  // wait_exchange(id), rows_in_place(p) is where peer p's rows for this rank
  // lie in p's memory (recv is not written for p); null for a peer whose rows
  // arrived in recv as usual. They stay there until p's next exchange that
  // this rank takes part in.
  virtual ExchangeMemory* exchange_memory() { return nullptr; }
  virtual int start_alltoallv_bytes_in_place(const void* send, const int64_t* send_bytes, const int64_t* send_offset,
                                             void* recv, const int64_t* recv_bytes, const int64_t* recv_offset) {
    return start_alltoallv_bytes(send, send_bytes, send_offset, recv, recv_bytes, recv_offset);
  }
  virtual const void* rows_in_place(int /*peer*/) const { return nullptr; }
  // start_alltoallv_rows where node peers take each row's token part (its
  // first segment) by reference (--transport shm): `records` (record_bytes
  // apart, one per send row, in an exchange buffer of exchange_memory()) hold
  // each row's token-part reference (ExchangeMemory::reference) and its tail
  // (the other segments). Node peers read the records where they lie: after
  // wait_exchange(id), rows_in_place(p) is where node peer p's records for
  // this rank begin (recv is not written for p), this rank's own rows are in
  // recv with the reference in place of the token part, other nodes' rows
  // arrive whole; by_reference(p) says whether p's token parts came so (then
  // ExchangeMemory::resolve(p, row) is where one lies). Valid until p's next
  // exchange that this rank takes part in.
  virtual int start_alltoallv_rows_by_reference(const RowGather& send, const void* /*records*/,
                                                int64_t /*record_bytes*/, const int64_t* send_rows,
                                                const int64_t* send_row_offset, void* recv, const int64_t* recv_bytes,
                                                const int64_t* recv_offset) {
    return start_alltoallv_rows(send, send_rows, send_row_offset, recv, recv_bytes, recv_offset);
  }
  virtual bool by_reference(int /*peer*/) const { return false; }

  // The library's own all-to-allv of the same matrix: the --baseline reference.
  virtual void raw_alltoallv_bytes(const void* send, const int64_t* send_bytes,
                                   const int64_t* send_offset, void* recv,
                                   const int64_t* recv_bytes, const int64_t* recv_offset) = 0;

  // recv [size * n]: rank r's n values at r*n.
  virtual void allgather_int64(const int64_t* send, int64_t n, int64_t* recv) = 0;
  virtual void allreduce_sum_int64(int64_t* data, int64_t n) = 0;
  virtual void allreduce_max_double(double* data, int64_t n) = 0;
  virtual void allreduce_sum_double(double* data, int64_t n) = 0;
  virtual void barrier() = 0;

  // LPLB's O(E + P) counts exchange (runtime/step/token_router.cc). Host memory.
  // recv [n]: the sum of send over the ranks below this one (zeros on rank 0).
  // This default is a recursive doubling over alltoallv_bytes (ceil(log2 size)
  // rounds of n values: what the NCCL backend, which has no scan, uses); the
  // MPI backend overrides it with MPI_Exscan.
  virtual void exscan_sum_int64(const int64_t* send, int64_t* recv, int64_t n) {
    const int R = size(), me = rank();
    std::vector<int64_t> acc(send, send + n), in(static_cast<size_t>(n)), zero(R, 0), sb(R), rb(R);
    for (int d = 1; d < R; d <<= 1) {  // acc = the sum over ranks (me - 2d, me]
      std::fill(sb.begin(), sb.end(), 0);
      std::fill(rb.begin(), rb.end(), 0);
      if (me + d < R) sb[me + d] = n * 8;
      if (me - d >= 0) rb[me - d] = n * 8;
      alltoallv_bytes(acc.data(), sb.data(), zero.data(), in.data(), rb.data(), zero.data());
      if (me - d >= 0)
        for (int64_t i = 0; i < n; ++i) acc[i] += in[i];
    }
    for (int64_t i = 0; i < n; ++i) recv[i] = acc[i] - send[i];
  }
  // Both at once, so that a backend overlaps them (one round of latency):
  // reduce_data [n_reduce] is summed over all ranks in place, scan_recv
  // [n_scan] receives exscan_sum_int64(scan_send). This default runs the two
  // one after the other; the MPI backend posts both and waits once.
  virtual void allreduce_exscan_sum_int64(int64_t* reduce_data, int64_t n_reduce, const int64_t* scan_send,
                                          int64_t* scan_recv, int64_t n_scan) {
    allreduce_sum_int64(reduce_data, n_reduce);
    exscan_sum_int64(scan_send, scan_recv, n_scan);
  }

  // Posts all receives, then all sends, in list order, and waits for all.
  // Not collective: only the ranks named in the lists take part.
  virtual void exchange(const std::vector<P2PTransfer>& sends,
                        const std::vector<P2PTransfer>& recvs) = 0;

  // The same transfers in the background (EPLB --eplb-async): posted at once,
  // progressed by test_background() and by every other call of this
  // communicator, so that steps go on meanwhile. test_background() is true
  // once they all completed; an exchange still incomplete after the timeout
  // (counted from its start) is an Error(kTimeout) naming the peers. One
  // background exchange at a time. Not collective. The default (the NCCL
  // backend, whose one stream orders everything) moves them at the start:
  // correct, but nothing overlaps.
  virtual void start_background(const std::vector<P2PTransfer>& sends, const std::vector<P2PTransfer>& recvs) {
    exchange(sends, recvs);
  }
  virtual bool test_background() { return true; }

  // Scratch of the kind this backend's buffers are (host for MPI, device for
  // NCCL), for callers that time a transfer from buffers of their own (the
  // --baseline of the weight exchange). Zeroed, so every page is resident
  // before anything is timed with it. Not collective.
  virtual void* alloc_bytes(int64_t bytes) = 0;
  virtual void free_bytes(void* p) = 0;

  // Ends the whole job at once (after a fatal error on this rank).
  virtual void abort(int status) = 0;

 protected:
  CommContext ctx_;
  double timeout_s_ = 60.0;
};

// MPI_COMM_WORLD of an MPI_Init'ed process (comm/mpi_communicator.cc).
std::unique_ptr<Communicator> make_mpi_communicator();

}  // namespace wideep
