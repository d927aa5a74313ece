// Device memory, streams, event timers and NVTX ranges (kernels/device_buffer.h).
#ifdef WIDEEP_HAVE_CUDA
#include "kernels/device_buffer.h"

#include <cuda_runtime_api.h>
#include <nvtx3/nvToolsExt.h>
#include <sched.h>

#include <chrono>
#include <cstdio>

#include "common/check.h"
#include "kernels/host_wait_log.h"

namespace wideep {
namespace dev {
namespace {
double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
cudaStream_t cs(void* s) { return static_cast<cudaStream_t>(s); }

// Polls `query` (returns cudaSuccess when done, cudaErrorNotReady while not)
// until done or the deadline; yields the core between polls (ranks may share cores).
template <typename Q>
void poll(Q query, const char* call, double timeout_s, const std::string& what) {
  const double start = now_s(), deadline = start + timeout_s;
  for (unsigned spins = 0;; ++spins) {
    const cudaError_t e = query();
    if (e == cudaSuccess) {
      record_host_wait(what, static_cast<int64_t>((now_s() - start) * 1e9));
      return;
    }
    // A sticky error of any earlier work on the stream (an asynchronous kernel
    // fault) surfaces here, far from its launch: name the wait that saw it.
    if (e != cudaErrorNotReady)
      throw Error(ErrorCategory::kSystem, "rank " + std::to_string(error_rank()) + ": CUDA error " +
                                              cudaGetErrorName(e) + ": " + cudaGetErrorString(e) + " [" + call +
                                              "] while waiting for the GPU: " + what +
                                              " (an asynchronous fault of work enqueued before this wait)");
    if (spins > 64) sched_yield();
    if ((spins & 63) == 0 && now_s() > deadline)
      throw Error(ErrorCategory::kTimeout, "rank " + std::to_string(error_rank()) +
                                               ": timeout after " + std::to_string(timeout_s) +
                                               " s waiting for the GPU: " + what);
  }
}
}  // namespace

DeviceBuffer::~DeviceBuffer() {
  if (p_) cudaFree(p_);  // no throw from a destructor
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    if (p_) cudaFree(p_);
    p_ = o.p_;
    bytes_ = o.bytes_;
    o.p_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

void DeviceBuffer::allocate(size_t bytes) {
  if (p_) WIDEEP_CUDA_CHECK(cudaFree(p_));
  p_ = nullptr;
  bytes_ = 0;
  if (bytes == 0) return;
  WIDEEP_CUDA_CHECK(cudaMalloc(&p_, bytes));
  bytes_ = bytes;
}

PinnedBuffer::~PinnedBuffer() {
  if (p_) cudaFreeHost(p_);
}

void PinnedBuffer::allocate(size_t bytes) {
  if (p_) WIDEEP_CUDA_CHECK(cudaFreeHost(p_));
  p_ = nullptr;
  bytes_ = 0;
  if (bytes == 0) return;
  WIDEEP_CUDA_CHECK(cudaMallocHost(&p_, bytes));
  bytes_ = bytes;
}

StreamHandle::StreamHandle() {
  cudaStream_t s;
  WIDEEP_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  s_ = s;
}

StreamHandle::~StreamHandle() {
  if (owned_ && s_) cudaStreamDestroy(cs(s_));
}

void copy_async(void* dst, const void* src, size_t bytes, void* stream) {
  if (bytes == 0) return;
  WIDEEP_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, cs(stream)));
}

void memset_async(void* dst, int value, size_t bytes, void* stream) {
  if (bytes == 0) return;
  WIDEEP_CUDA_CHECK(cudaMemsetAsync(dst, value, bytes, cs(stream)));
}

void stream_wait(void* stream, double timeout_s, const std::string& what) {
  poll([&] { return cudaStreamQuery(cs(stream)); }, "cudaStreamQuery", timeout_s, what);
}

int current_device() {
  int d = 0;
  WIDEEP_CUDA_CHECK(cudaGetDevice(&d));
  return d;
}

void set_device(int device) { WIDEEP_CUDA_CHECK(cudaSetDevice(device)); }

StreamOrder::StreamOrder() {
  cudaEvent_t ev;
  WIDEEP_CUDA_CHECK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
  ev_ = ev;
}

StreamOrder::~StreamOrder() {
  if (ev_) cudaEventDestroy(static_cast<cudaEvent_t>(ev_));
}

void StreamOrder::record(void* stream) {
  WIDEEP_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(ev_), cs(stream)));
}

void StreamOrder::wait(void* waiter) {
  WIDEEP_CUDA_CHECK(cudaStreamWaitEvent(cs(waiter), static_cast<cudaEvent_t>(ev_), 0));
}

EventTimer::EventTimer(int boundaries) : ev_(boundaries, nullptr) {
  for (void*& e : ev_) {
    cudaEvent_t ev;
    WIDEEP_CUDA_CHECK(cudaEventCreate(&ev));
    e = ev;
  }
}

EventTimer::~EventTimer() {
  for (void* e : ev_)
    if (e) cudaEventDestroy(static_cast<cudaEvent_t>(e));
}

void EventTimer::record(int i, void* stream) {
  WIDEEP_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(ev_[i]), cs(stream)));
}

void EventTimer::wait(int i, double timeout_s, const std::string& what) {
  poll([&] { return cudaEventQuery(static_cast<cudaEvent_t>(ev_[i])); }, "cudaEventQuery", timeout_s, what);
}

int64_t EventTimer::elapsed_ns(int from, int to) const {
  float ms = 0;
  WIDEEP_CUDA_CHECK(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(ev_[from]),
                                         static_cast<cudaEvent_t>(ev_[to])));
  return static_cast<int64_t>(static_cast<double>(ms) * 1e6);
}

NvtxRange::NvtxRange(const char* name) { nvtxRangePushA(name); }
NvtxRange::~NvtxRange() { nvtxRangePop(); }

}  // namespace dev
}  // namespace wideep
#endif  // WIDEEP_HAVE_CUDA
