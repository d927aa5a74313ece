// Device discovery through the CUDA runtime, when built with CUDA.
#include "kernels/gpu_info.h"

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

bool built_with_cuda() {
#ifdef WIDEEP_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

}  // namespace wideep
