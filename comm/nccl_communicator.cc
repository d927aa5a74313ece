// NCCL backend of Communicator (device memory, comm/device_communicator.h).
// One NCCL communicator per run, created from an ncclUniqueId that rank 0
// broadcasts with MPI, in nonblocking mode so that no NCCL call can block
// without a deadline. Every operation is enqueued on the one stream and then
// waited for by polling (ncclCommGetAsyncError while NCCL is still enqueueing,
// then a CUDA event, with ncclCommGetAsyncError between polls); when the
// timeout passes the communicator is aborted (ncclCommAbort) and an
// Error(kTimeout) names the operation, step, layer, phase and peers.
//
// Payload: grouped ncclSend/ncclRecv (ring order from this rank; the self part
// is a device-to-device copy). raw_alltoallv_bytes (--baseline) is the same
// grouped send/recv over all peers in rank order, self included through NCCL,
// without wideep's ordering or the self copy: NCCL has no all-to-allv of its own.
// exchange(): NCCL has no tags, so transfers between two ranks match in
// posting order; both sides post the EPLB move plan in the same order.
// Device selection: the node-local rank (MPI_Comm_split_type(SHARED), the
// same as OMPI_COMM_WORLD_LOCAL_RANK or SLURM_LOCALID) modulo the visible GPUs;
// with more ranks than GPUs each rank gets its own NCCL_HOSTID and sockets over
// lo unless the user set NCCL_HOSTID (share_gpus_over_loopback). Binding the
// rank's cores to the GPU's NUMA node is runtime/'s (hwloc), after this.
#ifdef WIDEEP_HAVE_NCCL
#include <cuda_runtime_api.h>
#include <mpi.h>
#include <nccl.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "comm/device_communicator.h"
#include "comm/watchdog.h"
#include "common/check.h"

namespace wideep {

namespace detail {
void nccl_fail(int code, const char* call, const char* file, int line) {
  const ncclResult_t r = static_cast<ncclResult_t>(code);
  const ErrorCategory cat = r == ncclRemoteError ? ErrorCategory::kRemote
                            : r == ncclInvalidArgument || r == ncclInvalidUsage ? ErrorCategory::kInternal
                                                                                : ErrorCategory::kSystem;
  fail_call(cat, "NCCL", code, ncclGetErrorString(r), call, file, line);
}
}  // namespace detail

namespace {

// A nonblocking communicator may answer ncclInProgress: not an error.
#define WIDEEP_NCCL_ASYNC(call)                                                       \
  do {                                                                                \
    const ncclResult_t wideep_nr_ = (call);                                           \
    if (wideep_nr_ != ncclSuccess && wideep_nr_ != ncclInProgress)                    \
      ::wideep::detail::nccl_fail(wideep_nr_, #call, __FILE__, __LINE__);             \
  } while (0)

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Node-local rank and size (MPI_Comm_split_type SHARED; identical to
// OMPI_COMM_WORLD_LOCAL_RANK / SLURM_LOCALID under those launchers).
void find_local_rank(int* local_rank, int* local_size) {
  MPI_Comm node;
  WIDEEP_MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
  WIDEEP_MPI_CHECK(MPI_Comm_rank(node, local_rank));
  WIDEEP_MPI_CHECK(MPI_Comm_size(node, local_size));
  WIDEEP_MPI_CHECK(MPI_Comm_free(&node));
}

// More ranks than GPUs on a node: NCCL (before 2.30's NCCL_MULTI_RANK_GPU_ENABLE)
// refuses two ranks on one GPU of one host, so each rank claims its own host
// (NCCL_HOSTID) and the ranks talk over loopback sockets. The user's own
// settings of these variables win. Must run before the first NCCL call.
bool share_gpus_over_loopback(int rank, int local_size, int gpus) {
  if (local_size <= gpus || std::getenv("NCCL_HOSTID")) return false;
  const std::string id = "wideep-rank-" + std::to_string(rank);
  setenv("NCCL_HOSTID", id.c_str(), 1);
  setenv("NCCL_SOCKET_IFNAME", "lo", 0);
  return true;
}

bool is_device_memory(const void* p) {
  cudaPointerAttributes a{};
  if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
    (void)cudaGetLastError();  // an unknown host pointer on old drivers
    return false;
  }
  return a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged;
}

class NcclCommunicator final : public DeviceCommunicator {
 public:
  NcclCommunicator() {
    WIDEEP_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
    WIDEEP_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size_));
    int local_size = 1, ngpu = 0;
    find_local_rank(&local_rank_, &local_size);
    WIDEEP_CUDA_CHECK(cudaGetDeviceCount(&ngpu));
    if (ngpu < 1) throw Error(ErrorCategory::kSystem, "NCCL backend: no GPU visible to rank " + std::to_string(rank_));
    device_ = local_rank_ % ngpu;
    if (share_gpus_over_loopback(rank_, local_size, ngpu) && rank_ == 0)
      std::fprintf(stderr, "wideep: %d ranks share %d GPU(s) on this node: NCCL_HOSTID per rank, sockets over %s\n",
                   local_size, ngpu, std::getenv("NCCL_SOCKET_IFNAME"));
    WIDEEP_CUDA_CHECK(cudaSetDevice(device_));
    WIDEEP_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    WIDEEP_CUDA_CHECK(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming));
    ncclUniqueId id;
    std::memset(&id, 0, sizeof id);
    if (rank_ == 0) WIDEEP_NCCL_CHECK(ncclGetUniqueId(&id));
    WIDEEP_MPI_CHECK(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD));
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    WatchdogScope guard(rank_watchdog(), timeout_s_ + watchdog_grace_s(timeout_s_),
                        "ncclCommInitRankConfig on rank " + std::to_string(rank_));
    WIDEEP_NCCL_ASYNC(ncclCommInitRankConfig(&comm_, size_, id, rank_, &config));
    wait_enqueued("ncclCommInitRankConfig", now_s() + timeout_s_);
    peers_.reserve(2 * size_);
  }

  ~NcclCommunicator() override {
    // No throw from here: a failure to finalize ends in an abort of the communicator.
    if (comm_ && !aborted_) {
      const ncclResult_t fin = ncclCommFinalize(comm_);
      bool ok = fin == ncclSuccess || fin == ncclInProgress;
      const double deadline = now_s() + timeout_s_;
      ncclResult_t st = ncclInProgress;
      while (ok && st == ncclInProgress) {
        if (ncclCommGetAsyncError(comm_, &st) != ncclSuccess || now_s() > deadline) ok = false;
        sched_yield();
      }
      if (ok && st == ncclSuccess) ncclCommDestroy(comm_);
      else ncclCommAbort(comm_);
    }
    scratch_free();
    if (done_) cudaEventDestroy(done_);
    if (stream_) cudaStreamDestroy(stream_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* backend_name() const override { return "nccl"; }
  void* stream() const override { return stream_; }
  int device() const override { return device_; }
  int local_rank() const override { return local_rank_; }

  void alltoall_int64(const int64_t* send, int64_t* recv) override {
    warm();
    const size_t n = static_cast<size_t>(size_);
    int64_t* ds = stage_in<int64_t>(send, n, 0);
    int64_t* dr = stage_out<int64_t>(recv, n, 1);
    begin();
    WIDEEP_NCCL_ASYNC(ncclGroupStart());
    for (int p = 0; p < size_; ++p) {
      post_recv(dr + p, sizeof(int64_t), p);
      post_send(ds + p, sizeof(int64_t), p);
    }
    WIDEEP_NCCL_ASYNC(ncclGroupEnd());
    finish_out(recv, dr, n * sizeof(int64_t), "counts exchange");
  }

  void alltoallv_bytes(const void* send, const int64_t* send_bytes, const int64_t* send_offset,
                       void* recv, const int64_t* recv_bytes, const int64_t* recv_offset) override {
    warm();
    auto* out = static_cast<const unsigned char*>(stage_payload_in(send, send_bytes, send_offset));
    auto* in = static_cast<unsigned char*>(stage_payload_out(recv, recv_bytes, recv_offset));
    WIDEEP_ASSERT(send_bytes[rank_] == recv_bytes[rank_], "self send and receive sizes differ");
    if (send_bytes[rank_] > 0)
      WIDEEP_CUDA_CHECK(cudaMemcpyAsync(in + recv_offset[rank_], out + send_offset[rank_], send_bytes[rank_],
                                        cudaMemcpyDeviceToDevice, stream_));
    begin();
    WIDEEP_NCCL_ASYNC(ncclGroupStart());
    for (int i = 1; i < size_; ++i) {
      const int from = (rank_ + size_ - i) % size_, to = (rank_ + i) % size_;
      if (recv_bytes[from] > 0) post_recv(in + recv_offset[from], recv_bytes[from], from);
      if (send_bytes[to] > 0) post_send(out + send_offset[to], send_bytes[to], to);
    }
    WIDEEP_NCCL_ASYNC(ncclGroupEnd());
    wait("all-to-allv");
    finish_payload(recv, in, recv_bytes, recv_offset, "all-to-allv");
  }

  // The device runner permutes on the device and never calls this; it is here
  // so that the host runner's gathered send works on this backend too: the
  // rows are gathered (host or device segments, cudaMemcpyDefault) into device
  // scratch, then sent as alltoallv_bytes sends a packed buffer.
  void alltoallv_rows(const RowGather& send, const int64_t* send_rows, const int64_t* send_row_offset,
                      void* recv, const int64_t* recv_bytes, const int64_t* recv_offset) override {
    const int nseg = send.segments_per_row;
    const int64_t row_bytes = send.row_bytes();
    gather_bytes_.assign(2 * static_cast<size_t>(size_), 0);
    int64_t* bytes = gather_bytes_.data();
    int64_t* offset = bytes + size_;
    int64_t total = 0;
    for (int p = 0; p < size_; ++p) {
      offset[p] = total;
      bytes[p] = send_rows[p] * row_bytes;
      total += bytes[p];
    }
    auto* packed = static_cast<unsigned char*>(scratch(2, static_cast<size_t>(std::max<int64_t>(total, 1))));
    for (int p = 0; p < size_; ++p) {
      unsigned char* to = packed + offset[p];
      for (int64_t row = send_row_offset[p]; row < send_row_offset[p] + send_rows[p]; ++row)
        for (int j = 0; j < nseg; ++j) {
          WIDEEP_CUDA_CHECK(cudaMemcpyAsync(to, send.seg[row * nseg + j], static_cast<size_t>(send.seg_bytes[j]),
                                            cudaMemcpyDefault, stream_));
          to += send.seg_bytes[j];
        }
    }
    alltoallv_bytes(packed, bytes, offset, recv, recv_bytes, recv_offset);
  }

  void raw_alltoallv_bytes(const void* send, const int64_t* send_bytes, const int64_t* send_offset,
                           void* recv, const int64_t* recv_bytes, const int64_t* recv_offset) override {
    warm();
    auto* out = static_cast<const unsigned char*>(stage_payload_in(send, send_bytes, send_offset));
    auto* in = static_cast<unsigned char*>(stage_payload_out(recv, recv_bytes, recv_offset));
    begin();
    WIDEEP_NCCL_ASYNC(ncclGroupStart());
    for (int p = 0; p < size_; ++p) {
      if (recv_bytes[p] > 0) post_recv(in + recv_offset[p], recv_bytes[p], p);
      if (send_bytes[p] > 0) post_send(out + send_offset[p], send_bytes[p], p);
    }
    WIDEEP_NCCL_ASYNC(ncclGroupEnd());
    wait("all-to-allv (baseline)");
    finish_payload(recv, in, recv_bytes, recv_offset, "all-to-allv (baseline)");
  }

  void allgather_int64(const int64_t* send, int64_t n, int64_t* recv) override {
    warm();
    const size_t total = static_cast<size_t>(n) * size_;
    int64_t* ds = stage_in<int64_t>(send, static_cast<size_t>(n), 0);
    int64_t* dr = stage_out<int64_t>(recv, total, 1);
    begin_collective();
    WIDEEP_NCCL_ASYNC(ncclAllGather(ds, dr, static_cast<size_t>(n), ncclInt64, comm_, stream_));
    finish_out(recv, dr, total * sizeof(int64_t), "allgather");
  }

  void allreduce_sum_int64(int64_t* data, int64_t n) override {
    allreduce(data, n, ncclInt64, ncclSum, "allreduce(sum)");
  }
  void allreduce_max_double(double* data, int64_t n) override {
    allreduce(data, n, ncclFloat64, ncclMax, "allreduce(max)");
  }
  void allreduce_sum_double(double* data, int64_t n) override {
    allreduce(data, n, ncclFloat64, ncclSum, "allreduce(sum)");
  }

  void barrier() override {
    warm();
    int32_t* d = static_cast<int32_t*>(scratch(0, sizeof(int32_t)));
    begin_collective();
    WIDEEP_NCCL_ASYNC(ncclAllReduce(d, d, 1, ncclInt32, ncclSum, comm_, stream_));
    wait("barrier");
  }

  void exchange(const std::vector<P2PTransfer>& sends, const std::vector<P2PTransfer>& recvs) override {
    warm();
    begin();
    if (sends.empty() && recvs.empty()) return;
    for (const auto* list : {&sends, &recvs})
      for (const P2PTransfer& t : *list)
        if (t.bytes > 0 && !is_device_memory(t.buf))
          throw Error(ErrorCategory::kInternal, "NCCL backend: the weight exchange needs device buffers");
    WIDEEP_NCCL_ASYNC(ncclGroupStart());
    for (const P2PTransfer& t : recvs) post_recv(t.buf, t.bytes, t.peer);
    for (const P2PTransfer& t : sends) post_send(t.buf, t.bytes, t.peer);
    WIDEEP_NCCL_ASYNC(ncclGroupEnd());
    wait("weight exchange");
  }

  void* alloc_bytes(int64_t bytes) override {
    void* p = nullptr;
    WIDEEP_CUDA_CHECK(cudaMalloc(&p, static_cast<size_t>(std::max<int64_t>(bytes, 1))));
    WIDEEP_CUDA_CHECK(cudaMemset(p, 0, static_cast<size_t>(std::max<int64_t>(bytes, 1))));
    return p;
  }
  // Called from destructors: reports instead of throwing.
  void free_bytes(void* p) override {
    const cudaError_t e = cudaFree(p);
    if (e != cudaSuccess) std::fprintf(stderr, "wideep: rank %d: cudaFree: %s\n", rank_, cudaGetErrorString(e));
  }

  void abort(int status) override {
    // ncclCommAbort and MPI_Abort can block on a broken transport; the watchdog ends us then.
    rank_watchdog().arm(10.0, "ncclCommAbort/MPI_Abort after an error on rank " + std::to_string(rank_));
    abort_comm();
    MPI_Abort(MPI_COMM_WORLD, status);
  }

 private:
  // NCCL connects lazily: the first operation connects every peer pair (one
  // byte both ways) and the collectives' rings, before anything is timed.
  void warm() {
    if (warm_) return;
    warm_ = true;
    unsigned char* d = static_cast<unsigned char*>(scratch(0, 2 * static_cast<size_t>(size_)));
    begin();
    WIDEEP_NCCL_ASYNC(ncclGroupStart());
    for (int p = 0; p < size_; ++p) {
      post_recv(d + size_ + p, 1, p);
      post_send(d + p, 1, p);
    }
    WIDEEP_NCCL_ASYNC(ncclGroupEnd());
    wait("connect (warm-up of every peer pair)");
    begin_collective();
    WIDEEP_NCCL_ASYNC(ncclAllReduce(d, d, 1, ncclUint8, ncclMax, comm_, stream_));
    wait("connect (warm-up of the collectives)");
  }

  template <typename T>
  void allreduce(T* data, int64_t n, ncclDataType_t type, ncclRedOp_t op, const char* what) {
    warm();
    const size_t count = static_cast<size_t>(n);
    T* d = stage_in<T>(data, count, 0);
    begin_collective();
    WIDEEP_NCCL_ASYNC(ncclAllReduce(d, d, count, type, op, comm_, stream_));
    finish_out(data, d, count * sizeof(T), what);
  }

  // ---- staging of host memory through pinned and device scratch ----------
  void* scratch(int which, size_t bytes) {
    if (scratch_bytes_[which] < bytes) {
      if (dev_[which]) WIDEEP_CUDA_CHECK(cudaFree(dev_[which]));
      if (pinned_[which]) WIDEEP_CUDA_CHECK(cudaFreeHost(pinned_[which]));
      dev_[which] = pinned_[which] = nullptr;
      scratch_bytes_[which] = 0;
      const size_t b = bytes < 4096 ? 4096 : bytes;
      WIDEEP_CUDA_CHECK(cudaMalloc(&dev_[which], b));
      if (which < 2) WIDEEP_CUDA_CHECK(cudaMallocHost(&pinned_[which], b));
      scratch_bytes_[which] = b;
    }
    return dev_[which];
  }
  void scratch_free() {
    for (int i = 0; i < 4; ++i) {
      if (dev_[i]) cudaFree(dev_[i]);
      if (pinned_[i]) cudaFreeHost(pinned_[i]);
    }
  }
  template <typename T>
  T* stage_in(const T* p, size_t n, int which) {
    if (is_device_memory(p)) return const_cast<T*>(p);
    T* d = static_cast<T*>(scratch(which, n * sizeof(T)));
    std::memcpy(pinned_[which], p, n * sizeof(T));
    WIDEEP_CUDA_CHECK(cudaMemcpyAsync(d, pinned_[which], n * sizeof(T), cudaMemcpyHostToDevice, stream_));
    return d;
  }
  template <typename T>
  T* stage_out(T* p, size_t n, int which) {
    if (is_device_memory(p)) return p;
    return static_cast<T*>(scratch(which, n * sizeof(T)));
  }
  // Waits for the operation; copies a staged result back to host memory.
  template <typename T>
  void finish_out(T* user, T* dev, size_t bytes, const char* what) {
    if (user == dev) {
      wait(what);
      return;
    }
    const int which = dev == dev_[0] ? 0 : 1;
    WIDEEP_CUDA_CHECK(cudaMemcpyAsync(pinned_[which], dev, bytes, cudaMemcpyDeviceToHost, stream_));
    wait(what);
    std::memcpy(user, pinned_[which], bytes);
  }

  // Payload in host memory (e.g. the EPLB --baseline exchange) goes through
  // device scratch 2 (send) and 3 (receive): correct, but the timing of such a
  // call includes the copies. Device memory is used in place.
  static int64_t extent(const int64_t* bytes, const int64_t* offset, int n) {
    int64_t e = 0;
    for (int p = 0; p < n; ++p)
      if (bytes[p] > 0) e = std::max(e, offset[p] + bytes[p]);
    return e;
  }
  const void* stage_payload_in(const void* p, const int64_t* bytes, const int64_t* offset) {
    if (is_device_memory(p)) return p;
    const int64_t n = extent(bytes, offset, size_);
    void* d = scratch(2, static_cast<size_t>(n));
    if (n > 0) WIDEEP_CUDA_CHECK(cudaMemcpyAsync(d, p, n, cudaMemcpyHostToDevice, stream_));
    return d;
  }
  void* stage_payload_out(void* p, const int64_t* bytes, const int64_t* offset) {
    if (is_device_memory(p)) return p;
    return scratch(3, static_cast<size_t>(extent(bytes, offset, size_)));
  }
  void finish_payload(void* user, void* dev, const int64_t* bytes, const int64_t* offset, const char* what) {
    if (user == dev) return;
    const int64_t n = extent(bytes, offset, size_);
    if (n > 0) WIDEEP_CUDA_CHECK(cudaMemcpyAsync(user, dev, n, cudaMemcpyDeviceToHost, stream_));
    wait(what);
  }

  // ---- posting and waiting --------------------------------------------------
  void begin() { peers_.clear(); }
  void begin_collective() {
    peers_.clear();
    peers_.push_back(-1);
  }
  void post_recv(void* buf, int64_t bytes, int peer) {
    WIDEEP_NCCL_ASYNC(ncclRecv(buf, static_cast<size_t>(bytes), ncclUint8, peer, comm_, stream_));
    peers_.push_back(peer);
  }
  void post_send(const void* buf, int64_t bytes, int peer) {
    WIDEEP_NCCL_ASYNC(ncclSend(buf, static_cast<size_t>(bytes), ncclUint8, peer, comm_, stream_));
    peers_.push_back(-2 - peer);
  }

  std::string where(const char* op) const {
    return std::string(op) + " in step " + std::to_string(ctx_.step) + " layer " +
           std::to_string(ctx_.layer) + " phase " + ctx_.phase;
  }

  std::string peer_list() const {
    std::string s;
    for (int p : peers_) {
      if (!s.empty()) s += ", ";
      if (p == -1) s += "the collective (all ranks)";
      else if (p >= 0) s += "receive from rank " + std::to_string(p);
      else s += "send to rank " + std::to_string(-2 - p);
    }
    return s.empty() ? "none" : s;
  }

  void abort_comm() {
    if (comm_ && !aborted_) {
      aborted_ = true;
      const bool was_armed = rank_watchdog().armed();
      if (!was_armed) rank_watchdog().arm(10.0, "ncclCommAbort on rank " + std::to_string(rank_));
      ncclCommAbort(comm_);
      if (!was_armed) rank_watchdog().disarm();
    }
  }

  // A failed or timed-out wait leaves the communicator unusable: abort it, then throw.
  [[noreturn]] void fail_wait(ErrorCategory cat, const char* op, const std::string& why) {
    abort_comm();
    throw Error(cat, "rank " + std::to_string(rank_) + ": NCCL " + why + " in " + where(op) +
                         "; operations of this wait: " + peer_list());
  }

  void check_async(const char* op) {
    ncclResult_t st = ncclSuccess;
    WIDEEP_NCCL_CHECK(ncclCommGetAsyncError(comm_, &st));
    if (st != ncclSuccess && st != ncclInProgress)
      fail_wait(st == ncclRemoteError ? ErrorCategory::kRemote : ErrorCategory::kSystem, op,
                std::string("asynchronous error: ") + ncclGetErrorString(st));
  }

  // Nonblocking mode: NCCL may still be enqueueing after ncclGroupEnd/init.
  void wait_enqueued(const char* op, double deadline) {
    for (unsigned spins = 0;; ++spins) {
      ncclResult_t st = ncclSuccess;
      WIDEEP_NCCL_CHECK(ncclCommGetAsyncError(comm_, &st));
      if (st == ncclSuccess) return;
      if (st != ncclInProgress)
        fail_wait(st == ncclRemoteError ? ErrorCategory::kRemote : ErrorCategory::kSystem, op,
                  std::string("error: ") + ncclGetErrorString(st));
      if (spins > 64) sched_yield();
      if (now_s() > deadline)
        fail_wait(ErrorCategory::kTimeout, op, "timeout after " + std::to_string(timeout_s_) + " s");
    }
  }

  void wait(const char* op) {
    if (aborted_) throw Error(ErrorCategory::kInternal, "NCCL communicator used after an abort");
    // The backstop for a CUDA or NCCL call that never returns to this poll loop.
    WatchdogScope guard(rank_watchdog(), timeout_s_ + watchdog_grace_s(timeout_s_), "NCCL " + where(op));
    const double deadline = now_s() + timeout_s_;
    wait_enqueued(op, deadline);
    WIDEEP_CUDA_CHECK(cudaEventRecord(done_, stream_));
    for (unsigned spins = 0;; ++spins) {
      const cudaError_t e = cudaEventQuery(done_);
      if (e == cudaSuccess) return;
      if (e != cudaErrorNotReady) WIDEEP_CUDA_CHECK(e);
      if (spins > 64) sched_yield();
      if ((spins & 63) == 0) {
        check_async(op);
        if (now_s() > deadline)
          fail_wait(ErrorCategory::kTimeout, op, "timeout after " + std::to_string(timeout_s_) + " s");
      }
    }
  }

  int rank_ = 0, size_ = 1, local_rank_ = 0, device_ = 0;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t done_ = nullptr;
  bool aborted_ = false, warm_ = false;
  std::vector<int64_t> gather_bytes_;  // alltoallv_rows: [R] bytes, [R] offsets
  std::vector<int> peers_;  // of the current wait: peer (recv), -2-peer (send), -1 collective
  // Scratch: 0, 1 small collectives (with pinned twins), 2, 3 host payload.
  void* dev_[4] = {nullptr, nullptr, nullptr, nullptr};
  void* pinned_[4] = {nullptr, nullptr, nullptr, nullptr};
  size_t scratch_bytes_[4] = {0, 0, 0, 0};
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator() { return std::make_unique<NcclCommunicator>(); }

}  // namespace wideep
#endif  // WIDEEP_HAVE_NCCL
