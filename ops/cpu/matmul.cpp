// cpu/matmul.cpp — GEMM through OpenBLAS's cblas, single-threaded inside BLAS and
// split across flowtrain's own pool (row blocks of C, or batch entries).
#include <cblas.h>

#include "ops/op_util.h"

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
  const Tensor &A = ctx.in(0), &B = ctx.in(1);
  Tensor& C = ctx.out(0);
  const bool ta = ctx.attrs().b("transpose_a", false), tb = ctx.attrs().b("transpose_b", false);
  const int64_t ar = A.rank();
  const int64_t m = C.dim(-2), n = C.dim(-1);
  const int64_t k = ta ? A.dim(-2) : A.dim(-1);
  const int64_t lda = A.dim(-1), ldb = B.dim(-1);
  const T* a = A.data<T>();
  const T* b = B.data<T>();
  T* c = C.data<T>();
  if (k == 0) {
    std::fill(c, c + C.numel(), T(0));
    return;
  }
  if (B.rank() == 2) {
    // Plain or (.., M, K) x (K, N): one GEMM of (rows, K) x (K, N), split by rows.
    int64_t rows = ta ? m : C.numel() / n;
    if (ar > 2 && !ta) rows = A.numel() / A.dim(-1);
    const int64_t min_rows = std::max<int64_t>(16, (1 << 18) / std::max<int64_t>(1, n * k / 64));
    ctx.pool->parallel_for(rows, min_rows, [&](int64_t r0, int64_t r1) {
      const T* ab = ta ? a + r0 : a + r0 * lda;
      gemm(ta, tb, r1 - r0, n, k, ab, lda, b, ldb, c + r0 * n, n);
    });
    return;
  }
  const int64_t batch = C.numel() / (m * n);
  const int64_t sa = A.dim(-1) * A.dim(-2), sb = B.dim(-1) * B.dim(-2);
  ctx.pool->parallel_for(batch, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t i = b0; i < b1; ++i) gemm(ta, tb, m, n, k, a + i * sa, lda, b + i * sb, ldb, c + i * m * n, n);
  });
}

}  // namespace

void register_matmul_cpu() {
  openblas_set_num_threads(1);
  cpu_float_kernel("matmul", [](KernelCtx& c, auto t) { matmul_kernel<decltype(t)>(c); });
}

}  // namespace ops
}  // namespace ft
