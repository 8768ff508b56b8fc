// runtime.h — internal to ops/cuda: error checks for CUDA runtime and cuBLAS
// calls, the per-device context (streams, cuBLAS handle, device error word) and
// the registration functions of the kernel families. Includes CUDA headers, so
// only ops/cuda sources include it.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <string>

#include "ops/cuda/device.h"

#define FT_CUDA_CHECK(expr)                                                              \
  do {                                                                                   \
    cudaError_t ft_err_ = (expr);                                                        \
    if (ft_err_ != cudaSuccess) ::ft::cuda::throw_cuda(ft_err_, #expr, __FILE__, __LINE__); \
  } while (0)

#define FT_CUBLAS_CHECK(expr)                                                               \
  do {                                                                                      \
    cublasStatus_t ft_st_ = (expr);                                                         \
    if (ft_st_ != CUBLAS_STATUS_SUCCESS) ::ft::cuda::throw_cublas(ft_st_, #expr, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: reports launch errors (bad configuration, no device).
#define FT_CUDA_LAUNCHED() FT_CUDA_CHECK(cudaGetLastError())

namespace ft {
namespace cuda {

[[noreturn]] void throw_cuda(cudaError_t err, const char* what, const char* file, int line);
[[noreturn]] void throw_cublas(cublasStatus_t st, const char* what, const char* file, int line);

// Bits kernels set (atomicOr) in the device error word; synchronize() turns them
// into an ft::Error and clears the word.
enum DeviceErrorBits : unsigned {
  kGatherIndexOutOfRange = 1u,
  kGatherGradIndexOutOfRange = 2u,
  kLabelOutOfRange = 4u,
};
unsigned* device_error_word();  // of the current device

cublasHandle_t cublas();        // of the current device, bound to compute_stream()

// Kernel families (one per .cu / .cpp file), called by register_kernels().
void register_math_cuda();
void register_matmul_cuda();
void register_reduce_cuda();
void register_shape_cuda();
void register_nn_cuda();
void register_conv_cuda();
void register_update_cuda();  // optim/device_update.h for "cuda" (update.cpp)
// The "cuda" ft::Device factory in core's device registry (executor_device.cpp).
void register_device();

// Row-major GEMM on the compute stream: C (m, n) = op(A) (m, k) x op(B) (k, n) + beta*C
// for `batch` matrices at the given element strides (0 = shared), dtype F32 (TF32
// when allowed), F64, F16 or BF16 (fp32 accumulation).
void gemm(DType dt, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const void* a, int64_t lda,
          const void* b, int64_t ldb, void* c, int64_t ldc, double beta = 0.0, int64_t batch = 1,
          int64_t stride_a = 0, int64_t stride_b = 0, int64_t stride_c = 0);

}  // namespace cuda
}  // namespace ft
