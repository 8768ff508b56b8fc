// cpu/gemm_split.h — how a matmul node's GEMM is split over flowtrain's pool,
// shared by the OpenBLAS (f32/f64) and oneDNN (bf16) kernels: row blocks of C
// when B is a matrix (plain, or (.., M, K) x (K, N) as one GEMM), batch
// entries otherwise.
#pragma once

#include <algorithm>

#include "ops/cpu/kernel_choice.h"
#include "ops/matmul_dims.h"
#include "ops/op_util.h"

namespace ft {
namespace ops {

// T: the element storage type (TA, TB, TC for operands and result when they
// differ). gemm(ta, tb, m, n, k, a, lda, b, ldb, c) computes one block, row-major,
// C with leading dimension n.
template <class T, class TB = T, class TC = T, class Gemm>
void split_matmul(KernelCtx& ctx, Gemm&& gemm) {
  const Tensor &A = ctx.in(0), &B = ctx.in(1);
  Tensor& C = ctx.out(0);
  const MatmulDims d = matmul_dims(ctx);
  const bool ta = d.ta, tb = d.tb;
  const int64_t m = d.m, n = d.n, k = d.k, lda = d.lda, ldb = d.ldb;
  const T* a = static_cast<const T*>(A.raw());
  const TB* b = static_cast<const TB*>(B.raw());
  TC* c = static_cast<TC*>(C.raw());
  if (k == 0) {
    std::fill(c, c + C.numel(), TC(0));  // all-zero bits: +0.0 in every float format
    return;
  }
  if (B.rank() == 2) {
    const int64_t rows = d.rows;
    // A block of at least 2^21 multiply-adds (about 20-40 us on one core): a
    // 256 x 256 x 256 GEMM splits in two, where the wake-up of a pool thread
    // (a few us) is small beside the work it takes over.
    const int64_t min_rows = thread_count_invariant()
                                 ? rows
                                 : std::max<int64_t>(16, (int64_t(1) << 21) / std::max<int64_t>(1, n * k));
    ctx.pool->parallel_for(rows, min_rows, [&](int64_t r0, int64_t r1) {
      gemm(ta, tb, r1 - r0, n, k, ta ? a + r0 : a + r0 * lda, lda, b, ldb, c + r0 * n);
    });
    return;
  }
  const int64_t batch = C.numel() / (m * n);
  const int64_t sa = A.dim(-1) * A.dim(-2), sb = B.dim(-1) * B.dim(-2);
  ctx.pool->parallel_for(batch, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t i = b0; i < b1; ++i) gemm(ta, tb, m, n, k, a + i * sa, lda, b + i * sb, ldb, c + i * m * n);
  });
}

}  // namespace ops
}  // namespace ft
