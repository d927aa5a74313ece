// The process-wide log of host waits for the device (kernels/host_wait_log.h).
#include "kernels/host_wait_log.h"

#include <mutex>

namespace wideep {
namespace {
std::mutex& log_mutex() {
  static std::mutex m;
  return m;
}
std::vector<HostWait>& log() {
  static std::vector<HostWait> v;
  return v;
}
}  // namespace

void record_host_wait(const std::string& what, int64_t ns) {
  std::lock_guard<std::mutex> lock(log_mutex());
  for (HostWait& w : log())
    if (w.what == what) {
      ++w.count;
      w.ns += ns;
      return;
    }
  log().push_back({what, 1, ns});
}

std::vector<HostWait> host_waits() {
  std::lock_guard<std::mutex> lock(log_mutex());
  return log();
}

void reset_host_waits() {
  std::lock_guard<std::mutex> lock(log_mutex());
  log().clear();
}

}  // namespace wideep
