// cuda.h — the umbrella header of the CUDA backend: devices and memory
// (device.h), fused optimizer and mixed-precision functions (optim.h), and the
// explicit registration of the CUDA kernels in the OpRegistry.
#pragma once

#include "ops/cuda/device.h"
#include "ops/cuda/optim.h"

namespace ft {
namespace cuda {

// Registers every op definition (ops::register_all()), the CUDA kernels for
// device "cuda" (f32, f64, and f16/bf16 where the family supports them) and the
// "cuda" ft::Device factory (core/device.h) the executor places nodes on.
// Idempotent and thread-safe; needs no GPU (registration only records
// functions; ft::device("cuda") throws a one-line error when none is present).
// The train program gets it called through ft::load_backend("cuda")
// (ops/cuda/link/backend.cpp); other programs call it before using "cuda".
void register_kernels();

}  // namespace cuda
}  // namespace ft
