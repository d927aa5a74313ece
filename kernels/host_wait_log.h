// The host's waits for the device, by what waited: every poll of
// kernels/device_buffer.cc (stream and event waits) records its name and time
// here, so that `wideep run` can list the waits a layer still has and what
// they cost (summary field host_waits; the roofline's host time per layer).
// Pure C++ (no CUDA): empty on the host backend. Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace wideep {

struct HostWait {
  std::string what;  // the wait's name, as the caller passed it
  int64_t count = 0;
  int64_t ns = 0;    // wall time spent waiting, summed
};

void record_host_wait(const std::string& what, int64_t ns);
std::vector<HostWait> host_waits();  // in the order first seen
void reset_host_waits();

}  // namespace wideep
