// The NCCL and CUDA calls of the NCCL backend's operations, as two tables of
// function pointers with wideep's own types, so that comm/nccl_core.* (posting
// order, staging, waits, abort) compiles in every build and is unit-tested
// against fakes without a GPU, CUDA or NCCL. The real tables (comm/nccl_api.cc,
// CUDA builds only) are thin adapters that translate the types and call the libraries.
#pragma once

#include <cstddef>

namespace wideep {
namespace nccl {

// The NCCL results the core tells apart; nccl_api.cc static_asserts the values
// against nccl.h so that a fake can return them without that header.
enum Result : int {
  kSuccess = 0,
  kUnhandledCudaError = 1,
  kSystemError = 2,
  kInternalError = 3,
  kInvalidArgument = 4,
  kInvalidUsage = 5,
  kRemoteError = 6,
  kInProgress = 7,
};

enum class DataType { kUint8, kInt32, kInt64, kFloat64 };
enum class RedOp { kSum, kMax };
using Comm = void*;    // ncclComm_t
using Stream = void*;  // cudaStream_t
using Event = void*;   // cudaEvent_t

// The NCCL calls the operations make. Every function returns a Result.
struct NcclApi {
  int (*group_start)();
  int (*group_end)();
  int (*send)(const void* buf, size_t count, DataType type, int peer, Comm comm, Stream stream);
  int (*recv)(void* buf, size_t count, DataType type, int peer, Comm comm, Stream stream);
  int (*all_gather)(const void* send, void* recv, size_t count_per_rank, DataType type, Comm comm, Stream stream);
  int (*all_reduce)(const void* send, void* recv, size_t count, DataType type, RedOp op, Comm comm, Stream stream);
  // The communicator's state: kInProgress while NCCL is still enqueueing.
  int (*comm_get_async_error)(Comm comm, int* state);
  int (*comm_abort)(Comm comm);
  const char* (*error_string)(int result);
};

// CUDA's codes the core tells apart (static_assert'ed in nccl_api.cc).
constexpr int kCudaSuccess = 0;
constexpr int kCudaNotReady = 600;  // cudaErrorNotReady

enum class CopyKind { kHostToDevice, kDeviceToHost, kDeviceToDevice, kDefault };

// The CUDA runtime calls the operations make. Functions return a cudaError_t value.
struct CudaApi {
  int (*malloc_device)(void** p, size_t bytes);
  int (*free_device)(void* p);
  int (*malloc_pinned)(void** p, size_t bytes);
  int (*free_pinned)(void* p);
  int (*memcpy_async)(void* dst, const void* src, size_t bytes, CopyKind kind, Stream stream);
  int (*memset_async)(void* dst, int value, size_t bytes, Stream stream);
  int (*event_record)(Event event, Stream stream);
  int (*event_query)(Event event);  // kCudaSuccess done, kCudaNotReady pending
  bool (*is_device_memory)(const void* p);
  const char* (*error_string)(int code);  // "cudaErrorX: text"
};

// The libraries themselves (comm/nccl_api.cc; defined only where WIDEEP_HAVE_NCCL).
const NcclApi& real_nccl_api();
const CudaApi& real_cuda_api();

}  // namespace nccl
}  // namespace wideep
