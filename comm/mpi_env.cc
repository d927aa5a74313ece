// MPI init/finalize/abort and the MPI flavour of the check macros' failure path.
#include "comm/mpi_env.h"

#include <mpi.h>

#include <cstdlib>
#include <string>

#include "common/check.h"

namespace wideep {

namespace detail {
void mpi_fail(int code, const char* call, const char* file, int line) {
  char text[MPI_MAX_ERROR_STRING] = {0};
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) text[0] = 0;
  fail_call(ErrorCategory::kSystem, "MPI", code, text, call, file, line);
}
}  // namespace detail

MpiWorld mpi_init(int* argc, char*** argv) {
  int provided = 0;
  WIDEEP_MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
  // Errors come back as codes so that WIDEEP_MPI_CHECK can name the call.
  WIDEEP_MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  MpiWorld w;
  WIDEEP_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &w.rank));
  WIDEEP_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &w.size));
  set_error_rank(w.rank);
  return w;
}

void mpi_finalize() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) WIDEEP_MPI_CHECK(MPI_Finalize());
}

void mpi_abort(int status) {
  MPI_Abort(MPI_COMM_WORLD, status);
  std::_Exit(status);  // MPI_Abort does not return; this satisfies [[noreturn]]
}

}  // namespace wideep
