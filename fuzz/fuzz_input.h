// Shared helpers of the libFuzzer targets: the parsers under test read files,
// so each input is written to a per-process scratch file in /dev/shm (or /tmp)
// and the parser is called on its path; leading bytes pick the run's shape.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

namespace wideep::fuzz {

// Consumes leading bytes as small shape parameters (1..range).
class Bytes {
 public:
  Bytes(const uint8_t* data, size_t size) : p_(data), n_(size) {}
  int take(int range) {
    if (n_ == 0) return 1;
    --n_;
    return 1 + *p_++ % range;
  }
  const uint8_t* data() const { return p_; }
  size_t size() const { return n_; }

 private:
  const uint8_t* p_;
  size_t n_;
};

// Writes the bytes to this process's scratch file (one per target name) and
// returns its path; the file is rewritten on every input.
inline std::string write_scratch(const char* target, const uint8_t* data, size_t size) {
  static std::string path;
  if (path.empty()) {
    const char* dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    path = std::string(dir) + "/wideep_fuzz_" + target + "_" + std::to_string(getpid()) + ".json";
  }
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) __builtin_trap();  // the harness itself is broken, not the parser
  if (size > 0 && std::fwrite(data, 1, size, f) != size) __builtin_trap();
  std::fclose(f);
  return path;
}

}  // namespace wideep::fuzz
