// Backend factory.
#include "comm/backend.h"

#include "common/check.h"

namespace wideep {

#ifdef WIDEEP_HAVE_NCCL
std::unique_ptr<Communicator> make_nccl_communicator(double timeout_s, bool background);  // nccl_communicator.cc
#endif

bool nccl_backend_available() {
#ifdef WIDEEP_HAVE_NCCL
  return true;
#else
  return false;
#endif
}

std::unique_ptr<Communicator> make_communicator(const std::string& backend, double timeout_s,
                                                bool background_exchanges) {
  std::unique_ptr<Communicator> c;
  if (backend == "mpi") c = make_mpi_communicator();
#ifdef WIDEEP_HAVE_NCCL
  if (backend == "nccl") c = make_nccl_communicator(timeout_s, background_exchanges);
#else
  (void)background_exchanges;
#endif
  if (c) {
    c->set_timeout_s(timeout_s);
    return c;
  }
  throw UsageError("--backend " + backend + ": not available in this build");
}

}  // namespace wideep
