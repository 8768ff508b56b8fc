// mpi_test_main.h — the main() of the multi-rank gtest programs (tests/mpi, tests/mp).
#pragma once

#include "comm/communicator.h"

namespace ft {
namespace testutil {

// Initializes gtest and the comm layer (into `world`, which the tests read),
// runs every test on every rank and returns one exit code for all ranks (the
// worst). Ranks other than 0 print their failures prefixed "[rank r]" instead
// of the full gtest report. Below 2 ranks it prints that `program` needs
// mpirun and returns 0. `world` is released and comm::finalize() called
// before it returns.
int mpi_test_main(int argc, char** argv, const char* program, comm::CommPtr& world);

}  // namespace testutil
}  // namespace ft
