// A Communicator whose payload lives in GPU memory (the NCCL backend): it owns
// the device this rank uses and the one CUDA stream on which every one of its
// operations, and the device runner's kernels, are enqueued, so that kernels
// and communication are ordered without extra events. No CUDA header here: the
// stream is a void* holding a cudaStream_t.
//
// Memory: exchange takes device memory; alltoallv_bytes and
// raw_alltoallv_bytes take device memory, or host memory staged through device
// scratch (correct but slower: the copies are inside the call); the small
// collectives (alltoall_int64, allgather_int64, allreduce_*, barrier) take host
// or device memory (host memory is staged through pinned buffers).
#pragma once

#include "comm/communicator.h"

namespace wideep {

class DeviceCommunicator : public Communicator {
 public:
  virtual void* stream() const = 0;
  virtual int device() const = 0;
  // This process's rank among the ranks of its node (device = local_rank % GPUs).
  virtual int local_rank() const = 0;
};

}  // namespace wideep
