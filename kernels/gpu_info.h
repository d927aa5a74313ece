// Whether this process sees a CUDA device (0 where wideep was built without
// CUDA or no driver/device is present). Never fails.
#pragma once

namespace wideep {
int visible_gpu_count();
bool built_with_cuda();
}  // namespace wideep
