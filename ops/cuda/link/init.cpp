// cuda/link/init.cpp — everything the CUDA backend registers when it loads: the
// CUDA kernels and device (ops/cuda/register.cpp) and, with NCCL, the device
// communicator provider (comm/nccl/). Part of the backend's objects, so the
// module (module.cpp) and a program that links the backend in (backend.cpp)
// run the same initialization.
#include "ops/cuda/cuda.h"
#ifdef FT_HAVE_NCCL
#include "comm/nccl/nccl_communicator.h"
#endif

namespace ft {
namespace cuda {

void init_backend() {
  register_kernels();
#ifdef FT_HAVE_NCCL
  comm::register_nccl_provider();
#endif
}

}  // namespace cuda
}  // namespace ft
