// The real NCCL and CUDA tables of comm/nccl_api.h: adapters that translate
// wideep's types into NCCL's and CUDA's and call them. CUDA builds only.
#ifdef WIDEEP_HAVE_NCCL
#include "comm/nccl_api.h"

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <string>

namespace wideep {
namespace nccl {
namespace {

constexpr bool same(Result a, ncclResult_t b) { return static_cast<int>(a) == static_cast<int>(b); }
static_assert(same(kSuccess, ncclSuccess) && same(kUnhandledCudaError, ncclUnhandledCudaError) &&
                  same(kSystemError, ncclSystemError) && same(kInternalError, ncclInternalError) &&
                  same(kInvalidArgument, ncclInvalidArgument) && same(kInvalidUsage, ncclInvalidUsage) &&
                  same(kRemoteError, ncclRemoteError) && same(kInProgress, ncclInProgress),
              "comm/nccl_api.h's Result must match nccl.h");
static_assert(kCudaSuccess == cudaSuccess && kCudaNotReady == cudaErrorNotReady,
              "comm/nccl_api.h's CUDA codes must match the CUDA runtime");

ncclDataType_t nccl_type(DataType t) {
  switch (t) {
    case DataType::kUint8: return ncclUint8;
    case DataType::kInt32: return ncclInt32;
    case DataType::kInt64: return ncclInt64;
    case DataType::kFloat64: return ncclFloat64;
  }
  return ncclUint8;
}
ncclRedOp_t nccl_op(RedOp op) { return op == RedOp::kMax ? ncclMax : ncclSum; }
ncclComm_t comm_of(Comm c) { return static_cast<ncclComm_t>(c); }
cudaStream_t stream_of(Stream s) { return static_cast<cudaStream_t>(s); }

int group_start() { return ncclGroupStart(); }
int group_end() { return ncclGroupEnd(); }
int send(const void* buf, size_t count, DataType type, int peer, Comm comm, Stream stream) {
  return ncclSend(buf, count, nccl_type(type), peer, comm_of(comm), stream_of(stream));
}
int recv(void* buf, size_t count, DataType type, int peer, Comm comm, Stream stream) {
  return ncclRecv(buf, count, nccl_type(type), peer, comm_of(comm), stream_of(stream));
}
int all_gather(const void* s, void* r, size_t count, DataType type, Comm comm, Stream stream) {
  return ncclAllGather(s, r, count, nccl_type(type), comm_of(comm), stream_of(stream));
}
int all_reduce(const void* s, void* r, size_t count, DataType type, RedOp op, Comm comm, Stream stream) {
  return ncclAllReduce(s, r, count, nccl_type(type), nccl_op(op), comm_of(comm), stream_of(stream));
}
int comm_get_async_error(Comm comm, int* state) {
  ncclResult_t st = ncclSuccess;
  const ncclResult_t r = ncclCommGetAsyncError(comm_of(comm), &st);
  *state = st;
  return r;
}
int comm_abort(Comm comm) { return ncclCommAbort(comm_of(comm)); }
const char* nccl_error_string(int r) { return ncclGetErrorString(static_cast<ncclResult_t>(r)); }

int malloc_device(void** p, size_t bytes) { return cudaMalloc(p, bytes); }
int free_device(void* p) { return cudaFree(p); }
int malloc_pinned(void** p, size_t bytes) { return cudaMallocHost(p, bytes); }
int free_pinned(void* p) { return cudaFreeHost(p); }
int memcpy_async(void* dst, const void* src, size_t bytes, CopyKind kind, Stream stream) {
  const cudaMemcpyKind k = kind == CopyKind::kHostToDevice   ? cudaMemcpyHostToDevice
                           : kind == CopyKind::kDeviceToHost ? cudaMemcpyDeviceToHost
                           : kind == CopyKind::kDeviceToDevice ? cudaMemcpyDeviceToDevice
                                                               : cudaMemcpyDefault;
  return cudaMemcpyAsync(dst, src, bytes, k, stream_of(stream));
}
int memset_async(void* dst, int value, size_t bytes, Stream stream) {
  return cudaMemsetAsync(dst, value, bytes, stream_of(stream));
}
int event_record(Event e, Stream stream) { return cudaEventRecord(static_cast<cudaEvent_t>(e), stream_of(stream)); }
int event_query(Event e) { return cudaEventQuery(static_cast<cudaEvent_t>(e)); }
bool is_device_memory(const void* p) {
  cudaPointerAttributes a{};
  if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
    (void)cudaGetLastError();  // an unknown host pointer on old drivers
    return false;
  }
  return a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged;
}
const char* cuda_error_string(int code) {
  // Name and text are static strings of the runtime; the pair lives until this thread's next call.
  thread_local std::string s;
  const cudaError_t e = static_cast<cudaError_t>(code);
  s = std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
  return s.c_str();
}

}  // namespace

const NcclApi& real_nccl_api() {
  static const NcclApi api{group_start, group_end, send, recv, all_gather, all_reduce,
                           comm_get_async_error, comm_abort, nccl_error_string};
  return api;
}

const CudaApi& real_cuda_api() {
  static const CudaApi api{malloc_device, free_device, malloc_pinned, free_pinned, memcpy_async,
                           memset_async, event_record, event_query, is_device_memory, cuda_error_string};
  return api;
}

}  // namespace nccl
}  // namespace wideep
#endif  // WIDEEP_HAVE_NCCL
