// Factories of the device kernel backend and the device expert store, behind
// no CUDA header: defined in kernels/cuda_kernels.cc with CUDA; without it
// they throw UsageError (the build has no device path).
#pragma once

#include <memory>

#include "kernels/expert_store.h"
#include "kernels/kernel_backend.h"

namespace wideep {

// The CUDA backend on `stream` (a cudaStream_t, the device communicator's):
// the same phases as HostKernels, launched on the stream, GEMMs via cuBLAS.
// own_stream (two-batch overlap): the kernels run on a stream of their own,
// ordered with `stream` (the communicator's) around each exchange.
std::unique_ptr<KernelBackend> make_cuda_kernels(const KernelShape& shape, void* stream, bool own_stream = false);

// A hierarchical forwarder (shape.forwarder) on the streams of `stage1` (a
// CUDA backend): its tokens are stage1's received rows, in order with it.
std::unique_ptr<KernelBackend> make_cuda_forwarder(const KernelShape& shape, KernelBackend& stage1);

// Expert weights in device memory, generated and mirrored on `stream`.
std::unique_ptr<ExpertStore> make_device_expert_store(int layers, int slots_per_rank, int shared, int hidden,
                                                      int ffn, uint64_t seed, DType compute, void* stream,
                                                      double timeout_s);

}  // namespace wideep
