// NCCL backend of Communicator (device memory, comm/device_communicator.h):
// its creation and teardown. The operations are NcclCore's (comm/nccl_core.h),
// here over the real NCCL and CUDA tables (comm/nccl_api.cc).
// One NCCL communicator per run, created from an ncclUniqueId that rank 0
// broadcasts with MPI, under --timeout-s from the start (make_communicator
// passes it in). Blocking mode by default (WIDEEP_NCCL_BLOCKING=0: nonblocking):
// a nonblocking communicator creates and joins a thread in NCCL for every
// group it launches (the latency floor of issue 17), and the host calls that
// can block in blocking mode (init, the first connect of a peer pair) are
// bounded by the rank's watchdog (comm/watchdog.h), which ends the rank with
// a message naming the wait; a hang after enqueueing is still found by the
// polled waits, which abort the communicator and throw Error(kTimeout).
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
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "comm/nccl_core.h"
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

// WIDEEP_NCCL_BLOCKING=0 asks for a nonblocking communicator (see the top comment).
bool blocking_mode() {
  const char* v = std::getenv("WIDEEP_NCCL_BLOCKING");
  return !(v && std::strcmp(v, "0") == 0);
}

// Test hook for launch/gpu_run.sh's init-deadline check: WIDEEP_TEST_NCCL_INIT_DELAY=RANK:SECONDS
// makes that rank sleep before joining ncclCommInitRankConfig, so that the
// others wait in init for longer than --timeout-s.
void test_init_delay(int rank) {
  const char* v = std::getenv("WIDEEP_TEST_NCCL_INIT_DELAY");
  int r = -1;
  double s = 0;
  if (v && std::sscanf(v, "%d:%lf", &r, &s) == 2 && r == rank && s > 0) {
    std::fprintf(stderr, "wideep: rank %d: WIDEEP_TEST_NCCL_INIT_DELAY: joining NCCL init %.0f s late\n", rank, s);
    usleep(static_cast<useconds_t>(s * 1e6));
  }
}

// The device, stream and event exist before the core (which borrows them;
// ~NcclCommunicator destroys them).
NcclCore::Setup device_setup() {
  NcclCore::Setup s;
  s.nccl = &nccl::real_nccl_api();
  s.cuda = &nccl::real_cuda_api();
  WIDEEP_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &s.rank));
  WIDEEP_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &s.size));
  int local_size = 1, ngpu = 0;
  find_local_rank(&s.local_rank, &local_size);
  WIDEEP_CUDA_CHECK(cudaGetDeviceCount(&ngpu));
  if (ngpu < 1) throw Error(ErrorCategory::kSystem, "NCCL backend: no GPU visible to rank " + std::to_string(s.rank));
  s.device = s.local_rank % ngpu;
  if (share_gpus_over_loopback(s.rank, local_size, ngpu) && s.rank == 0)
    std::fprintf(stderr, "wideep: %d ranks share %d GPU(s) on this node: NCCL_HOSTID per rank, sockets over %s\n",
                 local_size, ngpu, std::getenv("NCCL_SOCKET_IFNAME"));
  WIDEEP_CUDA_CHECK(cudaSetDevice(s.device));
  cudaStream_t stream = nullptr;
  cudaEvent_t done = nullptr;
  WIDEEP_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  WIDEEP_CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
  s.stream = stream;
  s.done = done;
  return s;
}

class NcclCommunicator final : public NcclCore {
 public:
  // background: a second NCCL communicator over the same ranks, on a stream of
  // its own, carries start_background() (--eplb-async): weight moves then
  // overlap the steps on the device. Created in the same order on every rank.
  NcclCommunicator(double timeout_s, bool background) : NcclCore(device_setup()) {
    set_timeout_s(timeout_s);
    ncclUniqueId id;
    std::memset(&id, 0, sizeof id);
    if (rank() == 0) WIDEEP_NCCL_CHECK(ncclGetUniqueId(&id));
    WIDEEP_MPI_CHECK(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD));
    test_init_delay(rank());
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = blocking_mode() ? 1 : 0;
    // Blocking mode waits inside this call for every rank: the watchdog bounds it.
    char what[96];
    std::snprintf(what, sizeof what, "ncclCommInitRankConfig on rank %d (--timeout-s %g)", rank(), timeout_s_);
    WatchdogScope guard(rank_watchdog(), timeout_s_ + watchdog_grace_s(timeout_s_), what);
    ncclComm_t c = nullptr;
    WIDEEP_NCCL_ASYNC(ncclCommInitRankConfig(&c, size(), id, rank(), &config));
    set_comm(c);
    wait_enqueued("ncclCommInitRankConfig", now_s() + timeout_s_);
    if (background) background_ = std::make_unique<NcclCommunicator>(timeout_s, false);
  }

  void start_background(const std::vector<P2PTransfer>& sends, const std::vector<P2PTransfer>& recvs) override {
    if (!background_) return NcclCore::start_background(sends, recvs);
    background_->set_context(context());
    background_start_s_ = now_s();
    background_->post_exchange(sends, recvs);
  }
  bool test_background() override {
    if (!background_ || background_->exchange_done()) return true;
    if (now_s() - background_start_s_ > timeout_s_)
      throw Error(ErrorCategory::kTimeout, "rank " + std::to_string(rank()) + ": background weight exchange not done " +
                                               std::to_string(timeout_s_) + " s after it started (" +
                                               where("test_background") + "); posted: " +
                                               background_->posted_peers());
    return false;
  }

  ~NcclCommunicator() override {
    background_.reset();  // its own finalize, first
    // No throw from here: a failure to finalize ends in an abort of the communicator.
    auto* c = static_cast<ncclComm_t>(comm());
    if (c && !aborted()) {
      WatchdogScope guard(rank_watchdog(), timeout_s_ + watchdog_grace_s(timeout_s_),
                          "ncclCommFinalize on rank " + std::to_string(rank()));
      const ncclResult_t fin = ncclCommFinalize(c);
      bool ok = fin == ncclSuccess || fin == ncclInProgress;
      const double deadline = now_s() + timeout_s_;
      ncclResult_t st = ncclInProgress;
      while (ok && st == ncclInProgress) {
        if (ncclCommGetAsyncError(c, &st) != ncclSuccess || now_s() > deadline) ok = false;
        sched_yield();
      }
      if (ok && st == ncclSuccess) ncclCommDestroy(c);
      else ncclCommAbort(c);
    }
    if (done_event()) cudaEventDestroy(static_cast<cudaEvent_t>(done_event()));
    if (stream()) cudaStreamDestroy(static_cast<cudaStream_t>(stream()));
  }

  void abort(int status) override {
    // ncclCommAbort and MPI_Abort can block on a broken transport; the watchdog ends us then.
    rank_watchdog().arm(10.0, "ncclCommAbort/MPI_Abort after an error on rank " + std::to_string(rank()));
    if (background_) background_->abort_comm();
    abort_comm();
    MPI_Abort(MPI_COMM_WORLD, status);
  }

 private:
  std::unique_ptr<NcclCommunicator> background_;
  double background_start_s_ = 0;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(double timeout_s, bool background) {
  return std::make_unique<NcclCommunicator>(timeout_s, background);
}

}  // namespace wideep
#endif  // WIDEEP_HAVE_NCCL
