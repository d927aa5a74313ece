// Device discovery through the CUDA runtime, when built with CUDA.
#include "kernels/gpu_info.h"

#include <cstdlib>

#ifdef WIDEEP_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace wideep {

int visible_gpu_count() {
#ifdef WIDEEP_HAVE_CUDA
  int n = 0;
  // No driver or no device is an answer here (0), not an error.
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return n;
#else
  return 0;
#endif
}

std::string gpu_pci_bus_id(int device) {
#ifdef WIDEEP_HAVE_CUDA
  char id[32] = {0};
  // Unknown is an answer (the binding is then left to the launcher), not an error.
  if (cudaDeviceGetPCIBusId(id, sizeof id, device) != cudaSuccess) {
    (void)cudaGetLastError();
    return "";
  }
  return id;
#else
  (void)device;
  return "";
#endif
}

long long gpu_free_bytes(int device) {
#ifdef WIDEEP_HAVE_CUDA
  size_t free_b = 0, total_b = 0;
  int before = 0;
  // Unknown is an answer (the check is then skipped), not an error.
  if (cudaGetDevice(&before) != cudaSuccess || cudaSetDevice(device) != cudaSuccess ||
      cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
    (void)cudaGetLastError();
    return -1;
  }
  (void)cudaSetDevice(before);
  return static_cast<long long>(free_b);
#else
  (void)device;
  return -1;
#endif
}

int local_device_guess(int gpus) {
  for (const char* v : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"})
    if (const char* s = std::getenv(v)) return std::atoi(s) % (gpus > 0 ? gpus : 1);
  return 0;
}

bool built_with_cuda() {
#ifdef WIDEEP_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

}  // namespace wideep
