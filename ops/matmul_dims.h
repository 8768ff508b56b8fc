// matmul_dims.h — a matmul node's GEMM shape, read alike by every device's kernel.
//
// C (.., m, n) = op(A) x op(B), k the inner dimension; lda and ldb are the
// operands' row lengths (row-major). When B is a matrix, the kernels run one GEMM
// over `rows` rows of A: all of A's leading dimensions folded when A is not
// transposed, else m. Otherwise equal-rank operands are a batch of
// (m, k) x (k, n) products.
#pragma once

#include <cstdint>

#include "core/op_registry.h"

namespace ft {
namespace ops {

struct MatmulDims {
  bool ta = false, tb = false;
  int64_t m = 0, n = 0, k = 0, lda = 0, ldb = 0, rows = 0;
};

inline MatmulDims matmul_dims(const KernelCtx& ctx) {
  const Tensor &A = ctx.in(0), &B = ctx.in(1);
  const Tensor& C = ctx.out(0);
  MatmulDims d;
  d.ta = ctx.attrs().b("transpose_a", false);
  d.tb = ctx.attrs().b("transpose_b", false);
  d.m = C.dim(-2);
  d.n = C.dim(-1);
  d.k = d.ta ? A.dim(-2) : A.dim(-1);
  d.lda = A.dim(-1);
  d.ldb = B.dim(-1);
  d.rows = (A.rank() > 2 && !d.ta) ? A.numel() / A.dim(-1) : d.m;
  return d;
}

}  // namespace ops
}  // namespace ft
