// Whether this process sees a CUDA device (0 where wideep was built without
// CUDA or no driver/device is present). Never fails.
#pragma once

#include <string>

namespace wideep {
int visible_gpu_count();
bool built_with_cuda();
// The PCI bus id of CUDA device `device` ("0000:3b:00.0"), "" where unknown.
std::string gpu_pci_bus_id(int device);
// Free memory of CUDA device `device` in bytes (cudaMemGetInfo), -1 where unknown.
long long gpu_free_bytes(int device);
// The device this process will use among `gpus`: its node-local rank (from
// the launcher's environment, as the NCCL communicator picks it) modulo gpus.
int local_device_guess(int gpus);
}  // namespace wideep
