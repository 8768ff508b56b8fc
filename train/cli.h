// cli.h — the command line of `train`, for any program on the library:
//
//   PROGRAM --config C.yaml [--set key=value]... [--resume [DIR]] [--reset-optimizer]
//           [--print-config] [--help-config]
//
// A user's program registers its models and datasets (train/registry.h), then
// returns ft::train::main(argc, argv, "name"). It runs in one process, or on
// every rank under mpirun. Errors print one line "<program>: rank R: <error>",
// end every rank (MPI_Abort) and return non-zero; command-line errors return 2.
#pragma once

#include <string>

namespace ft {
namespace train {

int main(int argc, char** argv, const std::string& program = "train");

}  // namespace train
}  // namespace ft
