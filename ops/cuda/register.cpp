// cuda/register.cpp — the one place the CUDA kernels are registered for device
// "cuda". Explicit calls, no static initializers (a static library could drop them).
#include <mutex>

#include "ops/cuda/cuda.h"
#include "ops/cuda/runtime.h"
#include "ops/ops.h"

namespace ft {
namespace cuda {

void register_kernels() {
  static std::once_flag once;
  std::call_once(once, [] {
    ops::register_all();  // op definitions and CPU kernels first
    register_math_cuda();
    register_matmul_cuda();
    register_reduce_cuda();
    register_shape_cuda();
    register_nn_cuda();
    register_conv_cuda();
    register_update_cuda();
    register_device();  // opening it needs a GPU: ft::device("cuda") throws without one
  });
}

}  // namespace cuda
}  // namespace ft
