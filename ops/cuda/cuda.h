// cuda.h — the umbrella header of the CUDA backend: devices and memory
// (device.h), fused optimizer and mixed-precision functions (optim.h), and the
// explicit registration of the CUDA kernels in the OpRegistry.
#pragma once

#include "ops/cuda/device.h"
#include "ops/cuda/optim.h"

namespace ft {
namespace cuda {

// Registers every op definition (ops::register_all()) and the CUDA kernels for
// device "cuda" (f32, f64, and f16/bf16 where the family supports them).
// Idempotent and thread-safe; needs no GPU (registration only records functions).
void register_kernels();

}  // namespace cuda
}  // namespace ft
