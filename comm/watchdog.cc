// Watchdog thread and the SIGTERM report. The description of the current wait
// lives in static double buffers so that the signal handler can print it
// without locks or allocation (async-signal-safe: write(2) only).
#include "comm/watchdog.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/check.h"
#include "common/exit_status.h"

namespace wideep {
namespace {

// The watchdog wakes this often to compare the clock with the deadline, so
// that arm() needs no notify: a fire comes at most this late.
constexpr double kTickS = 0.05;

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Two buffers: the writer fills the one not published, then publishes it.
constexpr size_t kWhatBytes = 768;
char g_what[2][kWhatBytes];
std::atomic<int> g_what_index{0};
std::atomic<const Watchdog*> g_signal_watchdog{nullptr};
char g_prefix[64];  // "wideep: rank N: ", formatted when the handler is installed
struct sigaction g_old_term;

void publish(const std::string& what) {
  const int next = 1 - g_what_index.load(std::memory_order_relaxed);
  const size_t n = std::min(what.size(), kWhatBytes - 1);
  std::memcpy(g_what[next], what.data(), n);
  g_what[next][n] = 0;
  g_what_index.store(next, std::memory_order_release);
}

void write_str(const char* s) {
  size_t n = std::strlen(s);
  while (n > 0) {
    const ssize_t w = write(STDERR_FILENO, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<size_t>(w);
  }
}

// The launcher (mpirun) sends SIGTERM to every rank when one rank died or
// aborted: say where this rank was, then die of the signal as before.
void on_term(int sig) {
  const Watchdog* w = g_signal_watchdog.load();
  const char* what = g_what[g_what_index.load(std::memory_order_acquire)];
  write_str(g_prefix);
  if (w && w->armed()) {
    write_str("terminated by signal SIGTERM while waiting: ");
    write_str(what);
  } else {
    write_str("terminated by signal SIGTERM outside a wait; last wait: ");
    write_str(what[0] ? what : "none");
  }
  write_str("\n");
  sigaction(sig, &g_old_term, nullptr);
  raise(sig);
}

void install_term_report(const Watchdog* w) {
  std::snprintf(g_prefix, sizeof g_prefix, "wideep: rank %d: ", error_rank());
  g_signal_watchdog.store(w);
  struct sigaction sa {};
  sa.sa_handler = on_term;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, &g_old_term);
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
  const Watchdog* self = this;
  g_signal_watchdog.compare_exchange_strong(self, nullptr);
}

void Watchdog::arm(double timeout_s, const std::string& what) {
  publish(what);
  deadline_s_.store(now_s() + timeout_s, std::memory_order_relaxed);
  armed_.store(true, std::memory_order_release);
}

void Watchdog::describe(const std::string& what) { publish(what); }

void Watchdog::disarm() { armed_.store(false, std::memory_order_release); }

void Watchdog::loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::duration<double>(kTickS));
    if (stop_ || !armed_.load(std::memory_order_acquire)) continue;
    if (now_s() <= deadline_s_.load(std::memory_order_relaxed)) continue;
    std::fprintf(stderr, "wideep: rank %d: timeout (watchdog): %s\n", error_rank(),
                 g_what[g_what_index.load(std::memory_order_acquire)]);
    std::fflush(stderr);
    std::_Exit(kExitTimeout);
  }
}

Watchdog& rank_watchdog() {
  static Watchdog* w = [] {
    auto* p = new Watchdog();  // never destroyed: it must outlive every wait, even at exit
    install_term_report(p);
    return p;
  }();
  return *w;
}

}  // namespace wideep
