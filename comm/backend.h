// Choice of the Communicator backend by name: "mpi" (always) or "nccl" (when
// built with CUDA and NCCL). Collective over MPI_COMM_WORLD.
#pragma once

#include <memory>
#include <string>

#include "comm/communicator.h"

namespace wideep {

bool nccl_backend_available();
// The communicator has `timeout_s` (--timeout-s) before it is created: the
// NCCL backend's initialisation waits for every rank under that deadline.
// background_exchanges (--eplb-async): the NCCL backend also sets up a second
// NCCL communicator on a stream of its own for start_background().
std::unique_ptr<Communicator> make_communicator(const std::string& backend, double timeout_s,
                                                bool background_exchanges = false);

}  // namespace wideep
