// cuda/link/module.cpp — the entry point of the CUDA backend module,
// libflowtrain_cuda.so. core's load_backend("cuda") opens the module (dlopen)
// when a device asks for cuda and calls flowtrain_backend_init() once. The
// module leaves flowtrain's own symbols (registries, Tensor, the communicators)
// to the program that loads it, which exports them (CMake: ft_backend_host), so
// both see one registry. Only then are cudart, cuBLAS and NCCL loaded.
#include "ops/cuda/cuda.h"

extern "C" __attribute__((visibility("default"))) void flowtrain_backend_init() { ft::cuda::init_backend(); }
