// Host memory for a kernel backend's exchange buffers (the dispatch receive
// rows, the combine's send rows), placed by whoever supplies it: private memory
// by default, or memory every rank of the node maps (the windows of
// --transport shm, comm/shm_transport.h), so that node peers write rows into
// it or read rows from it where they lie, with no copy through a bounce buffer.
#pragma once

#include <cstdint>
#include <memory>

namespace wideep {

class ExchangeBuffer {
 public:
  virtual ~ExchangeBuffer() = default;
  // Where the buffer lies now. A shared buffer moves only when it grows, and it
  // grows only inside an exchange of its node (comm/shm_transport.h); a caller
  // takes data() again after each exchange instead of keeping the pointer.
  virtual unsigned char* data() = 0;
  // The bytes usable now at data().
  virtual int64_t bytes() const = 0;
  // Asks for at least `bytes`, contents kept. Private memory grows at once; a
  // shared buffer at the start of the next exchange of its node (growing is a
  // node-collective call), before any row is written into it.
  virtual void reserve(int64_t bytes) = 0;
};

class ExchangeMemory {
 public:
  virtual ~ExchangeMemory() = default;
  // A buffer of `bytes`. Where it is shared, a collective call of the node:
  // every rank allocates its buffers in the same order.
  virtual std::unique_ptr<ExchangeBuffer> allocate(int64_t bytes) = 0;
  // References to bytes in this rank's shared buffers, which node peers map
  // (Communicator::start_alltoallv_rows_by_reference): reference() encodes
  // where `p` lies (false where it lies in none of them); resolve() is where
  // the reference that node peer `rank` wrote at `ref` points, mapped here.
  virtual bool reference(const void* p, int64_t* ref) const = 0;
  virtual const unsigned char* resolve(int rank, const unsigned char* ref) const = 0;
};

// Private memory (zeroed; grows at once), for backends without shared memory.
std::unique_ptr<ExchangeBuffer> private_exchange_buffer(int64_t bytes);

}  // namespace wideep
