// Unit tests of NcclCore (the NCCL backend's operations) against a fake NCCL
// and a fake CUDA stream, without GPU, CUDA or NCCL at run time. The fake is
// rank 2 of 4 of a nonblocking communicator: every post answers ncclInProgress
// and the communicator stays in progress for a few polls of
// ncclCommGetAsyncError; only then is NCCL's kernel put on the stream. The
// stream runs its work in enqueue order when an event on it is queried, so a
// copy of a result enqueued before NCCL reached ncclSuccess would read stale
// data, as the counts exchange did on a GPU (issue 17, defect 1).
#include "comm/nccl_core.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <set>
#include <string>
#include <vector>

namespace wideep {
namespace {

using nccl::CopyKind;
using nccl::DataType;

// What rank `from` sends to rank `to` as its i-th int64 (or byte): receivers
// compute it without the sender, as nccl-tests does.
int64_t peer_value(int from, int to, size_t i) { return 1000000 * from + 1000 * to + static_cast<int64_t>(i); }
double peer_double(int from, size_t i) { return 0.5 * from + static_cast<double>(i); }

struct Fake {
  int me = 2, size = 4;
  int in_progress_polls = 3;      // polls answered ncclInProgress after each post
  bool never_enqueues = false;    // a peer that never arrives: in progress for ever
  int event_error = 0;            // a CUDA error that the next event query returns
  // NCCL side.
  struct P2P { bool send; const void* sbuf; void* rbuf; size_t bytes; int peer; };
  std::vector<P2P> group;
  std::vector<std::function<void()>> grouped;  // collectives posted inside the group
  int group_depth = 0;
  std::vector<std::function<void()>> posted;  // NCCL work accepted, not yet on the stream
  int polls_left = 0;
  bool success_reported = true;               // since the last post
  bool aborted = false;
  // CUDA side.
  std::vector<std::function<void()>> stream;  // enqueued, not yet run
  std::set<const void*> device;               // pointers from malloc_device
  std::vector<std::string> log;
  std::vector<std::string> violations;         // copies enqueued while NCCL was in progress
  void* the_stream = reinterpret_cast<void*>(0x5);
};
Fake* g = nullptr;

void run_stream() {
  auto work = std::move(g->stream);
  g->stream.clear();
  for (auto& w : work) w();
}

// ---- fake NCCL ---------------------------------------------------------------------
int launch(std::function<void()> kernel, const char* what) {
  if (g->group_depth > 0) {  // a collective inside a group: launched by ncclGroupEnd
    g->grouped.push_back(std::move(kernel));
    return nccl::kSuccess;
  }
  g->log.push_back(what);
  g->posted.push_back(std::move(kernel));
  g->polls_left = g->in_progress_polls;
  g->success_reported = false;
  if (g->polls_left == 0 && !g->never_enqueues) {  // a blocking communicator: enqueued on return
    for (auto& k : g->posted) g->stream.push_back(std::move(k));
    g->posted.clear();
    g->success_reported = true;
    return nccl::kSuccess;
  }
  return nccl::kInProgress;
}

int group_start() {
  ++g->group_depth;
  g->log.push_back("ncclGroupStart");
  return nccl::kSuccess;
}

int group_end() {
  if (--g->group_depth > 0) return nccl::kSuccess;
  std::vector<Fake::P2P> ops = std::move(g->group);
  g->group.clear();
  std::vector<std::function<void()>> grouped = std::move(g->grouped);
  g->grouped.clear();
  const int me = g->me;
  return launch(
      [ops, me, grouped] {
        for (const auto& k : grouped) k();
        for (const Fake::P2P& r : ops) {
          if (r.send) continue;
          auto* out = static_cast<unsigned char*>(r.rbuf);
          if (r.peer == me) {  // the matching send to myself, read as the kernel runs
            for (const Fake::P2P& s : ops)
              if (s.send && s.peer == me) std::memcpy(out, s.sbuf, std::min(s.bytes, r.bytes));
          } else if (r.bytes % sizeof(int64_t) == 0) {
            for (size_t i = 0; i < r.bytes / sizeof(int64_t); ++i) {
              const int64_t v = peer_value(r.peer, me, i);
              std::memcpy(out + i * sizeof v, &v, sizeof v);
            }
          } else {
            for (size_t i = 0; i < r.bytes; ++i) out[i] = static_cast<unsigned char>(r.peer + i);
          }
        }
      },
      "ncclGroupEnd");
}

int send(const void* buf, size_t count, DataType, int peer, nccl::Comm, nccl::Stream) {
  g->group.push_back({true, buf, nullptr, count, peer});
  return nccl::kSuccess;
}
int recv(void* buf, size_t count, DataType, int peer, nccl::Comm, nccl::Stream) {
  g->group.push_back({false, nullptr, buf, count, peer});
  return nccl::kSuccess;
}

int all_gather(const void* s, void* r, size_t n, DataType type, nccl::Comm, nccl::Stream) {
  EXPECT_EQ(type, DataType::kInt64);
  const int me = g->me, size = g->size;
  return launch(
      [=] {
        auto* out = static_cast<int64_t*>(r);
        for (int p = 0; p < size; ++p)
          for (size_t i = 0; i < n; ++i)
            out[p * n + i] = p == me ? static_cast<const int64_t*>(s)[i] : peer_value(p, p, i);
      },
      "ncclAllGather");
}

int all_reduce(const void* s, void* r, size_t n, DataType type, nccl::RedOp op, nccl::Comm, nccl::Stream) {
  const int me = g->me, size = g->size;
  return launch(
      [=] {
        for (size_t i = 0; i < n; ++i) {
          if (type == DataType::kInt64) {
            int64_t v = static_cast<const int64_t*>(s)[i];
            for (int p = 0; p < size; ++p)
              if (p != me) v = op == nccl::RedOp::kSum ? v + peer_value(p, p, i) : std::max(v, peer_value(p, p, i));
            static_cast<int64_t*>(r)[i] = v;
          } else if (type == DataType::kFloat64) {
            double v = static_cast<const double*>(s)[i];
            for (int p = 0; p < size; ++p)
              if (p != me) v = op == nccl::RedOp::kSum ? v + peer_double(p, i) : std::max(v, peer_double(p, i));
            static_cast<double*>(r)[i] = v;
          }  // uint8/int32: the warm-up and the barrier, whose values nobody reads
        }
      },
      "ncclAllReduce");
}

int comm_get_async_error(nccl::Comm, int* state) {
  if (g->never_enqueues || g->polls_left > 0) {
    if (!g->never_enqueues && --g->polls_left == 0) {
      for (auto& k : g->posted) g->stream.push_back(std::move(k));  // NCCL's kernel is on the stream now
      g->posted.clear();
      g->log.push_back("kernel enqueued");
    }
    *state = nccl::kInProgress;
    return nccl::kSuccess;
  }
  if (!g->success_reported) g->log.push_back("ncclSuccess");
  g->success_reported = true;
  *state = nccl::kSuccess;
  return nccl::kSuccess;
}

int comm_abort(nccl::Comm) {
  g->aborted = true;
  return nccl::kSuccess;
}
const char* nccl_error_string(int r) { return r == nccl::kRemoteError ? "remote process exited" : "fake NCCL error"; }

// ---- fake CUDA ---------------------------------------------------------------------
int malloc_device(void** p, size_t bytes) {
  *p = std::malloc(bytes);
  std::memset(*p, 0xAB, bytes);  // garbage, as fresh device memory may hold
  g->device.insert(*p);
  return nccl::kCudaSuccess;
}
int free_device(void* p) {
  g->device.erase(p);
  std::free(p);
  return nccl::kCudaSuccess;
}
int malloc_pinned(void** p, size_t bytes) {
  *p = std::malloc(bytes);
  return nccl::kCudaSuccess;
}
int free_pinned(void* p) {
  std::free(p);
  return nccl::kCudaSuccess;
}
int memcpy_async(void* dst, const void* src, size_t bytes, CopyKind kind, nccl::Stream s) {
  EXPECT_EQ(s, g->the_stream);
  const char* name = kind == CopyKind::kDeviceToHost ? "copy D2H" : kind == CopyKind::kHostToDevice ? "copy H2D" : "copy D2D";
  g->log.push_back(name);
  if (!g->success_reported) g->violations.push_back(std::string(name) + " enqueued while NCCL was in progress");
  g->stream.push_back([=] { std::memcpy(dst, src, bytes); });
  return nccl::kCudaSuccess;
}
int memset_async(void* dst, int value, size_t bytes, nccl::Stream s) {
  EXPECT_EQ(s, g->the_stream);  // the communicator's stream, not the legacy one
  g->log.push_back("memset");
  g->stream.push_back([=] { std::memset(dst, value, bytes); });
  return nccl::kCudaSuccess;
}
int event_record(nccl::Event, nccl::Stream s) {
  EXPECT_EQ(s, g->the_stream);
  g->log.push_back("event record");
  return nccl::kCudaSuccess;
}
int event_query(nccl::Event) {
  if (g->event_error) return g->event_error;
  run_stream();  // one valid schedule of the stream: everything, in order
  return nccl::kCudaSuccess;
}
bool is_device_memory(const void* p) { return g->device.count(p) > 0; }
const char* cuda_error_string(int code) {
  return code == 700 ? "cudaErrorIllegalAddress: an illegal memory access was encountered" : "cudaErrorUnknown";
}

const nccl::NcclApi kFakeNccl{group_start, group_end, send, recv, all_gather, all_reduce,
                              comm_get_async_error, comm_abort, nccl_error_string};
const nccl::CudaApi kFakeCuda{malloc_device, free_device, malloc_pinned, free_pinned, memcpy_async,
                              memset_async, event_record, event_query, is_device_memory, cuda_error_string};

class NcclCoreTest : public testing::Test {
 protected:
  NcclCoreTest() {
    g = &fake;
    NcclCore::Setup s;
    s.nccl = &kFakeNccl;
    s.cuda = &kFakeCuda;
    s.rank = fake.me;
    s.size = fake.size;
    s.stream = fake.the_stream;
    s.done = reinterpret_cast<void*>(0xE);
    s.comm = reinterpret_cast<void*>(0xC);
    core = std::make_unique<NcclCore>(s);
    core->set_timeout_s(5);
    core->set_context({3, 1, "dispatch"});
  }
  ~NcclCoreTest() override {
    core.reset();
    g = nullptr;
  }
  // Position of the first log entry equal to `what` at or after `from`.
  size_t find(const std::string& what, size_t from = 0) const {
    for (size_t i = from; i < fake.log.size(); ++i)
      if (fake.log[i] == what) return i;
    return fake.log.size();
  }

  Fake fake;
  std::unique_ptr<NcclCore> core;
};

TEST_F(NcclCoreTest, CountsExchangeCopiesTheResultOnlyAfterNcclReachedSuccess) {
  std::vector<int64_t> send = {10, 11, 12, 13}, recv(4, -1);
  core->alltoall_int64(send.data(), recv.data());
  EXPECT_TRUE(fake.violations.empty()) << fake.violations.front();
  for (int p = 0; p < 4; ++p) EXPECT_EQ(recv[p], p == 2 ? 12 : peer_value(p, 2, 0)) << "from rank " << p;
  // The order on the stream: the kernel, then the copy of the result to the host.
  const size_t end = find("ncclGroupEnd", find("ncclGroupEnd") + 1);  // the second: after the warm-up's
  const size_t kernel = find("kernel enqueued", end), ok = find("ncclSuccess", end), copy = find("copy D2H", end);
  ASSERT_LT(copy, fake.log.size());
  EXPECT_LT(kernel, ok);
  EXPECT_LT(ok, copy);
}

TEST_F(NcclCoreTest, EveryCollectiveWithAHostResultWaitsForSuccessFirst) {
  for (int rep = 0; rep < 3; ++rep) {  // repeated: each call's own post is waited for
    std::vector<int64_t> send = {7, 8}, all(8, -1);
    core->allgather_int64(send.data(), 2, all.data());
    for (int p = 0; p < 4; ++p)
      for (size_t i = 0; i < 2; ++i) EXPECT_EQ(all[p * 2 + i], p == 2 ? send[i] : peer_value(p, p, i));

    std::vector<int64_t> sum = {1, 2, 3};
    core->allreduce_sum_int64(sum.data(), 3);
    for (size_t i = 0; i < 3; ++i)
      EXPECT_EQ(sum[i], static_cast<int64_t>(i + 1) + peer_value(0, 0, i) + peer_value(1, 1, i) + peer_value(3, 3, i));

    std::vector<double> mx = {100.0, -1.0};
    core->allreduce_max_double(mx.data(), 2);
    EXPECT_EQ(mx[0], 100.0);
    EXPECT_EQ(mx[1], peer_double(3, 1));

    std::vector<double> ds = {0.25};
    core->allreduce_sum_double(ds.data(), 1);
    EXPECT_DOUBLE_EQ(ds[0], 0.25 + peer_double(0, 0) + peer_double(1, 0) + peer_double(3, 0));
    core->barrier();
  }
  EXPECT_TRUE(fake.violations.empty()) << fake.violations.front();
}

// NCCL has no scan: one allgather (grouped with the allreduce) and a local prefix sum.
TEST_F(NcclCoreTest, ExscanIsOneGroupedPostAndOneWait) {
  std::vector<int64_t> send = {5, 6, 7}, recv(3, -1);
  core->exscan_sum_int64(send.data(), recv.data(), 3);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(recv[i], peer_value(0, 0, i) + peer_value(1, 1, i)) << i;  // ranks 0, 1

  const size_t before = fake.log.size();
  std::vector<int64_t> reduce = {1, 2}, scan_send = {9, 8, 7}, scan_recv(3, -1);
  core->allreduce_exscan_sum_int64(reduce.data(), 2, scan_send.data(), scan_recv.data(), 3);
  for (size_t i = 0; i < 2; ++i)
    EXPECT_EQ(reduce[i], static_cast<int64_t>(i + 1) + peer_value(0, 0, i) + peer_value(1, 1, i) + peer_value(3, 3, i));
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(scan_recv[i], peer_value(0, 0, i) + peer_value(1, 1, i)) << i;
  EXPECT_EQ(std::count(fake.log.begin() + before, fake.log.end(), "ncclGroupEnd"), 1);
  EXPECT_EQ(std::count(fake.log.begin() + before, fake.log.end(), "event record"), 1);  // one wait
  EXPECT_TRUE(fake.violations.empty()) << fake.violations.front();
}

TEST_F(NcclCoreTest, PayloadInDeviceAndHostMemoryArrivesWhole) {
  // 16 bytes per peer, self included (the self part is a device copy).
  const int64_t n = 16;
  std::vector<int64_t> bytes(4, n), offset = {0, n, 2 * n, 3 * n};
  auto* dsend = static_cast<unsigned char*>(core->alloc_bytes(4 * n));
  auto* drecv = static_cast<unsigned char*>(core->alloc_bytes(4 * n));
  for (int i = 0; i < 4 * n; ++i) dsend[i] = static_cast<unsigned char>(200 + i);
  for (int host = 0; host < 2; ++host) {
    std::vector<unsigned char> hsend(dsend, dsend + 4 * n), hrecv(4 * n, 0);
    unsigned char* out = host ? hrecv.data() : drecv;
    core->alltoallv_bytes(host ? hsend.data() : dsend, bytes.data(), offset.data(), out, bytes.data(), offset.data());
    for (int p = 0; p < 4; ++p) {
      int64_t v0 = 0;
      std::memcpy(&v0, out + offset[p], sizeof v0);
      if (p == 2) EXPECT_EQ(std::memcmp(out + offset[p], dsend + offset[p], n), 0) << "self part";
      else EXPECT_EQ(v0, peer_value(p, 2, 0)) << "from rank " << p << (host ? " (host memory)" : " (device memory)");
    }
  }
  EXPECT_TRUE(fake.violations.empty()) << fake.violations.front();
  core->free_bytes(dsend);
  core->free_bytes(drecv);
}

// Two-batch overlap: the exchange is enqueued and neither its start nor its
// wait block the host; the stream runs it in order.
TEST_F(NcclCoreTest, OverlappedExchangeIsEnqueuedAndNeverBlocksTheHost) {
  const int64_t n = 16;
  std::vector<int64_t> bytes(4, n), offset = {0, n, 2 * n, 3 * n};
  auto* dsend = static_cast<unsigned char*>(core->alloc_bytes(4 * n));
  auto* drecv = static_cast<unsigned char*>(core->alloc_bytes(4 * n));
  for (int i = 0; i < 4 * n; ++i) dsend[i] = static_cast<unsigned char>(100 + i);
  core->barrier();  // the communicator's warm-up (one grouped post and a wait) is behind us
  const size_t before = fake.log.size();
  const int id = core->start_alltoallv_bytes(dsend, bytes.data(), offset.data(), drecv, bytes.data(), offset.data());
  EXPECT_EQ(std::count(fake.log.begin() + before, fake.log.end(), "ncclGroupEnd"), 1);
  EXPECT_EQ(std::count(fake.log.begin() + before, fake.log.end(), "event record"), 0) << "start waited";
  // A second one may be in flight at the same time; a third may not.
  const int id2 = core->start_alltoallv_bytes(dsend, bytes.data(), offset.data(), drecv, bytes.data(), offset.data());
  EXPECT_NE(id, id2);
  EXPECT_THROW(core->start_alltoallv_bytes(dsend, bytes.data(), offset.data(), drecv, bytes.data(), offset.data()),
               Error);
  core->wait_exchange(id);
  core->wait_exchange(id2);
  // Not on the host: the micro-batch's stream waits for it on the device.
  EXPECT_EQ(std::count(fake.log.begin() + before, fake.log.end(), "event record"), 0) << "the wait blocked the host";
  core->barrier();  // a host wait on the stream: everything enqueued before it has run
  for (int p = 0; p < 4; ++p) {
    int64_t v0 = 0;
    std::memcpy(&v0, drecv + offset[p], sizeof v0);
    if (p == 2) EXPECT_EQ(std::memcmp(drecv + offset[p], dsend + offset[p], n), 0) << "self part";
    else EXPECT_EQ(v0, peer_value(p, 2, 0)) << "from rank " << p;
  }
  EXPECT_THROW(core->wait_exchange(id), Error);  // already waited for
  EXPECT_TRUE(fake.violations.empty()) << fake.violations.front();
  core->free_bytes(dsend);
  core->free_bytes(drecv);
}

// --eplb-async on the device: the background exchange is posted without a
// wait; exchange_done() polls an event and never blocks; the data has arrived
// once it says so.
TEST_F(NcclCoreTest, BackgroundExchangeIsPostedAndPolledWithoutBlocking) {
  const int64_t n = 32;
  auto* src = static_cast<unsigned char*>(core->alloc_bytes(n));
  auto* dst = static_cast<unsigned char*>(core->alloc_bytes(n));
  for (int i = 0; i < n; ++i) src[i] = static_cast<unsigned char>(i + 1);
  core->barrier();
  EXPECT_TRUE(core->exchange_done()) << "nothing posted";
  const size_t before = fake.log.size();
  core->post_exchange({{1, src, n, 7}}, {{1, dst, n, 7}});
  EXPECT_EQ(std::count(fake.log.begin() + before, fake.log.end(), "ncclGroupEnd"), 1);
  EXPECT_THROW(core->post_exchange({}, {{1, dst, n, 7}}), Error) << "one at a time";
  bool done = false;
  for (int i = 0; i < 100 && !done; ++i) done = core->exchange_done();
  ASSERT_TRUE(done);
  int64_t v = 0;
  std::memcpy(&v, dst, sizeof v);
  EXPECT_EQ(v, peer_value(1, 2, 0)) << "from rank 1";
  EXPECT_NE(core->posted_peers().find("receive from rank 1"), std::string::npos);
  std::vector<unsigned char> host(n);
  EXPECT_THROW(core->post_exchange({{1, host.data(), n, 7}}, {}), Error) << "host buffers";
  EXPECT_TRUE(fake.violations.empty()) << fake.violations.front();
  core->free_bytes(src);
  core->free_bytes(dst);
}

TEST_F(NcclCoreTest, AllocBytesIsZeroedOnTheCommunicatorsStreamBeforeItReturns) {
  auto* p = static_cast<unsigned char*>(core->alloc_bytes(64));
  const size_t memset_at = find("memset");
  ASSERT_LT(memset_at, fake.log.size());
  EXPECT_LT(memset_at, find("event record", memset_at));  // waited for
  EXPECT_TRUE(fake.stream.empty());
  for (int i = 0; i < 64; ++i) ASSERT_EQ(p[i], 0) << "byte " << i;
  core->free_bytes(p);
}

TEST_F(NcclCoreTest, BlockingCommunicatorNeedsNoPolls) {
  fake.in_progress_polls = 0;
  std::vector<int64_t> send = {1, 2, 3, 4}, recv(4, -1);
  core->alltoall_int64(send.data(), recv.data());
  EXPECT_EQ(recv[2], 3);
  EXPECT_EQ(recv[1], peer_value(1, 2, 0));
}

TEST_F(NcclCoreTest, APostThatNeverCompletesTimesOutNamingThePhaseAndAborts) {
  core->barrier();  // connected
  fake.never_enqueues = true;
  core->set_timeout_s(0.3);
  std::vector<int64_t> send(4, 1), recv(4, 0);
  try {
    core->alltoall_int64(send.data(), recv.data());
    FAIL() << "no timeout";
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::kTimeout);
    const std::string m = e.what();
    EXPECT_NE(m.find("rank 2: NCCL timeout after"), std::string::npos) << m;
    EXPECT_NE(m.find("counts exchange in step 3 layer 1 phase dispatch"), std::string::npos) << m;
    EXPECT_NE(m.find("receive from rank 0"), std::string::npos) << m;
  }
  EXPECT_TRUE(fake.aborted);
  EXPECT_TRUE(fake.violations.empty()) << fake.violations.front();
  EXPECT_THROW(core->barrier(), Error);  // unusable after the abort
}

TEST_F(NcclCoreTest, AnAsynchronousCudaFaultNamesTheWaitThatSawIt) {
  core->barrier();
  core->set_context({5, 0, "combine"});
  std::vector<int64_t> bytes(4, 8), offset = {0, 8, 16, 24};
  void* d = core->alloc_bytes(32);
  fake.event_error = 700;
  try {
    core->alltoallv_bytes(d, bytes.data(), offset.data(), d, bytes.data(), offset.data());
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_EQ(e.category(), ErrorCategory::kSystem);
    EXPECT_NE(m.find("cudaErrorIllegalAddress"), std::string::npos) << m;
    EXPECT_NE(m.find("all-to-allv in step 5 layer 0 phase combine"), std::string::npos) << m;
  }
  EXPECT_TRUE(fake.aborted);
  core->free_bytes(d);
}

}  // namespace
}  // namespace wideep
