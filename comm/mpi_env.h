// MPI process lifetime: init (thread level FUNNELED) and finalize, rank/size of
// the world. The only MPI calls outside a Communicator.
#pragma once

namespace wideep {

struct MpiWorld {
  int rank = 0;
  int size = 1;
};

MpiWorld mpi_init(int* argc, char*** argv);
void mpi_finalize();
// Ends every rank of the job with `status` (used after fatal errors).
[[noreturn]] void mpi_abort(int status);

}  // namespace wideep
