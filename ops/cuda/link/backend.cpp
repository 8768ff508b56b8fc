// cuda/link/backend.cpp — makes the CUDA backend loadable by name: registers
// "cuda" with core's device registry, so ft::load_backend("cuda") (the placer,
// ft::device("cuda")) calls ft::cuda::register_kernels() on first use.
//
// Not part of any library: compiled into the programs that take a device by
// name (CMakeLists.txt: FT_CUDA_LINK_SRC, for train and placement_test) in a
// build with the CUDA backend. Without it "cuda" is reported as not built.
// Referencing the backend makes a program load the CUDA libraries at startup,
// which is why other programs leave it out. Only this static registrar runs at
// load time; it touches nothing but the registry.
#include "core/device.h"
#include "ops/cuda/cuda.h"

namespace {

const bool registered = [] {
  ft::register_backend("cuda", [] { ft::cuda::register_kernels(); });
  return true;
}();

}  // namespace
