// WaitSlice (comm/wait_slice.h): sched_getattr/sched_setattr through syscall(2)
// (glibc 2.36 has no wrappers), and whether the node is oversubscribed.
#include "comm/wait_slice.h"

#include <linux/sched.h>  // SCHED_NORMAL (<sched.h> would redefine sched_param)
#include <linux/sched/types.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

namespace wideep {
namespace {

// Cleared the first time the kernel refuses (EPERM under a seccomp filter,
// E2BIG/EINVAL on an old kernel): a refused hint is not worth a syscall per wait.
std::atomic<bool> g_supported{true};

bool get_attr(sched_attr* a) {
  std::memset(a, 0, sizeof *a);
  return syscall(SYS_sched_getattr, 0, a, static_cast<unsigned>(sizeof *a), 0u) == 0;
}

bool set_runtime(const sched_attr& now, int64_t runtime_ns) {
  // Only a SCHED_OTHER thread's slice is a hint; other policies are left alone.
  if (now.sched_policy != SCHED_NORMAL) return false;
  sched_attr a = now;
  a.size = sizeof a;
  a.sched_flags = 0;
  a.sched_runtime = static_cast<uint64_t>(runtime_ns);
  return syscall(SYS_sched_setattr, 0, &a, 0u) == 0;
}

}  // namespace

bool node_oversubscribed(int ranks) {
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  return cpus > 0 && ranks > cpus;
}

int64_t thread_slice_ns() {
  sched_attr a;
  return get_attr(&a) ? static_cast<int64_t>(a.sched_runtime) : -1;
}

WaitSlice::WaitSlice(bool enable) : enabled_(enable && g_supported.load(std::memory_order_relaxed)) {}

void WaitSlice::shorten() {
  if (!enabled_ || shortened_) return;
  sched_attr a;
  if (!get_attr(&a) || !set_runtime(a, kWaitSliceNs)) {
    g_supported.store(false, std::memory_order_relaxed);
    enabled_ = false;
    return;
  }
  saved_ns_ = static_cast<int64_t>(a.sched_runtime);
  shortened_ = true;
}

WaitSlice::~WaitSlice() {
  if (!shortened_) return;
  sched_attr a;
  if (get_attr(&a)) set_runtime(a, saved_ns_);
}

}  // namespace wideep
