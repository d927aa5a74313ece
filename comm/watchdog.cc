// Watchdog thread: sleeps until the armed deadline, then reports and exits.
#include "comm/watchdog.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "common/check.h"
#include "common/exit_status.h"

namespace wideep {
namespace {
double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

Watchdog::Watchdog() : thread_([this] { loop(); }) {}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Watchdog::arm(double timeout_s, const std::string& what) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    armed_ = true;
    deadline_s_ = now_s() + timeout_s;
    what_ = what;
  }
  cv_.notify_all();
}

void Watchdog::disarm() {
  std::lock_guard<std::mutex> lock(mu_);
  armed_ = false;
}

void Watchdog::loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if (!armed_) {
      cv_.wait(lock);
      continue;
    }
    const double left_s = deadline_s_ - now_s();
    if (left_s > 0) {
      cv_.wait_for(lock, std::chrono::duration<double>(left_s));
      continue;
    }
    std::fprintf(stderr, "wideep: rank %d: timeout: %s\n", error_rank(), what_.c_str());
    std::fflush(stderr);
    std::_Exit(kExitTimeout);
  }
}

}  // namespace wideep
