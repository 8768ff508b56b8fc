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
// Programs get it called through ft::load_backend("cuda") (the module,
// ops/cuda/link/module.cpp, or a linked-in backend, ops/cuda/link/backend.cpp);
// others call it before using "cuda".
void register_kernels();
// register_kernels() plus, with NCCL, the device communicator provider
// (comm/device_comm.h): what loading the backend runs (ops/cuda/link/init.cpp).
void init_backend();

}  // namespace cuda
}  // namespace ft
