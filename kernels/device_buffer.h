// RAII owners of device resources and the few runtime calls runtime/ needs,
// behind no CUDA header: device memory, pinned host memory, a stream, CUDA-event
// phase timers and NVTX ranges. Every call is checked (WIDEEP_CUDA_CHECK); every
// wait polls against a deadline and throws Error(kTimeout) naming what waited.
// Defined only when built with CUDA (WIDEEP_HAVE_CUDA).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace wideep {
namespace dev {

// Device memory, allocated once (cudaMalloc); move-only.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes) { allocate(bytes); }
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(o.p_), bytes_(o.bytes_) { o.p_ = nullptr; o.bytes_ = 0; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void allocate(size_t bytes);  // frees what it held; 0 bytes holds nothing
  void* get() const { return p_; }
  template <typename T>
  T* as() const { return static_cast<T*>(p_); }
  size_t bytes() const { return bytes_; }

 private:
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

// Page-locked host memory for asynchronous copies; move-only.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  explicit PinnedBuffer(size_t bytes) { allocate(bytes); }
  ~PinnedBuffer();
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  void allocate(size_t bytes);
  void* get() const { return p_; }
  template <typename T>
  T* as() const { return static_cast<T*>(p_); }
  size_t bytes() const { return bytes_; }

 private:
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

// A non-blocking stream this object owns (or borrows: owns=false).
class StreamHandle {
 public:
  StreamHandle();  // creates one
  explicit StreamHandle(void* borrowed) : s_(borrowed), owned_(false) {}
  ~StreamHandle();
  StreamHandle(const StreamHandle&) = delete;
  StreamHandle& operator=(const StreamHandle&) = delete;
  void* get() const { return s_; }

 private:
  void* s_ = nullptr;
  bool owned_ = true;
};

// Orders two streams through one reusable event (cudaStreamWaitEvent takes
// the event's state at the call): record(s) marks what was enqueued on s so
// far, wait(w) makes stream w wait for it; after(w, s) does both at once.
class StreamOrder {
 public:
  StreamOrder();
  ~StreamOrder();
  StreamOrder(const StreamOrder&) = delete;
  StreamOrder& operator=(const StreamOrder&) = delete;
  void record(void* stream);
  void wait(void* waiter);
  void after(void* waiter, void* waited) {
    record(waited);
    wait(waiter);
  }

 private:
  void* ev_ = nullptr;
};

// Async copies on a stream (cudaMemcpyDefault: any direction under UVA).
void copy_async(void* dst, const void* src, size_t bytes, void* stream);
void memset_async(void* dst, int value, size_t bytes, void* stream);
// Polls until all work on `stream` is done; throws Error(kTimeout) naming `what`
// past the deadline, and Error(kSystem) naming `what` and the CUDA error when
// earlier work on the stream faulted (so pass the phase and step in `what`).
void stream_wait(void* stream, double timeout_s, const std::string& what);
// The current device and how many this process sees.
int current_device();
void set_device(int device);

// One CUDA event per phase boundary: record(i) on the stream; after wait, the
// milliseconds between boundaries i and j.
class EventTimer {
 public:
  explicit EventTimer(int boundaries);
  ~EventTimer();
  EventTimer(const EventTimer&) = delete;
  EventTimer& operator=(const EventTimer&) = delete;
  void record(int i, void* stream);
  // Host-blocking until boundary i has passed (polling, with a deadline).
  void wait(int i, double timeout_s, const std::string& what);
  int64_t elapsed_ns(int from, int to) const;

 private:
  std::vector<void*> ev_;
};

// An NVTX range (push on construction, pop on destruction) that Nsight shows.
class NvtxRange {
 public:
  explicit NvtxRange(const char* name);
  ~NvtxRange();
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;
};

}  // namespace dev
}  // namespace wideep
