// The device LayerRunner (NCCL backend, CUDA kernels, cuBLAS experts): the
// phases of MoeRunner with the same LayerStats, every buffer allocated once at
// the worst case (kernels/device_layout.h DevicePlan), phases timed with CUDA
// events and marked with NVTX ranges named after the phases. Routing comes from
// Workload::route on the host (as MoeRunner), counts go down to the host's
// TokenRouter and its pair arrays back up. run_layer() is collective.
// This header needs no CUDA header; without CUDA the factory throws.
#pragma once

#include <memory>
#include <vector>

#include "balance/placement.h"
#include "comm/communicator.h"
#include "kernels/device_layout.h"
#include "runtime/config.h"
#include "runtime/inject.h"
#include "runtime/layer_runner.h"
#include "runtime/workload.h"

namespace wideep {

// The activation dtype of a device run: --dtype fp32|bf16 where given; with
// --dtype auto, WIDEEP_DEVICE_DTYPE=fp32|bf16 where set, else fp32 under
// --check (the check's 1e-4 relative limit is an fp32 limit) and bf16 otherwise.
DType device_dtype(const RunConfig& cfg);

// `comm` must be the NCCL communicator (comm/device_communicator.h).
std::unique_ptr<LayerRunner> make_device_runner(const RunConfig& cfg, Communicator& comm,
                                                std::shared_ptr<const Workload> workload,
                                                std::vector<Fault> faults,
                                                std::vector<Placement> initial);

}  // namespace wideep
