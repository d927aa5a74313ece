// Backend factory.
#include "comm/backend.h"

#include "common/check.h"

namespace wideep {

#ifdef WIDEEP_HAVE_NCCL
std::unique_ptr<Communicator> make_nccl_communicator();  // comm/nccl_communicator.cc
#endif

bool nccl_backend_available() {
#ifdef WIDEEP_HAVE_NCCL
  return true;
#else
  return false;
#endif
}

std::unique_ptr<Communicator> make_communicator(const std::string& backend) {
  if (backend == "mpi") return make_mpi_communicator();
#ifdef WIDEEP_HAVE_NCCL
  if (backend == "nccl") return make_nccl_communicator();
#endif
  throw UsageError("--backend " + backend + ": not available in this build");
}

}  // namespace wideep
