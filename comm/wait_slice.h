// WaitSlice: while a rank waits for a node peer on an oversubscribed node, it
// asks Linux's EEVDF scheduler (>= 6.12) for a short time slice, so that when
// the peer releases it, it preempts a computing rank instead of waiting for
// the next scheduler tick. The thread's own slice comes back at the end.
#pragma once

#include <cstdint>

namespace wideep {

// The slice a waiting rank asks for (the kernel's floor is 100 us).
constexpr int64_t kWaitSliceNs = 100000;

// Whether `ranks` processes on this machine outnumber its online CPUs.
bool node_oversubscribed(int ranks);

// The calling thread's requested time slice (sched_attr.sched_runtime of a
// SCHED_OTHER thread; 0: the kernel's default), or -1 where it cannot be read.
int64_t thread_slice_ns();

class WaitSlice {
 public:
  // `enable` false (or a kernel or container that refuses the call: then once
  // per process, silently, never again): nothing happens.
  explicit WaitSlice(bool enable);
  ~WaitSlice();
  WaitSlice(const WaitSlice&) = delete;
  WaitSlice& operator=(const WaitSlice&) = delete;
  // Asks for the short slice (once; later calls do nothing).
  void shorten();

 private:
  bool enabled_;
  bool shortened_ = false;
  int64_t saved_ns_ = 0;
};

}  // namespace wideep
