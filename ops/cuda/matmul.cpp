// cuda/matmul.cpp — matmul through cuBLAS (row-major operands mapped onto
// column-major GEMMs): cublasGemmEx for plain and (.., M, K) x (K, N) products,
// cublasGemmStridedBatchedEx for batched ones. fp32 uses TF32 tensor cores
// (CUBLAS_COMPUTE_32F_FAST_TF32) unless set_allow_tf32(false); f16/bf16
// accumulate in fp32; f64 in fp64.
#include <climits>
#include <mutex>

#include "ops/cuda/runtime.h"
#include "ops/matmul_dims.h"

namespace ft {
namespace cuda {

namespace {

std::mutex& blas_mutex() {  // a cuBLAS handle must not be used by two threads at once
  static std::mutex mu;
  return mu;
}

int as_int(int64_t v, const char* what) {
  if (v < 0 || v > INT_MAX) throw Error(std::string("cuda gemm: ") + what + " = " + std::to_string(v) + " exceeds int");
  return int(v);
}

}  // namespace

void gemm(DType dt, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const void* a, int64_t lda, const void* b,
          int64_t ldb, void* c, int64_t ldc, double beta, int64_t batch, int64_t stride_a, int64_t stride_b,
          int64_t stride_c) {
  if (m == 0 || n == 0 || batch == 0) return;
  cudaDataType_t type;
  cublasComputeType_t compute;
  switch (dt) {
    case DType::F32:
      type = CUDA_R_32F;
      compute = allow_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
      break;
    case DType::F64: type = CUDA_R_64F; compute = CUBLAS_COMPUTE_64F; break;
    case DType::F16: type = CUDA_R_16F; compute = CUBLAS_COMPUTE_32F; break;
    case DType::BF16: type = CUDA_R_16BF; compute = CUBLAS_COMPUTE_32F; break;
    default: throw Error(std::string("cuda gemm: unsupported dtype ") + dtype_name(dt));
  }
  const float alpha_f = 1.f, beta_f = float(beta);
  const double alpha_d = 1.0, beta_d = beta;
  const void* alpha = dt == DType::F64 ? static_cast<const void*>(&alpha_d) : static_cast<const void*>(&alpha_f);
  const void* bp = dt == DType::F64 ? static_cast<const void*>(&beta_d) : static_cast<const void*>(&beta_f);
  // Row-major C (m, n) = op(A) op(B)  <=>  column-major C^T (n, m) = op(B)^T op(A)^T.
  const cublasOperation_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int M = as_int(m, "m"), N = as_int(n, "n"), K = as_int(k, "k");
  const int LDA = as_int(lda, "lda"), LDB = as_int(ldb, "ldb"), LDC = as_int(ldc, "ldc");
  cublasHandle_t h = cublas();
  std::lock_guard<std::mutex> l(blas_mutex());
  if (batch == 1) {
    FT_CUBLAS_CHECK(cublasGemmEx(h, opb, opa, N, M, K, alpha, b, type, LDB, a, type, LDA, bp, c, type, LDC, compute,
                                 CUBLAS_GEMM_DEFAULT));
  } else {
    FT_CUBLAS_CHECK(cublasGemmStridedBatchedEx(h, opb, opa, N, M, K, alpha, b, type, LDB, stride_b, a, type, LDA,
                                               stride_a, bp, c, type, LDC, stride_c, as_int(batch, "batch"), compute,
                                               CUBLAS_GEMM_DEFAULT));
  }
}

namespace {

// (.., M, K) x (.., K, N) -> (.., M, N), as the CPU kernel: rank-2 B is one GEMM
// over all rows of A; equal-rank operands are a strided batch.
void matmul_kernel(KernelCtx& ctx) {
  const Tensor &A = ctx.in(0), &B = ctx.in(1);
  Tensor& C = ctx.out(0);
  if (ctx.attrs().has("half"))
    throw Error("matmul '" + ctx.node.name + "': attr half (rounding inside the kernel) has no cuda kernel; "
                "autocast puts casts around a cuda matmul instead");
  const ops::MatmulDims d = ops::matmul_dims(ctx);
  const bool ta = d.ta, tb = d.tb;
  const int64_t m = d.m, n = d.n, k = d.k, lda = d.lda, ldb = d.ldb;
  if (C.numel() == 0) return;
  if (k == 0) {
    memset_device(C.raw(), 0, C.bytes(), compute_stream());
    return;
  }
  if (B.rank() == 2) {
    gemm(A.dtype(), ta, tb, d.rows, n, k, A.raw(), lda, B.raw(), ldb, C.raw(), n);
    return;
  }
  const int64_t batch = C.numel() / (m * n);
  gemm(A.dtype(), ta, tb, m, n, k, A.raw(), lda, B.raw(), ldb, C.raw(), n, 0.0, batch, A.dim(-1) * A.dim(-2),
       B.dim(-1) * B.dim(-2), m * n);
}

}  // namespace

void register_matmul_cuda() {
  for (DType dt : {DType::F32, DType::F64, DType::F16, DType::BF16})
    OpRegistry::get().add_kernel("matmul", "cuda", dt, Kernel{matmul_kernel, {}});
}

}  // namespace cuda
}  // namespace ft
