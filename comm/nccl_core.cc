// The operations of the NCCL backend over the tables of comm/nccl_api.h
// (comm/nccl_core.h). Payload: grouped sends/receives in ring order from this
// rank, the self part a device-to-device copy; the baseline (raw) all-to-allv
// is the same group over all peers in rank order, self included, as NCCL has
// no all-to-allv of its own. exchange(): NCCL has no tags, so transfers
// between two ranks match in posting order (both sides post the plan in order).
#include "comm/nccl_core.h"

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "comm/watchdog.h"

namespace wideep {

using nccl::CopyKind;
using nccl::DataType;

// One operation: its name for messages, its deadline, and the watchdog armed
// for as long as it runs (the backstop for an NCCL or CUDA call that blocks
// and never returns to a poll loop: a blocking-mode connect to a dead peer).
class NcclCore::OpScope {
 public:
  OpScope(NcclCore& c, const char* op)
      : op_(op),
        deadline_s_(now_s() + c.timeout_s()),
        guard_(rank_watchdog(), c.timeout_s() + watchdog_grace_s(c.timeout_s()), "NCCL " + c.where(op)) {
    if (c.aborted_) throw Error(ErrorCategory::kInternal, "NCCL communicator used after an abort (" + c.where(op) + ")");
    c.peers_.clear();
  }
  const char* op() const { return op_; }
  double deadline_s() const { return deadline_s_; }

 private:
  const char* op_;
  double deadline_s_;
  WatchdogScope guard_;
};

NcclCore::NcclCore(const Setup& s)
    : nccl_(*s.nccl),
      cuda_(*s.cuda),
      rank_(s.rank),
      size_(s.size),
      local_rank_(s.local_rank),
      device_(s.device),
      stream_(s.stream),
      done_(s.done),
      comm_(s.comm) {
  peers_.reserve(2 * static_cast<size_t>(size_) + 1);
}

NcclCore::~NcclCore() {
  for (int i = 0; i < 4; ++i) {
    if (dev_[i]) (void)cuda_.free_device(dev_[i]);
    if (pinned_[i]) (void)cuda_.free_pinned(pinned_[i]);
  }
}

double NcclCore::now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// ---- operations -----------------------------------------------------------------

void NcclCore::alltoall_int64(const int64_t* send, int64_t* recv) {
  warm();
  OpScope op(*this, "counts exchange");
  const size_t n = static_cast<size_t>(size_);
  int64_t* ds = stage_in<int64_t>(send, n, 0, op.op());
  int64_t* dr = stage_out<int64_t>(recv, n, 1, op.op());
  post_group(op, [&] {
    for (int p = 0; p < size_; ++p) {
      post_recv(dr + p, sizeof(int64_t), p);
      post_send(ds + p, sizeof(int64_t), p);
    }
  });
  finish_out(op, recv, dr, n * sizeof(int64_t));
}

int NcclCore::start_alltoallv_bytes(const void* send, const int64_t* send_bytes, const int64_t* send_offset,
                                    void* recv, const int64_t* recv_bytes, const int64_t* recv_offset) {
  int id = 0;
  while (id < kMaxPendingExchanges && overlapped_[id]) ++id;
  WIDEEP_ASSERT(id < kMaxPendingExchanges, "more than " + std::to_string(kMaxPendingExchanges) +
                                               " overlapped exchanges in flight");
  if (!cuda_.is_device_memory(send) || !cuda_.is_device_memory(recv)) {
    alltoallv_bytes(send, send_bytes, send_offset, recv, recv_bytes, recv_offset);
    overlapped_peers_[id].clear();
  } else {
    warm();
    OpScope op(*this, "all-to-allv (overlapped)");
    enqueue_alltoallv(op, static_cast<const unsigned char*>(send), send_bytes, send_offset,
                      static_cast<unsigned char*>(recv), recv_bytes, recv_offset);
    overlapped_peers_[id] = peers_;
  }
  overlapped_[id] = true;
  return id;
}

bool NcclCore::progress(int id) {
  WIDEEP_ASSERT(id >= 0 && id < kMaxPendingExchanges && overlapped_[id], "no overlapped exchange in flight");
  return false;  // the stream's business: the pipeline orders on events, not on this
}

// A device exchange is not waited for on the host: the micro-batch's stream
// waits for it on the device (kernels' exchange_started/after_exchange), and
// a host wait here would also wait for the other micro-batch's exchange
// enqueued after it on the one stream, which is what overlap must not do.
// What bounds a stuck exchange is then the batch's next host wait (its slot
// counts), with the run's timeout and the phase in its message; NCCL's own
// asynchronous errors are checked here.
void NcclCore::wait_exchange(int id) {
  WIDEEP_ASSERT(id >= 0 && id < kMaxPendingExchanges && overlapped_[id], "no overlapped exchange in flight");
  overlapped_[id] = false;
  if (overlapped_peers_[id].empty()) return;  // ran blocking (host buffers), or nothing to move
  check_async("all-to-allv (overlapped)");
}

void NcclCore::enqueue_alltoallv(const OpScope& op, const unsigned char* out, const int64_t* send_bytes,
                                 const int64_t* send_offset, unsigned char* in, const int64_t* recv_bytes,
                                 const int64_t* recv_offset) {
  WIDEEP_ASSERT(send_bytes[rank_] == recv_bytes[rank_], "self send and receive sizes differ");
  // The self part depends on no NCCL result: it may be enqueued before the group.
  if (send_bytes[rank_] > 0)
    cuda_check(cuda_.memcpy_async(in + recv_offset[rank_], out + send_offset[rank_],
                                  static_cast<size_t>(send_bytes[rank_]), CopyKind::kDeviceToDevice, stream_),
               "cudaMemcpyAsync (self part)", op.op());
  post_group(op, [&] {
    for (int i = 1; i < size_; ++i) {
      const int from = (rank_ + size_ - i) % size_, to = (rank_ + i) % size_;
      if (recv_bytes[from] > 0) post_recv(in + recv_offset[from], recv_bytes[from], from);
      if (send_bytes[to] > 0) post_send(out + send_offset[to], send_bytes[to], to);
    }
  });
}

void NcclCore::alltoallv_bytes(const void* send, const int64_t* send_bytes, const int64_t* send_offset,
                               void* recv, const int64_t* recv_bytes, const int64_t* recv_offset) {
  warm();
  OpScope op(*this, "all-to-allv");
  auto* out = static_cast<const unsigned char*>(stage_payload_in(send, send_bytes, send_offset, op.op()));
  auto* in = static_cast<unsigned char*>(stage_payload_out(recv, recv_bytes, recv_offset, op.op()));
  enqueue_alltoallv(op, out, send_bytes, send_offset, in, recv_bytes, recv_offset);
  finish_payload(op, recv, in, recv_bytes, recv_offset);
}

// The device runner permutes on the device and never calls this; it is here so
// that the host runner's gathered send works on this backend too: the rows are
// gathered (host or device segments, cudaMemcpyDefault) into device scratch,
// then sent as alltoallv_bytes sends a packed buffer.
void NcclCore::alltoallv_rows(const RowGather& send, const int64_t* send_rows, const int64_t* send_row_offset,
                              void* recv, const int64_t* recv_bytes, const int64_t* recv_offset) {
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
  const char* what = "all-to-allv (row gather)";
  auto* packed = static_cast<unsigned char*>(scratch(2, static_cast<size_t>(std::max<int64_t>(total, 1)), what));
  for (int p = 0; p < size_; ++p) {
    unsigned char* to = packed + offset[p];
    for (int64_t row = send_row_offset[p]; row < send_row_offset[p] + send_rows[p]; ++row)
      for (int j = 0; j < nseg; ++j) {
        cuda_check(cuda_.memcpy_async(to, send.seg[row * nseg + j], static_cast<size_t>(send.seg_bytes[j]),
                                      CopyKind::kDefault, stream_),
                   "cudaMemcpyAsync", what);
        to += send.seg_bytes[j];
      }
  }
  alltoallv_bytes(packed, bytes, offset, recv, recv_bytes, recv_offset);
}

void NcclCore::raw_alltoallv_bytes(const void* send, const int64_t* send_bytes, const int64_t* send_offset,
                                   void* recv, const int64_t* recv_bytes, const int64_t* recv_offset) {
  warm();
  OpScope op(*this, "all-to-allv (baseline)");
  auto* out = static_cast<const unsigned char*>(stage_payload_in(send, send_bytes, send_offset, op.op()));
  auto* in = static_cast<unsigned char*>(stage_payload_out(recv, recv_bytes, recv_offset, op.op()));
  post_group(op, [&] {
    for (int p = 0; p < size_; ++p) {
      if (recv_bytes[p] > 0) post_recv(in + recv_offset[p], recv_bytes[p], p);
      if (send_bytes[p] > 0) post_send(out + send_offset[p], send_bytes[p], p);
    }
  });
  finish_payload(op, recv, in, recv_bytes, recv_offset);
}

void NcclCore::allgather_int64(const int64_t* send, int64_t n, int64_t* recv) {
  warm();
  OpScope op(*this, "allgather");
  const size_t total = static_cast<size_t>(n) * static_cast<size_t>(size_);
  int64_t* ds = stage_in<int64_t>(send, static_cast<size_t>(n), 0, op.op());
  int64_t* dr = stage_out<int64_t>(recv, total, 1, op.op());
  post_collective(op, [&] {
    return nccl_.all_gather(ds, dr, static_cast<size_t>(n), DataType::kInt64, comm_, stream_);
  });
  finish_out(op, recv, dr, total * sizeof(int64_t));
}

void NcclCore::allreduce_sum_int64(int64_t* data, int64_t n) {
  allreduce(data, n, DataType::kInt64, nccl::RedOp::kSum, "allreduce(sum)");
}
void NcclCore::allreduce_max_double(double* data, int64_t n) {
  allreduce(data, n, DataType::kFloat64, nccl::RedOp::kMax, "allreduce(max)");
}
void NcclCore::allreduce_sum_double(double* data, int64_t n) {
  allreduce(data, n, DataType::kFloat64, nccl::RedOp::kSum, "allreduce(sum)");
}

template <typename T>
void NcclCore::allreduce(T* data, int64_t n, DataType type, nccl::RedOp red, const char* what) {
  warm();
  OpScope op(*this, what);
  const size_t count = static_cast<size_t>(n);
  T* d = stage_in<T>(data, count, 0, what);
  post_collective(op, [&] { return nccl_.all_reduce(d, d, count, type, red, comm_, stream_); });
  finish_out(op, data, d, count * sizeof(T));
}

void NcclCore::barrier() {
  warm();
  OpScope op(*this, "barrier");
  int32_t* d = static_cast<int32_t*>(scratch(0, sizeof(int32_t), op.op()));
  post_collective(op, [&] { return nccl_.all_reduce(d, d, 1, DataType::kInt32, nccl::RedOp::kSum, comm_, stream_); });
  wait_done(op);
}

void NcclCore::exscan_sum_int64(const int64_t* send, int64_t* recv, int64_t n) {
  if (cuda_.is_device_memory(send) || cuda_.is_device_memory(recv)) {
    Communicator::exscan_sum_int64(send, recv, n);
    return;
  }
  scan_all_.resize(static_cast<size_t>(n) * static_cast<size_t>(size_));
  allgather_int64(send, n, scan_all_.data());
  for (int64_t i = 0; i < n; ++i) {
    int64_t sum = 0;
    for (int p = 0; p < rank_; ++p) sum += scan_all_[static_cast<size_t>(p) * n + i];
    recv[i] = sum;
  }
}

void NcclCore::allreduce_exscan_sum_int64(int64_t* reduce_data, int64_t n_reduce, const int64_t* scan_send,
                                          int64_t* scan_recv, int64_t n_scan) {
  if (cuda_.is_device_memory(reduce_data) || cuda_.is_device_memory(scan_send) || cuda_.is_device_memory(scan_recv)) {
    Communicator::allreduce_exscan_sum_int64(reduce_data, n_reduce, scan_send, scan_recv, n_scan);
    return;
  }
  warm();
  OpScope op(*this, "allreduce(sum) + exscan(sum)");
  const size_t nr = static_cast<size_t>(n_reduce), ns = static_cast<size_t>(n_scan), R = static_cast<size_t>(size_);
  // Scratch 0: [reduce nr | scan send ns] in one pinned copy up; scratch 1: [R * ns] gathered.
  auto* d_in = static_cast<int64_t*>(scratch(0, (nr + ns) * sizeof(int64_t), op.op()));
  auto* d_all = static_cast<int64_t*>(scratch(1, R * ns * sizeof(int64_t), op.op()));
  auto* p_in = static_cast<int64_t*>(pinned_[0]);
  auto* p_all = static_cast<int64_t*>(pinned_[1]);
  std::memcpy(p_in, reduce_data, nr * sizeof(int64_t));
  std::memcpy(p_in + nr, scan_send, ns * sizeof(int64_t));
  cuda_check(cuda_.memcpy_async(d_in, p_in, (nr + ns) * sizeof(int64_t), CopyKind::kHostToDevice, stream_),
             "cudaMemcpyAsync (stage in)", op.op());
  peers_.push_back(-1);
  post_group(op, [&] {
    if (nr > 0)
      check_post(nccl_.all_reduce(d_in, d_in, nr, DataType::kInt64, nccl::RedOp::kSum, comm_, stream_),
                 "ncclAllReduce");
    if (ns > 0) check_post(nccl_.all_gather(d_in + nr, d_all, ns, DataType::kInt64, comm_, stream_), "ncclAllGather");
  });
  // After post_group: NCCL's kernels are on the stream ahead of these copies.
  cuda_check(cuda_.memcpy_async(p_in, d_in, nr * sizeof(int64_t), CopyKind::kDeviceToHost, stream_),
             "cudaMemcpyAsync (result to host)", op.op());
  cuda_check(cuda_.memcpy_async(p_all, d_all, R * ns * sizeof(int64_t), CopyKind::kDeviceToHost, stream_),
             "cudaMemcpyAsync (result to host)", op.op());
  wait_done(op);
  std::memcpy(reduce_data, p_in, nr * sizeof(int64_t));
  for (size_t i = 0; i < ns; ++i) {
    int64_t sum = 0;
    for (int p = 0; p < rank_; ++p) sum += p_all[static_cast<size_t>(p) * ns + i];
    scan_recv[i] = sum;
  }
}

void NcclCore::exchange(const std::vector<P2PTransfer>& sends, const std::vector<P2PTransfer>& recvs) {
  warm();
  if (sends.empty() && recvs.empty()) return;
  OpScope op(*this, "weight exchange");
  post_transfers(op, sends, recvs);
  wait_done(op);
}

void NcclCore::post_transfers(const OpScope& op, const std::vector<P2PTransfer>& sends,
                              const std::vector<P2PTransfer>& recvs) {
  for (const auto* list : {&sends, &recvs})
    for (const P2PTransfer& t : *list)
      if (t.bytes > 0 && !cuda_.is_device_memory(t.buf))
        throw Error(ErrorCategory::kInternal, "NCCL backend: the weight exchange needs device buffers");
  post_group(op, [&] {
    for (const P2PTransfer& t : recvs) post_recv(t.buf, t.bytes, t.peer);
    for (const P2PTransfer& t : sends) post_send(t.buf, t.bytes, t.peer);
  });
}

void NcclCore::post_exchange(const std::vector<P2PTransfer>& sends, const std::vector<P2PTransfer>& recvs) {
  warm();
  WIDEEP_ASSERT(!posted_, "one background exchange at a time");
  posted_peers_.clear();
  if (sends.empty() && recvs.empty()) return;
  OpScope op(*this, "background weight exchange");
  post_transfers(op, sends, recvs);
  for (const P2PTransfer& t : recvs) posted_peers_ += "receive from rank " + std::to_string(t.peer) + ", ";
  for (const P2PTransfer& t : sends) posted_peers_ += "send to rank " + std::to_string(t.peer) + ", ";
  cuda_check(cuda_.event_record(done_, stream_), "cudaEventRecord", op.op());
  posted_ = true;
}

bool NcclCore::exchange_done() {
  if (!posted_) return true;
  check_async("background weight exchange");
  const int e = cuda_.event_query(done_);
  if (e == nccl::kCudaNotReady) return false;
  if (e != nccl::kCudaSuccess)
    fail_wait(ErrorCategory::kSystem, "background weight exchange",
              std::string("CUDA error ") + cuda_.error_string(e) + " (cudaEventQuery)");
  posted_ = false;
  return true;
}

void* NcclCore::alloc_bytes(int64_t bytes) {
  const char* what = "alloc_bytes (zero fill)";
  const size_t b = static_cast<size_t>(std::max<int64_t>(bytes, 1));
  void* p = nullptr;
  cuda_check(cuda_.malloc_device(&p, b), "cudaMalloc", what);
  // On the communicator's stream, not the legacy stream: ordered with every
  // operation here, and waited for so the memory is zero before anyone uses it.
  try {
    OpScope op(*this, what);
    cuda_check(cuda_.memset_async(p, 0, b, stream_), "cudaMemsetAsync", what);
    wait_done(op);
  } catch (...) {
    (void)cuda_.free_device(p);
    throw;
  }
  return p;
}

// Called from destructors: reports instead of throwing.
void NcclCore::free_bytes(void* p) {
  const int e = cuda_.free_device(p);
  if (e != nccl::kCudaSuccess) std::fprintf(stderr, "wideep: rank %d: cudaFree: %s\n", rank_, cuda_.error_string(e));
}

void NcclCore::abort(int status) {
  rank_watchdog().arm(10.0, "ncclCommAbort after an error on rank " + std::to_string(rank_));
  abort_comm();
  std::fflush(nullptr);
  std::_Exit(status);
}

// NCCL connects lazily: the first operation connects every peer pair (one byte
// both ways) and the collectives' rings, before anything is timed.
void NcclCore::warm() {
  if (warm_) return;
  warm_ = true;
  OpScope op(*this, "connect (warm-up of every peer pair and the collectives)");
  unsigned char* d = static_cast<unsigned char*>(scratch(0, 2 * static_cast<size_t>(size_), op.op()));
  post_group(op, [&] {
    for (int p = 0; p < size_; ++p) {
      post_recv(d + size_ + p, 1, p);
      post_send(d + p, 1, p);
    }
  });
  post_collective(op, [&] { return nccl_.all_reduce(d, d, 1, DataType::kUint8, nccl::RedOp::kMax, comm_, stream_); });
  wait_done(op);
}

// ---- posting and waiting ---------------------------------------------------------

template <typename Body>
void NcclCore::post_group(const OpScope& op, Body&& body) {
  check_post(nccl_.group_start(), "ncclGroupStart");
  body();
  check_post(nccl_.group_end(), "ncclGroupEnd");
  wait_enqueued(op.op(), op.deadline_s());
}

template <typename Body>
void NcclCore::post_collective(const OpScope& op, Body&& body) {
  peers_.push_back(-1);
  check_post(body(), "collective");
  wait_enqueued(op.op(), op.deadline_s());
}

void NcclCore::post_recv(void* buf, int64_t bytes, int peer) {
  check_post(nccl_.recv(buf, static_cast<size_t>(bytes), DataType::kUint8, peer, comm_, stream_), "ncclRecv");
  peers_.push_back(peer);
}

void NcclCore::post_send(const void* buf, int64_t bytes, int peer) {
  check_post(nccl_.send(buf, static_cast<size_t>(bytes), DataType::kUint8, peer, comm_, stream_), "ncclSend");
  peers_.push_back(-2 - peer);
}

// A nonblocking communicator may answer ncclInProgress: not an error.
void NcclCore::check_post(int result, const char* call) {
  if (result == nccl::kSuccess || result == nccl::kInProgress) return;
  const ErrorCategory cat = result == nccl::kRemoteError ? ErrorCategory::kRemote
                            : result == nccl::kInvalidArgument || result == nccl::kInvalidUsage
                                ? ErrorCategory::kInternal
                                : ErrorCategory::kSystem;
  fail_call(cat, "NCCL", result, nccl_.error_string(result), call, __FILE__, __LINE__);
}

void NcclCore::wait_enqueued(const char* op, double deadline_s) {
  for (unsigned spins = 0;; ++spins) {
    int st = nccl::kSuccess;
    check_post(nccl_.comm_get_async_error(comm_, &st), "ncclCommGetAsyncError");
    if (st == nccl::kSuccess) return;
    if (st != nccl::kInProgress)
      fail_wait(st == nccl::kRemoteError ? ErrorCategory::kRemote : ErrorCategory::kSystem, op,
                std::string("error: ") + nccl_.error_string(st));
    if (spins > 64) sched_yield();
    if (now_s() > deadline_s) fail_wait(ErrorCategory::kTimeout, op, "timeout after " + std::to_string(timeout_s_) + " s");
  }
}

void NcclCore::wait_done(const OpScope& op) {
  cuda_check(cuda_.event_record(done_, stream_), "cudaEventRecord", op.op());
  for (unsigned spins = 0;; ++spins) {
    const int e = cuda_.event_query(done_);
    if (e == nccl::kCudaSuccess) return;
    // A sticky error of any earlier work on the stream (a kernel's fault)
    // surfaces here: say which wait saw it; NCCL is unusable after it.
    if (e != nccl::kCudaNotReady)
      fail_wait(ErrorCategory::kSystem, op.op(),
                std::string("CUDA error ") + cuda_.error_string(e) +
                    " (cudaEventQuery; an asynchronous fault of work on the stream)");
    if (spins > 64) sched_yield();
    if ((spins & 63) == 0) {
      check_async(op.op());
      if (now_s() > op.deadline_s())
        fail_wait(ErrorCategory::kTimeout, op.op(), "timeout after " + std::to_string(timeout_s_) + " s");
    }
  }
}

void NcclCore::check_async(const char* op) {
  if (!comm_) return;
  int st = nccl::kSuccess;
  check_post(nccl_.comm_get_async_error(comm_, &st), "ncclCommGetAsyncError");
  if (st != nccl::kSuccess && st != nccl::kInProgress)
    fail_wait(st == nccl::kRemoteError ? ErrorCategory::kRemote : ErrorCategory::kSystem, op,
              std::string("asynchronous error: ") + nccl_.error_string(st));
}

std::string NcclCore::where(const char* op) const {
  return std::string(op) + " in step " + std::to_string(ctx_.step) + " layer " + std::to_string(ctx_.layer) +
         " phase " + ctx_.phase;
}

std::string NcclCore::peer_list() const {
  std::string s;
  for (int p : peers_) {
    if (!s.empty()) s += ", ";
    if (p == -1) s += "the collective (all ranks)";
    else if (p >= 0) s += "receive from rank " + std::to_string(p);
    else s += "send to rank " + std::to_string(-2 - p);
  }
  return s.empty() ? "none" : s;
}

void NcclCore::abort_comm() {
  if (comm_ && !aborted_) {
    aborted_ = true;
    // A fresh deadline: the wait that failed may have used up its own, and
    // ncclCommAbort can take seconds; the scope that armed the watchdog disarms it.
    const bool was_armed = rank_watchdog().armed();
    rank_watchdog().arm(10.0, "ncclCommAbort on rank " + std::to_string(rank_));
    (void)nccl_.comm_abort(comm_);
    if (!was_armed) rank_watchdog().disarm();
  }
}

// A failed or timed-out wait leaves the communicator unusable: abort it, then throw.
void NcclCore::fail_wait(ErrorCategory cat, const char* op, const std::string& why) {
  abort_comm();
  throw Error(cat, "rank " + std::to_string(rank_) + ": NCCL " + why + " in " + where(op) +
                       "; operations of this wait: " + peer_list());
}

void NcclCore::cuda_check(int code, const char* call, const char* op) {
  if (code == nccl::kCudaSuccess) return;
  throw Error(ErrorCategory::kSystem, "rank " + std::to_string(rank_) + ": CUDA error " + cuda_.error_string(code) +
                                          " [" + call + "] in " + where(op));
}

// ---- staging ------------------------------------------------------------------------

void* NcclCore::scratch(int which, size_t bytes, const char* op) {
  if (scratch_bytes_[which] < bytes) {
    if (dev_[which]) cuda_check(cuda_.free_device(dev_[which]), "cudaFree (scratch)", op);
    if (pinned_[which]) cuda_check(cuda_.free_pinned(pinned_[which]), "cudaFreeHost (scratch)", op);
    dev_[which] = pinned_[which] = nullptr;
    scratch_bytes_[which] = 0;
    const size_t b = bytes < 4096 ? 4096 : bytes;
    cuda_check(cuda_.malloc_device(&dev_[which], b), "cudaMalloc (scratch)", op);
    if (which < 2) cuda_check(cuda_.malloc_pinned(&pinned_[which], b), "cudaMallocHost (scratch)", op);
    scratch_bytes_[which] = b;
  }
  return dev_[which];
}

// Host input goes through the pinned twin (a true asynchronous copy) to device scratch.
template <typename T>
T* NcclCore::stage_in(const T* p, size_t n, int which, const char* op) {
  if (cuda_.is_device_memory(p)) return const_cast<T*>(p);
  T* d = static_cast<T*>(scratch(which, n * sizeof(T), op));
  std::memcpy(pinned_[which], p, n * sizeof(T));
  cuda_check(cuda_.memcpy_async(d, pinned_[which], n * sizeof(T), CopyKind::kHostToDevice, stream_),
             "cudaMemcpyAsync (stage in)", op);
  return d;
}

template <typename T>
T* NcclCore::stage_out(T* p, size_t n, int which, const char* op) {
  if (cuda_.is_device_memory(p)) return p;
  return static_cast<T*>(scratch(which, n * sizeof(T), op));
}

// Called after post_*: the copy of the result is enqueued behind NCCL's kernel.
template <typename T>
void NcclCore::finish_out(const OpScope& op, T* user, T* dev, size_t bytes) {
  if (user != dev) {
    const int which = dev == dev_[0] ? 0 : 1;
    cuda_check(cuda_.memcpy_async(pinned_[which], dev, bytes, CopyKind::kDeviceToHost, stream_),
               "cudaMemcpyAsync (result to host)", op.op());
    wait_done(op);
    std::memcpy(user, pinned_[which], bytes);
    return;
  }
  wait_done(op);
}

// Payload in host memory (e.g. the EPLB --baseline exchange) goes through
// device scratch 2 (send) and 3 (receive): correct, but the timing of such a
// call includes the copies. Device memory is used in place.
namespace {
int64_t extent(const int64_t* bytes, const int64_t* offset, int n) {
  int64_t e = 0;
  for (int p = 0; p < n; ++p)
    if (bytes[p] > 0) e = std::max(e, offset[p] + bytes[p]);
  return e;
}
}  // namespace

const void* NcclCore::stage_payload_in(const void* p, const int64_t* bytes, const int64_t* offset, const char* op) {
  if (cuda_.is_device_memory(p)) return p;
  const int64_t n = extent(bytes, offset, size_);
  void* d = scratch(2, static_cast<size_t>(n), op);
  if (n > 0)
    cuda_check(cuda_.memcpy_async(d, p, static_cast<size_t>(n), CopyKind::kHostToDevice, stream_),
               "cudaMemcpyAsync (payload in)", op);
  return d;
}

void* NcclCore::stage_payload_out(void* p, const int64_t* bytes, const int64_t* offset, const char* op) {
  if (cuda_.is_device_memory(p)) return p;
  return scratch(3, static_cast<size_t>(extent(bytes, offset, size_)), op);
}

void NcclCore::finish_payload(const OpScope& op, void* user, void* dev, const int64_t* bytes,
                              const int64_t* offset) {
  if (user != dev) {
    const int64_t n = extent(bytes, offset, size_);
    if (n > 0)
      cuda_check(cuda_.memcpy_async(user, dev, static_cast<size_t>(n), CopyKind::kDeviceToHost, stream_),
                 "cudaMemcpyAsync (payload to host)", op.op());
  }
  wait_done(op);
}

}  // namespace wideep
