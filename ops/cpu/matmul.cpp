// cpu/matmul.cpp — GEMM through OpenBLAS's cblas, single-threaded inside BLAS and
// split across flowtrain's own pool (row blocks of C, or batch entries).
#include <cblas.h>

#include "ops/cpu/gemm_split.h"

namespace ft {
namespace ops {
namespace {

void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
          int64_t ldb, float* c, int64_t ldc, float beta = 0.f) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k),
              1.f, a, int(lda), b, int(ldb), beta, c, int(ldc));
}
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const double* a, int64_t lda, const double* b,
          int64_t ldb, double* c, int64_t ldc, double beta = 0.0) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k),
              1.0, a, int(lda), b, int(ldb), beta, c, int(ldc));
}

template <class T>
void matmul_kernel(KernelCtx& ctx) {
  split_matmul<T>(ctx, [](bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b,
                          int64_t ldb, T* c) { gemm(ta, tb, m, n, k, a, lda, b, ldb, c, n); });
}

// c (m, n) = act(c + bias), bias one value per column; Eigen arrays, as the add
// and relu kernels compute it (the same SIMD max, so the same bits).
template <class T>
void bias_act_rows(T* c, int64_t m, int64_t n, const T* bias, bool relu) {
  using Row = Eigen::Array<T, Eigen::Dynamic, 1>;
  const Eigen::Map<const Row> b(bias, n);
  for (int64_t i = 0; i < m; ++i) {
    Eigen::Map<Row> r(c + i * n, n);
    if (relu) r = (r + b).max(T(0));
    else r += b;
  }
}

// matmul_bias_act: each block's GEMM, then the bias and activation on that block
// while it is still in cache; the same arithmetic as matmul, add, relu.
template <class T>
void matmul_bias_act_kernel(KernelCtx& ctx) {
  const T* bias = ctx.in(2).data<T>();
  const bool relu = ctx.attrs().s("act") == "relu";
  split_matmul<T>(ctx, [&](bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b,
                           int64_t ldb, T* c) {
    gemm(ta, tb, m, n, k, a, lda, b, ldb, c, n);
    bias_act_rows(c, m, n, bias, relu);
  });
  if (matmul_dims(ctx).k == 0) {  // split_matmul only zeroed C
    Tensor& C = ctx.out(0);
    bias_act_rows(C.data<T>(), C.numel() / C.dim(-1), C.dim(-1), bias, relu);
  }
}

}  // namespace

void register_matmul_cpu() {
  openblas_set_num_threads(1);
  cpu_float_kernel("matmul", [](KernelCtx& c, auto t) { matmul_kernel<decltype(t)>(c); });
  cpu_float_kernel("matmul_bias_act", [](KernelCtx& c, auto t) { matmul_bias_act_kernel<decltype(t)>(c); });
}

}  // namespace ops
}  // namespace ft
