// The per-rank watchdog: one thread per process (rank_watchdog()) that enforces
// --timeout-s around every wait of both backends. A backend arms it before a
// wait with a description (operation, step, layer, phase, peers) and disarms
// it after. Waits that poll (MPI requests, CUDA/NCCL queries) throw their own
// kTimeout first; the watchdog is the backstop for waits that cannot poll or
// that stopped making progress: past the deadline it prints one line naming
// the rank and the description, and ends the process with kExitTimeout.
// It also installs a SIGTERM handler that prints where the rank was (the armed
// description) when the launcher kills the job, e.g. after another rank died.
// arm/describe/disarm are cheap (no lock, no wake-up) and called by one thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace wideep {

class Watchdog {
 public:
  Watchdog();
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Deadline now + timeout_s; `what` names the wait for the messages.
  void arm(double timeout_s, const std::string& what);
  // Replaces the description (e.g. the peers still missing), keeps the deadline.
  void describe(const std::string& what);
  void disarm();
  bool armed() const { return armed_.load(std::memory_order_relaxed); }

 private:
  void loop();

  std::atomic<bool> armed_{false};
  std::atomic<double> deadline_s_{0};
  std::mutex mu_;  // only for stop_ and the thread's sleep
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// The polled waits throw at --timeout-s; the watchdog fires only this much
// later, when polling itself is stuck inside MPI, NCCL or CUDA.
inline double watchdog_grace_s(double timeout_s) { return timeout_s < 8 ? 2.0 : 0.25 * timeout_s; }

// The process's watchdog, started on first use (and with it the SIGTERM report).
Watchdog& rank_watchdog();

// RAII arming of a Watchdog around one wait.
class WatchdogScope {
 public:
  WatchdogScope(Watchdog& w, double timeout_s, const std::string& what) : w_(w) {
    w_.arm(timeout_s, what);
  }
  ~WatchdogScope() { w_.disarm(); }
  WatchdogScope(const WatchdogScope&) = delete;
  WatchdogScope& operator=(const WatchdogScope&) = delete;

 private:
  Watchdog& w_;
};

}  // namespace wideep
