// cuda/link/backend.cpp — makes the CUDA backend loadable by name: registers
// "cuda" with core's device registry, so ft::load_backend("cuda") (the placer,
// ft::device("cuda")) calls ft::cuda::register_kernels() on first use.
//
// Compiled into every program that links the flowtrain target in a build with
// the CUDA backend (CMakeLists.txt: INTERFACE_SOURCES); a build without it has
// no such file, so "cuda" is then reported as not built. Only this static
// registrar runs at load time; it touches nothing but the registry.
#include "core/device.h"
#include "ops/cuda/cuda.h"

namespace {

const bool registered = [] {
  ft::register_backend("cuda", [] { ft::cuda::register_kernels(); });
  return true;
}();

}  // namespace
