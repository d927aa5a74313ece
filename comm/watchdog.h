// A per-rank watchdog thread for the waits that cannot poll (a library's own
// blocking collective): arm() before the call with a description, disarm()
// after. If the deadline passes while armed, it prints one line naming the rank,
// step, phase and operation, and ends the process with kExitTimeout.
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

  void arm(double timeout_s, const std::string& what);
  void disarm();

 private:
  void loop();

  std::mutex mu_;
  std::condition_variable cv_;
  bool armed_ = false;
  bool stop_ = false;
  double deadline_s_ = 0;
  std::string what_;
  std::thread thread_;
};

// RAII arming of a Watchdog around one blocking call.
class WatchdogScope {
 public:
  WatchdogScope(Watchdog& w, double timeout_s, const std::string& what) : w_(w) {
    w_.arm(timeout_s, what);
  }
  ~WatchdogScope() { w_.disarm(); }

 private:
  Watchdog& w_;
};

}  // namespace wideep
