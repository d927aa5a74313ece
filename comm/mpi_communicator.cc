// MPI backend of Communicator (host memory). Payload and counts go by
// MPI_Isend/MPI_Irecv pairs polled against a deadline, so a timeout names the
// peers that never answered; small collectives use the nonblocking MPI_I*
// forms; the --baseline all-to-allv is MPI_Alltoallv itself. Every wait is
// also armed on the rank's watchdog (comm/watchdog.h): the backstop when a
// wait cannot poll, and the text the SIGTERM report prints. With --transport shm,
// the node peers' rows of the payload all-to-allvs go through
// comm/shm_transport.h, whose windows are also the kernels' exchange buffers.
#include <mpi.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "comm/shm_transport.h"
#include "comm/watchdog.h"
#include "common/check.h"

namespace wideep {
namespace {

// kTagPending + id: the nonblocking exchanges of two-batch overlap, apart from
// any blocking payload exchange that runs while they are in flight.
enum : int { kTagCounts = 11, kTagPayload = 12, kTagRollCall = 13, kTagPending = 14, kTagExchangeBase = 1000 };

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int to_int(int64_t v, const char* what) {
  WIDEEP_ASSERT(v >= 0 && v <= INT_MAX, std::string(what) + " exceeds the 2 GiB limit of one MPI message");
  return static_cast<int>(v);
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    WIDEEP_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
    WIDEEP_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size_));
    reqs_.reserve(2 * size_ + 16);
    peers_.reserve(2 * size_ + 16);
    counts_.assign(2 * size_, 0);
    displs_.assign(2 * size_, 0);
    // Background transfers on their own communicator: their tags never meet the steps'.
    WIDEEP_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &background_comm_));
  }
  ~MpiCommunicator() override {
    if (background_comm_ != MPI_COMM_NULL) MPI_Comm_free(&background_comm_);  // no throw from here
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* backend_name() const override { return "mpi"; }

  // "shm": the payload all-to-allvs move node peers' rows through shared
  // memory (the overlapped ones, start_*, at their wait); the rest stays on MPI.
  // "auto": shm unless every node holds one rank (then it would move nothing).
  // The choice is the same on every rank (the pipeline's collectives follow it).
  bool set_transport(const std::string& name, int ranks_per_node) override {
    if (name != "mpi" && name != "shm" && name != "auto") return false;
    const bool shm = name == "shm" || (name == "auto" && shm_largest_node(*this, ranks_per_node) >= 2);
    shm_.reset();
    if (shm) shm_ = std::make_unique<ShmTransport>(*this, ranks_per_node);
    return true;
  }
  const char* transport_name() const override { return shm_ ? "shm" : "mpi"; }

  void alltoall_int64(const int64_t* send, int64_t* recv) override {
    begin();
    for (int p = 0; p < size_; ++p) {
      if (p == rank_) continue;
      post_recv(recv + p, sizeof(int64_t), p, kTagCounts);
    }
    for (int p = 0; p < size_; ++p) {
      if (p == rank_) continue;
      post_send(send + p, sizeof(int64_t), p, kTagCounts);
    }
    recv[rank_] = send[rank_];
    wait_all("counts exchange");
  }

  ExchangeMemory* exchange_memory() override { return shm_.get(); }

  // With shm, prepare() comes first: it may move a receive buffer (a shared
  // window grows there), and the MPI part is posted into where it lies then.
  void alltoallv_bytes(const void* send, const int64_t* send_bytes, const int64_t* send_offset,
                       void* recv, const int64_t* recv_bytes, const int64_t* recv_offset) override {
    begin();
    const int slot = shm_ ? shm_->prepare(send_bytes, send_offset, &send, &recv, recv_bytes, recv_offset, false) : -1;
    post_alltoallv_bytes(send, send_bytes, send_offset, recv, recv_bytes, recv_offset, kTagPayload, shm_.get());
    if (shm_) shm_->complete_bytes(slot, send, send_bytes, send_offset);
    wait_all("all-to-allv");
  }

  int start_alltoallv_bytes(const void* send, const int64_t* send_bytes, const int64_t* send_offset, void* recv,
                            const int64_t* recv_bytes, const int64_t* recv_offset) override {
    return start_bytes(send, send_bytes, send_offset, recv, recv_bytes, recv_offset, false);
  }
  int start_alltoallv_bytes_in_place(const void* send, const int64_t* send_bytes, const int64_t* send_offset,
                                     void* recv, const int64_t* recv_bytes, const int64_t* recv_offset) override {
    return start_bytes(send, send_bytes, send_offset, recv, recv_bytes, recv_offset, shm_ != nullptr);
  }
  const void* rows_in_place(int peer) const override { return in_place_.empty() ? nullptr : in_place_[peer]; }

  // The node peers' rows move at the wait (in the same order on every rank);
  // announced here, so that every window has grown before MPI is posted.
  int start_bytes(const void* send, const int64_t* send_bytes, const int64_t* send_offset, void* recv,
                  const int64_t* recv_bytes, const int64_t* recv_offset, bool in_place) {
    const int id = claim_pending();
    begin();
    const int slot =
        shm_ ? shm_->prepare(send_bytes, send_offset, &send, &recv, recv_bytes, recv_offset, in_place) : -1;
    post_alltoallv_bytes(send, send_bytes, send_offset, recv, recv_bytes, recv_offset, kTagPending + id, shm_.get());
    park(id);
    pending_[id].shm_slot = slot;
    if (shm_) pending_[id].shm_part = [=] { shm_->complete_bytes(slot, send, send_bytes, send_offset); };
    return id;
  }
  int start_alltoallv_rows(const RowGather& send, const int64_t* send_rows, const int64_t* send_row_offset,
                           void* recv, const int64_t* recv_bytes, const int64_t* recv_offset) override {
    return start_rows(send, nullptr, 0, send_rows, send_row_offset, recv, recv_bytes, recv_offset);
  }
  int start_alltoallv_rows_by_reference(const RowGather& send, const void* records, int64_t record_bytes,
                                        const int64_t* send_rows, const int64_t* send_row_offset, void* recv,
                                        const int64_t* recv_bytes, const int64_t* recv_offset) override {
    return start_rows(send, shm_ ? records : nullptr, record_bytes, send_rows, send_row_offset, recv, recv_bytes,
                      recv_offset);
  }
  bool by_reference(int peer) const override {
    return by_reference_ && shm_ && (shm_->on_node(peer) || peer == rank_);
  }
  // records (--transport shm, by reference): node peers read this rank's send
  // records where they lie (an in-place exchange of the records), the self
  // part is written by reference, other nodes' rows go whole by MPI.
  int start_rows(const RowGather& send, const void* records, int64_t record_bytes, const int64_t* send_rows,
                 const int64_t* send_row_offset, void* recv, const int64_t* recv_bytes, const int64_t* recv_offset) {
    const int id = claim_pending();
    begin();
    const bool by_reference = records != nullptr;
    int slot = -1;
    if (by_reference) {
      const int64_t row_bytes = send.row_bytes();
      rec_send_bytes_.resize(size_);
      rec_send_offset_.resize(size_);
      rec_recv_bytes_.resize(size_);
      for (int p = 0; p < size_; ++p) {
        rec_send_bytes_[p] = send_rows[p] * record_bytes;
        rec_send_offset_[p] = send_row_offset[p] * record_bytes;
        rec_recv_bytes_[p] = recv_bytes[p] / row_bytes * record_bytes;
      }
      slot = shm_->prepare(rec_send_bytes_.data(), rec_send_offset_.data(), &records, &recv, rec_recv_bytes_.data(),
                           recv_offset, true);
    } else if (shm_) {
      slot = shm_->prepare(nullptr, nullptr, nullptr, &recv, recv_bytes, recv_offset, false);
    }
    post_alltoallv_rows(send, send_rows, send_row_offset, recv, recv_bytes, recv_offset, kTagPending + id, shm_.get(),
                        by_reference);
    park(id);
    Pending& x = pending_[id];
    x.shm_slot = slot;
    x.by_reference = by_reference;
    if (by_reference) {  // in place: nothing moves at the wait
      x.shm_part = [=] { shm_->complete_bytes(slot, nullptr, nullptr, nullptr); };
    } else if (shm_) {  // the segment sizes may live in the caller's frame: kept here until the wait
      x.seg_bytes.assign(send.seg_bytes, send.seg_bytes + send.segments_per_row);
      RowGather rows = send;
      rows.seg_bytes = x.seg_bytes.data();
      x.shm_part = [=] { shm_->complete_rows(slot, rows, send_rows, send_row_offset); };
    }
    return id;
  }
  bool progress(int id) override {
    Pending& x = pending(id);
    if (!x.done && !x.shm_part) {
      int done = 0;
      WIDEEP_MPI_CHECK(MPI_Testall(static_cast<int>(x.reqs.size()), x.reqs.data(), &done, MPI_STATUSES_IGNORE));
      x.done = done != 0;
    }
    return x.done;
  }
  void wait_exchange(int id) override {
    Pending& x = pending(id);
    if (x.shm_part) {
      std::function<void()> shm_part = std::move(x.shm_part);
      x.shm_part = nullptr;
      shm_part();
    }
    reqs_.swap(x.reqs);
    peers_.swap(x.peers);
    x.active = false;
    wait_all("all-to-allv (overlapped)");
    by_reference_ = x.by_reference;
    in_place_.assign(size_, nullptr);
    if (shm_)
      for (int p = 0; p < size_; ++p) in_place_[p] = shm_->rows_in_place(x.shm_slot, p);
  }

  // `shm`: the node peers' rows are its (not posted here).
  void post_alltoallv_bytes(const void* send, const int64_t* send_bytes, const int64_t* send_offset, void* recv,
                            const int64_t* recv_bytes, const int64_t* recv_offset, int tag,
                            const ShmTransport* shm = nullptr) {
    auto* in = static_cast<unsigned char*>(recv);
    auto* out = static_cast<const unsigned char*>(send);
    post_payload_recvs(in, recv_bytes, recv_offset, tag, shm);
    for (int i = 1; i < size_; ++i) {
      const int p = (rank_ + i) % size_;
      if (send_bytes[p] > 0 && !(shm && shm->on_node(p))) post_send(out + send_offset[p], send_bytes[p], p, tag);
    }
    WIDEEP_ASSERT(send_bytes[rank_] == recv_bytes[rank_], "self send and receive sizes differ");
    if (send_bytes[rank_] > 0)
      std::memcpy(in + recv_offset[rank_], out + send_offset[rank_], send_bytes[rank_]);
  }

  // Each peer's rows go as one message of a derived datatype over their
  // segments' absolute addresses: Open MPI copies them straight from where
  // they lie into its transport, with no pack into a send buffer first.
  void alltoallv_rows(const RowGather& send, const int64_t* send_rows, const int64_t* send_row_offset,
                      void* recv, const int64_t* recv_bytes, const int64_t* recv_offset) override {
    begin();
    const int slot = shm_ ? shm_->prepare(nullptr, nullptr, nullptr, &recv, recv_bytes, recv_offset, false) : -1;
    post_alltoallv_rows(send, send_rows, send_row_offset, recv, recv_bytes, recv_offset, kTagPayload, shm_.get());
    if (shm_) shm_->complete_rows(slot, send, send_rows, send_row_offset);
    wait_all("all-to-allv");
  }

  void post_alltoallv_rows(const RowGather& send, const int64_t* send_rows, const int64_t* send_row_offset,
                           void* recv, const int64_t* recv_bytes, const int64_t* recv_offset, int tag,
                           const ShmTransport* shm = nullptr, bool by_reference = false) {
    auto* in = static_cast<unsigned char*>(recv);
    const int nseg = send.segments_per_row;
    const int64_t row_bytes = send.row_bytes();
    post_payload_recvs(in, recv_bytes, recv_offset, tag, shm);
    for (int i = 1; i < size_; ++i) {
      const int p = (rank_ + i) % size_;
      if (send_rows[p] > 0 && !(shm && shm->on_node(p))) post_send_rows(send, send_row_offset[p], send_rows[p], p, tag);
    }
    WIDEEP_ASSERT(send_rows[rank_] * row_bytes == recv_bytes[rank_], "self send and receive sizes differ");
    unsigned char* self = in + recv_offset[rank_];
    if (shm != nullptr) {  // by reference too where the node peers get references
      shm->write_rows(send, send_row_offset[rank_], send_rows[rank_], self, by_reference);
      return;
    }
    for (int64_t row = send_row_offset[rank_]; row < send_row_offset[rank_] + send_rows[rank_]; ++row)
      for (int j = 0; j < nseg; ++j) {
        std::memcpy(self, send.seg[row * nseg + j], static_cast<size_t>(send.seg_bytes[j]));
        self += send.seg_bytes[j];
      }
  }

  void raw_alltoallv_bytes(const void* send, const int64_t* send_bytes, const int64_t* send_offset,
                           void* recv, const int64_t* recv_bytes,
                           const int64_t* recv_offset) override {
    int* sc = counts_.data();
    int* rc = counts_.data() + size_;
    int* sd = displs_.data();
    int* rd = displs_.data() + size_;
    for (int p = 0; p < size_; ++p) {
      sc[p] = to_int(send_bytes[p], "send count");
      rc[p] = to_int(recv_bytes[p], "receive count");
      sd[p] = to_int(send_offset[p], "send offset");
      rd[p] = to_int(recv_offset[p], "receive offset");
    }
    WatchdogScope guard(watchdog_, timeout_s_,
                        where("MPI_Alltoallv (baseline)") + " (a blocking collective: peers unknown)");
    WIDEEP_MPI_CHECK(MPI_Alltoallv(send, sc, sd, MPI_BYTE, recv, rc, rd, MPI_BYTE, MPI_COMM_WORLD));
  }

  void allgather_int64(const int64_t* send, int64_t n, int64_t* recv) override {
    begin();
    MPI_Request r;
    WIDEEP_MPI_CHECK(MPI_Iallgather(send, to_int(n, "allgather count"), MPI_INT64_T, recv,
                                    to_int(n, "allgather count"), MPI_INT64_T, MPI_COMM_WORLD, &r));
    add(r, -1);
    wait_all("allgather");
  }

  void allreduce_sum_int64(int64_t* data, int64_t n) override {
    allreduce(data, n, MPI_INT64_T, MPI_SUM, "allreduce(sum)");
  }
  // LPLB's counts exchange: n values per rank instead of an allgather's size * n.
  void exscan_sum_int64(const int64_t* send, int64_t* recv, int64_t n) override {
    begin();
    MPI_Request r;
    WIDEEP_MPI_CHECK(MPI_Iexscan(send, recv, to_int(n, "exscan count"), MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD, &r));
    add(r, -1);
    wait_all("exscan(sum)");
    if (rank_ == 0) std::fill(recv, recv + n, 0);  // MPI leaves rank 0's result undefined
  }
  void allreduce_exscan_sum_int64(int64_t* reduce_data, int64_t n_reduce, const int64_t* scan_send,
                                  int64_t* scan_recv, int64_t n_scan) override {
    begin();
    MPI_Request r[2];
    WIDEEP_MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, reduce_data, to_int(n_reduce, "allreduce count"), MPI_INT64_T,
                                    MPI_SUM, MPI_COMM_WORLD, &r[0]));
    WIDEEP_MPI_CHECK(MPI_Iexscan(scan_send, scan_recv, to_int(n_scan, "exscan count"), MPI_INT64_T, MPI_SUM,
                                 MPI_COMM_WORLD, &r[1]));
    add(r[0], -1);
    add(r[1], -1);
    wait_all("allreduce(sum) + exscan(sum)");
    if (rank_ == 0) std::fill(scan_recv, scan_recv + n_scan, 0);  // MPI leaves rank 0's result undefined
  }
  void allreduce_max_double(double* data, int64_t n) override {
    allreduce(data, n, MPI_DOUBLE, MPI_MAX, "allreduce(max)");
  }
  void allreduce_sum_double(double* data, int64_t n) override {
    allreduce(data, n, MPI_DOUBLE, MPI_SUM, "allreduce(sum)");
  }

  void barrier() override {
    begin();
    MPI_Request r;
    WIDEEP_MPI_CHECK(MPI_Ibarrier(MPI_COMM_WORLD, &r));
    add(r, -1);
    wait_all("barrier");
  }

  void exchange(const std::vector<P2PTransfer>& sends,
                const std::vector<P2PTransfer>& recvs) override {
    begin();
    for (const P2PTransfer& t : recvs) post_recv(t.buf, t.bytes, t.peer, kTagExchangeBase + t.tag);
    for (const P2PTransfer& t : sends) post_send(t.buf, t.bytes, t.peer, kTagExchangeBase + t.tag);
    wait_all("weight exchange");
  }

  void start_background(const std::vector<P2PTransfer>& sends, const std::vector<P2PTransfer>& recvs) override {
    WIDEEP_ASSERT(bg_reqs_.empty(), "one background exchange at a time");
    bg_start_s_ = now_s();
    for (const auto* list : {&recvs, &sends})
      for (const P2PTransfer& t : *list) {
        MPI_Request r;
        const int tag = kTagExchangeBase + t.tag;
        if (list == &recvs)
          WIDEEP_MPI_CHECK(MPI_Irecv(t.buf, to_int(t.bytes, "receive"), MPI_BYTE, t.peer, tag, background_comm_, &r));
        else
          WIDEEP_MPI_CHECK(MPI_Isend(t.buf, to_int(t.bytes, "send"), MPI_BYTE, t.peer, tag, background_comm_, &r));
        bg_reqs_.push_back(r);
        bg_peers_.push_back(list == &recvs ? t.peer : -2 - t.peer);
      }
  }

  bool test_background() override {
    if (bg_reqs_.empty()) return true;
    int done = 0;
    WIDEEP_MPI_CHECK(MPI_Testall(static_cast<int>(bg_reqs_.size()), bg_reqs_.data(), &done, MPI_STATUSES_IGNORE));
    if (done) {
      bg_reqs_.clear();
      bg_peers_.clear();
      return true;
    }
    if (now_s() > bg_start_s_ + timeout_s_) {
      // The message names the background transfers still missing (the current wait's lists).
      std::swap(reqs_, bg_reqs_);
      std::swap(peers_, bg_peers_);
      timeout("background weight exchange (--eplb-async)");
    }
    return false;
  }

  void* alloc_bytes(int64_t bytes) override {
    void* p = std::malloc(static_cast<size_t>(std::max<int64_t>(bytes, 1)));
    if (!p) throw Error(ErrorCategory::kSystem, "out of host memory for " + std::to_string(bytes) + " bytes");
    std::memset(p, 0, static_cast<size_t>(std::max<int64_t>(bytes, 1)));  // first touch now, not in a timing
    return p;
  }
  void free_bytes(void* p) override { std::free(p); }

  void abort(int status) override {
    // MPI_Abort can itself block on a broken transport; the watchdog ends us then.
    watchdog_.arm(10.0, "MPI_Abort after an error on rank " + std::to_string(rank_));
    MPI_Abort(MPI_COMM_WORLD, status);
  }

 private:
  void begin() {
    reqs_.clear();
    peers_.clear();
  }
  void add(MPI_Request r, int peer) {
    reqs_.push_back(r);
    peers_.push_back(peer);
  }
  void post_recv(void* buf, int64_t bytes, int peer, int tag) {
    MPI_Request r;
    WIDEEP_MPI_CHECK(MPI_Irecv(buf, to_int(bytes, "receive"), MPI_BYTE, peer, tag, MPI_COMM_WORLD, &r));
    add(r, peer);
  }
  void post_send(const void* buf, int64_t bytes, int peer, int tag) {
    MPI_Request r;
    WIDEEP_MPI_CHECK(MPI_Isend(buf, to_int(bytes, "send"), MPI_BYTE, peer, tag, MPI_COMM_WORLD, &r));
    add(r, -2 - peer);  // sends are encoded as -2 - peer, receives as peer
  }
  // The payload receives of an all-to-allv, peers in ring order from this rank
  // so that not every rank hits rank 0 first; the self part is the caller's.
  void post_payload_recvs(unsigned char* in, const int64_t* recv_bytes, const int64_t* recv_offset, int tag,
                          const ShmTransport* shm = nullptr) {
    for (int i = 1; i < size_; ++i) {
      const int p = (rank_ + size_ - i) % size_;
      if (recv_bytes[p] > 0 && !(shm && shm->on_node(p))) post_recv(in + recv_offset[p], recv_bytes[p], p, tag);
    }
  }
  void post_send_rows(const RowGather& send, int64_t first_row, int64_t rows, int peer, int tag) {
    const int nseg = send.segments_per_row;
    const size_t blocks = static_cast<size_t>(rows) * nseg;
    if (block_len_.size() < blocks) {  // grows to the largest message once, then reused
      block_len_.resize(blocks);
      block_addr_.resize(blocks);
    }
    for (size_t b = 0; b < blocks; ++b) {
      block_len_[b] = to_int(send.seg_bytes[b % nseg], "row segment");
      WIDEEP_MPI_CHECK(MPI_Get_address(send.seg[first_row * nseg + static_cast<int64_t>(b)], &block_addr_[b]));
    }
    MPI_Datatype rows_type;
    WIDEEP_MPI_CHECK(MPI_Type_create_hindexed(to_int(static_cast<int64_t>(blocks), "row blocks"), block_len_.data(),
                                              block_addr_.data(), MPI_BYTE, &rows_type));
    WIDEEP_MPI_CHECK(MPI_Type_commit(&rows_type));
    MPI_Request r;
    WIDEEP_MPI_CHECK(MPI_Isend(MPI_BOTTOM, 1, rows_type, peer, tag, MPI_COMM_WORLD, &r));
    // Freeing a type a pending send uses is allowed: MPI keeps it until the send completes.
    WIDEEP_MPI_CHECK(MPI_Type_free(&rows_type));
    add(r, -2 - peer);
  }
  template <typename T>
  void allreduce(T* data, int64_t n, MPI_Datatype type, MPI_Op op, const char* what) {
    begin();
    MPI_Request r;
    WIDEEP_MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, data, to_int(n, what), type, op, MPI_COMM_WORLD, &r));
    add(r, -1);
    wait_all(what);
  }

  std::string where(const char* op) const {
    return std::string(op) + " in step " + std::to_string(ctx_.step) + " layer " +
           std::to_string(ctx_.layer) + " phase " + ctx_.phase;
  }

  // Polls until every request completes or the deadline passes; yields the
  // core after a short spin because ranks may outnumber cores. Once a second
  // of waiting, the watchdog's text is refreshed with the peers still missing
  // (what a SIGTERM report prints).
  void wait_all(const char* op) {
    const double start_s = now_s();
    const double deadline_s = start_s + timeout_s_;
    double next_describe_s = start_s + 0.1;
    WatchdogScope guard(watchdog_, timeout_s_ + watchdog_grace_s(timeout_s_), describe(op));
    for (unsigned spins = 0;; ++spins) {
      int done = 0;
      WIDEEP_MPI_CHECK(MPI_Testall(static_cast<int>(reqs_.size()), reqs_.data(), &done,
                                   MPI_STATUSES_IGNORE));
      if (done) return;
      if (spins > 64) sched_yield();
      if ((spins & 127) != 0) continue;
      const double t = now_s();
      if (t > deadline_s) timeout(op);
      if (t > next_describe_s) {
        watchdog_.describe(describe(op) + "; not completed: " + missing_peers());
        next_describe_s = t + 1.0;
      }
    }
  }

  std::string describe(const char* op) const { return where(op); }

  // The requests of the current wait that have not completed, by peer.
  std::string missing_peers() {
    std::string missing;
    for (size_t i = 0; i < reqs_.size(); ++i) {
      int flag = 0;
      MPI_Request_get_status(reqs_[i], &flag, MPI_STATUS_IGNORE);
      if (flag) continue;
      const int p = peers_[i];
      if (!missing.empty()) missing += ", ";
      if (p == -1) missing += "the collective";
      else if (p >= 0) missing += "receive from rank " + std::to_string(p);
      else missing += "send to rank " + std::to_string(-2 - p);
    }
    return missing;
  }

  [[noreturn]] void timeout(const char* op) {
    char secs[32];
    std::snprintf(secs, sizeof secs, "%g", timeout_s_);
    std::string missing = missing_peers();
    bool collective = false;
    for (int p : peers_) collective |= p == -1;
    if (collective) missing += " (" + roll_call() + ")";
    throw Error(ErrorCategory::kTimeout, "rank " + std::to_string(rank_) + ": timeout after " + secs +
                                             " s in " + where(op) + "; not completed: " + missing);
  }

  // A collective cannot say which rank is missing, so after its timeout every
  // rank that got there sends a one-byte roll call to all others and listens
  // for theirs a short while: the ranks not heard from are the missing peers.
  // Ranks time out within moments of each other, and a roll call that arrives
  // first waits in the receiver's queue, so the window needs to cover only
  // that spread. Best effort: the run ends right after anyway.
  std::string roll_call() {
    const double window_s = std::min(1.0, std::max(0.2, timeout_s_ / 4));
    std::vector<MPI_Request> rq;
    std::vector<int> who;
    static char send_byte = 1;
    std::vector<char> recv_bytes(size_);
    for (int p = 0; p < size_; ++p) {
      if (p == rank_) continue;
      MPI_Request r;
      if (MPI_Irecv(&recv_bytes[p], 1, MPI_BYTE, p, kTagRollCall, MPI_COMM_WORLD, &r) == MPI_SUCCESS) {
        rq.push_back(r);
        who.push_back(p);
      }
      if (MPI_Isend(&send_byte, 1, MPI_BYTE, p, kTagRollCall, MPI_COMM_WORLD, &r) == MPI_SUCCESS)
        MPI_Request_free(&r);
    }
    const double end_s = now_s() + window_s;
    std::vector<int> heard(rq.size(), 0);
    while (now_s() < end_s) {
      bool all = true;
      for (size_t i = 0; i < rq.size(); ++i) {
        if (!heard[i]) MPI_Test(&rq[i], &heard[i], MPI_STATUS_IGNORE);
        all &= heard[i] != 0;
      }
      if (all) break;
      sched_yield();
    }
    std::string silent;
    for (size_t i = 0; i < rq.size(); ++i) {
      if (heard[i]) continue;
      silent += (silent.empty() ? "" : ", ") + std::to_string(who[i]);
    }
    return silent.empty() ? "every rank answered a roll call" : "no answer to a roll call from rank " + silent;
  }

  // A nonblocking exchange in flight: its requests wait here between start and wait.
  struct Pending {
    std::vector<MPI_Request> reqs;
    std::vector<int> peers;
    bool active = false, done = false;
    std::function<void()> shm_part;  // --transport shm: the node peers' rows, moved at the wait
    int shm_slot = -1;               // its ShmTransport slot
    bool by_reference = false;       // node peers read the send records in place
    std::vector<int64_t> seg_bytes;  // shm_part's RowGather::seg_bytes
  };
  int claim_pending() {
    for (int id = 0; id < kMaxPendingExchanges; ++id)
      if (!pending_[id].active) return id;
    WIDEEP_ASSERT(false, "more than " + std::to_string(kMaxPendingExchanges) + " overlapped exchanges in flight");
    return -1;
  }
  Pending& pending(int id) {
    WIDEEP_ASSERT(id >= 0 && id < kMaxPendingExchanges && pending_[id].active, "no overlapped exchange " +
                                                                                    std::to_string(id) + " in flight");
    return pending_[id];
  }
  void park(int id) {
    Pending& x = pending_[id];
    x.reqs.swap(reqs_);
    x.peers.swap(peers_);
    x.active = true;
    x.done = false;
    x.by_reference = false;
  }

  Pending pending_[kMaxPendingExchanges];
  int rank_ = 0, size_ = 1;
  std::vector<MPI_Request> reqs_;
  std::vector<int> peers_;
  std::vector<int> counts_, displs_;
  std::vector<int> block_len_;         // alltoallv_rows: one datatype's blocks
  std::vector<MPI_Aint> block_addr_;
  MPI_Comm background_comm_ = MPI_COMM_NULL;
  std::unique_ptr<ShmTransport> shm_;  // --transport shm; null for mpi
  std::vector<int64_t> rec_send_bytes_, rec_send_offset_, rec_recv_bytes_;  // start_rows by reference
  std::vector<const void*> in_place_;    // rows_in_place of the exchange waited for last
  bool by_reference_ = false;            // by_reference of the exchange waited for last
  std::vector<MPI_Request> bg_reqs_;  // the background exchange in flight
  std::vector<int> bg_peers_;
  double bg_start_s_ = 0;
  Watchdog& watchdog_ = rank_watchdog();
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator() { return std::make_unique<MpiCommunicator>(); }

}  // namespace wideep
