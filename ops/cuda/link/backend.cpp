// cuda/link/backend.cpp — for programs that link the CUDA backend in (the CUDA
// tests and benchmarks, CMakeLists.txt: FT_CUDA_LINK_SRC): registers "cuda" with
// core's device registry, so ft::load_backend("cuda") runs the backend's
// initialization (init.cpp) in-process instead of loading the module. Only this
// static registrar runs at load time; it touches nothing but the registry.
#include "core/device.h"
#include "ops/cuda/cuda.h"

namespace {

const bool registered = [] {
  ft::register_backend("cuda", [] { ft::cuda::init_backend(); });
  return true;
}();

}  // namespace
