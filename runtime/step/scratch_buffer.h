// A scratch buffer that is kept and only grows: allocated at its first use,
// reallocated only when a later use needs more bytes, freed once at
// destruction. For timing harnesses that would otherwise allocate (and fault
// in) device or host memory at every use (EPLB's --baseline exchange).
// Not thread-safe; the contents do not survive a reallocation.
#pragma once

#include <cstdint>
#include <functional>
#include <utility>

#include "comm/communicator.h"

namespace wideep {

class ScratchBuffer {
 public:
  using Alloc = std::function<void*(int64_t bytes)>;
  using Free = std::function<void(void*)>;
  ScratchBuffer(Alloc alloc, Free free) : alloc_(std::move(alloc)), free_(std::move(free)) {}
  // Memory of the communicator's kind (Communicator::alloc_bytes: zeroed);
  // `comm` outlives the buffer.
  explicit ScratchBuffer(Communicator& comm)
      : ScratchBuffer([&comm](int64_t n) { return comm.alloc_bytes(n); }, [&comm](void* p) { comm.free_bytes(p); }) {}
  ~ScratchBuffer() {
    if (p_) free_(p_);
  }
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;

  // At least `bytes` bytes.
  void* reserve(int64_t bytes) {
    if (p_ != nullptr && bytes <= bytes_) return p_;
    if (p_) free_(p_);
    p_ = nullptr;  // a failed allocation leaves nothing to free twice
    p_ = alloc_(bytes);
    bytes_ = bytes;
    return p_;
  }
  int64_t bytes() const { return bytes_; }

 private:
  Alloc alloc_;
  Free free_;
  void* p_ = nullptr;
  int64_t bytes_ = 0;
};

}  // namespace wideep
