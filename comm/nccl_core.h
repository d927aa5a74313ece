// NcclCore: every operation of the NCCL backend (comm/device_communicator.h)
// once its NCCL communicator exists: the posting order, the staging of host
// memory through pinned and device scratch, the waits with a deadline, abort.
// It calls NCCL and CUDA only through the tables of comm/nccl_api.h, so it
// compiles in every build and comm/nccl_core_test.cc runs it against fakes;
// comm/nccl_communicator.cc derives from it with the real tables and adds the
// creation (MPI, device choice, ncclCommInitRankConfig) and the teardown.
//
// Ordering guarantee: every NCCL post goes through post_group/post_collective,
// which return only once NCCL reports ncclSuccess for the post (a nonblocking
// communicator answers ncclInProgress while its own thread still enqueues the
// kernel). Copies of a result are enqueued after that, so they run after the
// NCCL kernel on the one stream. One thread uses an object at a time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "comm/device_communicator.h"
#include "comm/nccl_api.h"
#include "common/check.h"

namespace wideep {

class NcclCore : public DeviceCommunicator {
 public:
  struct Setup {
    const nccl::NcclApi* nccl = nullptr;
    const nccl::CudaApi* cuda = nullptr;
    int rank = 0, size = 1, local_rank = 0, device = 0;
    nccl::Stream stream = nullptr;  // the one stream (owned by the caller)
    nccl::Event done = nullptr;     // an event for the waits (owned by the caller)
    nccl::Comm comm = nullptr;      // may be set later (set_comm), before the first operation
  };
  explicit NcclCore(const Setup& s);
  ~NcclCore() override;  // frees the scratch (reports, never throws)
  NcclCore(const NcclCore&) = delete;
  NcclCore& operator=(const NcclCore&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* backend_name() const override { return "nccl"; }
  void* stream() const override { return stream_; }
  int device() const override { return device_; }
  int local_rank() const override { return local_rank_; }

  void alltoall_int64(const int64_t* send, int64_t* recv) override;
  void alltoallv_bytes(const void* send, const int64_t* send_bytes, const int64_t* send_offset, void* recv,
                       const int64_t* recv_bytes, const int64_t* recv_offset) override;
  void alltoallv_rows(const RowGather& send, const int64_t* send_rows, const int64_t* send_row_offset,
                      void* recv, const int64_t* recv_bytes, const int64_t* recv_offset) override;
  void raw_alltoallv_bytes(const void* send, const int64_t* send_bytes, const int64_t* send_offset,
                           void* recv, const int64_t* recv_bytes, const int64_t* recv_offset) override;
  // Two-batch overlap: device buffers' exchanges are enqueued and not waited
  // for (the stream runs them while the host enqueues the other micro-batch's
  // kernels on theirs); the wait waits for the stream, with the deadline and
  // the peers of the exchange. Host buffers: the blocking exchange.
  int start_alltoallv_bytes(const void* send, const int64_t* send_bytes, const int64_t* send_offset, void* recv,
                            const int64_t* recv_bytes, const int64_t* recv_offset) override;
  bool progress(int id) override;
  void wait_exchange(int id) override;
  void allgather_int64(const int64_t* send, int64_t n, int64_t* recv) override;
  void allreduce_sum_int64(int64_t* data, int64_t n) override;
  void allreduce_max_double(double* data, int64_t n) override;
  void allreduce_sum_double(double* data, int64_t n) override;
  void barrier() override;
  // NCCL has no scan: one allgather of the n values (and, for the pair, the
  // allreduce in the same group) and a local prefix sum: one wait, instead of
  // the base class's ceil(log2 R) rounds. Host memory (else the base class's).
  void exscan_sum_int64(const int64_t* send, int64_t* recv, int64_t n) override;
  void allreduce_exscan_sum_int64(int64_t* reduce_data, int64_t n_reduce, const int64_t* scan_send,
                                  int64_t* scan_recv, int64_t n_scan) override;
  void exchange(const std::vector<P2PTransfer>& sends, const std::vector<P2PTransfer>& recvs) override;
  // The same transfers posted as one group on this core's stream, not waited
  // for; exchange_done() says, without blocking, whether the stream has passed
  // them (an event query; NCCL's asynchronous errors and CUDA faults throw).
  // The background exchanges of --eplb-async (comm/nccl_communicator.cc).
  void post_exchange(const std::vector<P2PTransfer>& sends, const std::vector<P2PTransfer>& recvs);
  bool exchange_done();
  std::string posted_peers() const { return posted_peers_; }
  // Device memory, zeroed on the stream and waited for: ordered with every
  // operation of this communicator, resident before anything is timed.
  void* alloc_bytes(int64_t bytes) override;
  void free_bytes(void* p) override;
  // Aborts the NCCL communicator, then ends this process with `status`
  // (nccl_communicator.cc ends the whole job with MPI_Abort instead).
  void abort(int status) override;

  bool aborted() const { return aborted_; }

 protected:
  void set_comm(nccl::Comm c) { comm_ = c; }
  nccl::Comm comm() const { return comm_; }
  nccl::Event done_event() const { return done_; }
  // Polls until NCCL reports ncclSuccess (a nonblocking init or post done);
  // past `deadline_s` (steady clock) the communicator is aborted and kTimeout thrown.
  void wait_enqueued(const char* op, double deadline_s);
  // Aborts the communicator once (the watchdog bounds a stuck ncclCommAbort).
  void abort_comm();
  std::string where(const char* op) const;
  static double now_s();

 private:
  class OpScope;
  void warm();
  template <typename T>
  void allreduce(T* data, int64_t n, nccl::DataType type, nccl::RedOp op, const char* what);

  // ---- posting: the one way to reach NCCL -------------------------------------
  // Sends and receives in one group; returns once NCCL has enqueued them.
  template <typename Body>
  void post_group(const OpScope& op, Body&& body);
  // One collective (the body returns its result); returns once enqueued.
  template <typename Body>
  void post_collective(const OpScope& op, Body&& body);
  // A weight exchange's receives and sends as one group (device buffers only).
  void post_transfers(const OpScope& op, const std::vector<P2PTransfer>& sends, const std::vector<P2PTransfer>& recvs);
  // The all-to-allv's self copy and its grouped sends and receives (device buffers).
  void enqueue_alltoallv(const OpScope& op, const unsigned char* out, const int64_t* send_bytes,
                         const int64_t* send_offset, unsigned char* in, const int64_t* recv_bytes,
                         const int64_t* recv_offset);
  void post_recv(void* buf, int64_t bytes, int peer);
  void post_send(const void* buf, int64_t bytes, int peer);
  void check_post(int result, const char* call);
  // Waits until the stream has passed everything enqueued so far.
  void wait_done(const OpScope& op);

  // ---- staging of host memory through pinned and device scratch --------------
  void* scratch(int which, size_t bytes, const char* op);
  template <typename T>
  T* stage_in(const T* p, size_t n, int which, const char* op);
  template <typename T>
  T* stage_out(T* p, size_t n, int which, const char* op);
  template <typename T>
  void finish_out(const OpScope& op, T* user, T* dev, size_t bytes);
  const void* stage_payload_in(const void* p, const int64_t* bytes, const int64_t* offset, const char* op);
  void* stage_payload_out(void* p, const int64_t* bytes, const int64_t* offset, const char* op);
  void finish_payload(const OpScope& op, void* user, void* dev, const int64_t* bytes, const int64_t* offset);

  void cuda_check(int code, const char* call, const char* op);
  void check_async(const char* op);
  std::string peer_list() const;
  [[noreturn]] void fail_wait(ErrorCategory cat, const char* op, const std::string& why);

  const nccl::NcclApi& nccl_;
  const nccl::CudaApi& cuda_;
  int rank_, size_, local_rank_, device_;
  nccl::Stream stream_;
  nccl::Event done_;
  nccl::Comm comm_;
  bool aborted_ = false, warm_ = false;
  bool posted_ = false;        // post_exchange() in flight
  std::string posted_peers_;   // its peers, for a timeout's message
  std::vector<int64_t> gather_bytes_;  // alltoallv_rows: [R] bytes, [R] offsets
  std::vector<int64_t> scan_all_;      // exscan: [R * n] the gathered values
  std::vector<int> peers_;  // of the current operation: peer (recv), -2-peer (send), -1 collective
  std::vector<int> overlapped_peers_[kMaxPendingExchanges];  // of the exchanges enqueued, not yet waited for
  bool overlapped_[kMaxPendingExchanges] = {false, false};
  // Scratch: 0, 1 small collectives (with pinned twins), 2, 3 host payload.
  void* dev_[4] = {nullptr, nullptr, nullptr, nullptr};
  void* pinned_[4] = {nullptr, nullptr, nullptr, nullptr};
  size_t scratch_bytes_[4] = {0, 0, 0, 0};
};

}  // namespace wideep
