// cpu/matmul.cpp — GEMM through OpenBLAS's cblas, single-threaded inside BLAS and
// split across flowtrain's own pool (row blocks of C, or batch entries); and the
// f32 matmul that computes in half precision (attr "half", set by autocast).
#include <cblas.h>

#include <algorithm>

#include "ops/cpu/dnnl_matmul.h"
#include "ops/cpu/gemm_split.h"
#include "ops/cpu/scratch.h"
#include "ops/precision.h"

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

// c (m, n) = act(c + bias), bias one value per column; Eigen arrays, as the add
// and relu kernels compute it (the same SIMD max, so the same bits).
template <class T>
void bias_act_rows(T* c, int64_t m, int64_t n, const T* bias, bool relu, int64_t ldc = -1) {
  using Row = Eigen::Array<T, Eigen::Dynamic, 1>;
  const Eigen::Map<const Row> b(bias, n);
  if (ldc < 0) ldc = n;
  for (int64_t i = 0; i < m; ++i) {
    Eigen::Map<Row> r(c + i * ldc, n);
    if (relu) r = (r + b).max(T(0));
    else r += b;
  }
}

// A matmul computed in `half` (f16 or bf16) with an f32 result: the operands rounded
// to half, the products summed in f32, the result rounded to half and stored as f32.
// These are the numbers of autocast's cast -> half matmul -> cast chain, bit for bit,
// without its three passes over memory and its half copies: each block of an f32 A
// is converted in cache by the thread that multiplies it, an f32 B once per call, and
// the result (with the bias and activation of matmul_bias_act) while the block is in
// cache. An operand may also come in `half` already (a gradient that two products
// read is cast once: ops/matmul.cpp); it is then read as it is. bf16 runs natively
// through oneDNN where the CPU has AVX512_BF16; otherwise (and for f16) the rounded
// operands go through the f32 GEMM.
template <class TA, class TB>
void matmul_half(KernelCtx& ctx, DType half, const float* bias, bool relu) {
  constexpr bool a_half = std::is_same_v<TA, uint16_t>, b_half = std::is_same_v<TB, uint16_t>;
  const Tensor& B = ctx.in(1);
  const bool native = half == DType::BF16 && native_bf16_matmul_available();
  const TB* b0 = static_cast<const TB*>(B.raw());
  const int64_t nb = B.numel();
  // B as the GEMM reads it: bf16 bits (native) or rounded f32, converted whole, as
  // every block reads all of it. The buffers outlive the parallel_for below, so they
  // come from a pool, not thread_local scratch.
  struct Lease {
    std::vector<uint16_t> b16;
    std::vector<float> b32;
    ~Lease() {
      if (!b16.empty()) BufferPool<uint16_t>::get().give(std::move(b16));
      if (!b32.empty()) BufferPool<float>::get().give(std::move(b32));
    }
  } lease;
  const uint16_t* bn = nullptr;  // native B
  const float* be = nullptr;     // emulated B
  if (native && b_half) {
    bn = reinterpret_cast<const uint16_t*>(b0);
  } else {
    if (native) lease.b16 = BufferPool<uint16_t>::get().take(size_t(std::max<int64_t>(nb, 1)));
    else lease.b32 = BufferPool<float>::get().take(size_t(std::max<int64_t>(nb, 1)));
    ctx.pool->parallel_for(nb, int64_t(1) << 15, [&](int64_t i0, int64_t i1) {
      if constexpr (b_half) precision::half_to_f32(b0 + i0, half, lease.b32.data() + i0, i1 - i0);
      else if (native) precision::f32_to_half(b0 + i0, half, lease.b16.data() + i0, i1 - i0);
      else precision::round_to_half(b0 + i0, half, lease.b32.data() + i0, i1 - i0);
    });
    bn = lease.b16.data();
    be = lease.b32.data();
  }
  split_matmul<TA, TB, float>(ctx, [&](bool ta, bool tb, int64_t m, int64_t n, int64_t k, const TA* a, int64_t lda,
                                       const TB* b, int64_t ldb, float* c) {
    const int64_t boff = b - b0;
    // Natively, sub-blocks: rows of the result, and for a wide result panels of
    // columns, so that the converted rows of A and the f32 result stay in cache
    // (about 512 KiB) while they are converted, multiplied, rounded and given their
    // bias. Only where the panel of B is small enough to stay in cache too: each
    // chunk of rows reads all of it. oneDNN's sums do not depend on the sub-block
    // (amp_test); OpenBLAS's can in the last bit, so the emulated path multiplies
    // the block whole.
    constexpr int64_t kCache = int64_t(1) << 19;
    const int64_t panel = native && n > 2048 ? 1024 : n;
    const int64_t a_row_bytes = a_half ? 0 : 2 * k;
    const bool chunk = native && 2 * k * panel <= kCache;
    const int64_t step = chunk ? std::min(std::max<int64_t>(kCache / (a_row_bytes + 4 * panel), 64), std::max<int64_t>(m, 1))
                               : std::max<int64_t>(m, 1);
    for (int64_t i0 = 0; i0 < m; i0 += step) {
      const int64_t mi = std::min(step, m - i0);
      const TA* ai = ta ? a + i0 : a + i0 * lda;  // the chunk of A as stored: mi rows of k, or (ta) k rows of mi
      const int64_t rows = ta ? k : mi, cols = ta ? mi : k;
      const uint16_t* an = nullptr;  // native A and its leading dimension
      const float* ae = nullptr;     // emulated A
      int64_t ld = cols;
      if (native) {
        if constexpr (a_half) {
          an = ai;
          ld = lda;
        } else {
          uint16_t* as = thread_scratch<uint16_t>(size_t(rows * cols));
          for (int64_t r = 0; r < rows; ++r) precision::f32_to_half(ai + r * lda, half, as + r * cols, cols);
          an = as;
        }
      } else {
        float* as = thread_scratch<float>(size_t(rows * cols));
        for (int64_t r = 0; r < rows; ++r) {
          if constexpr (a_half) precision::half_to_f32(ai + r * lda, half, as + r * cols, cols);
          else precision::round_to_half(ai + r * lda, half, as + r * cols, cols);
        }
        ae = as;
      }
      for (int64_t j0 = 0; j0 < n; j0 += panel) {
        const int64_t nj = std::min(panel, n - j0);
        const int64_t bo = boff + (tb ? j0 * ldb : j0);  // the panel's columns of B
        float* cij = c + i0 * n + j0;
        if (native) gemm_bf16_f32(ta, tb, mi, nj, k, an, ld, bn + bo, ldb, cij, n);
        else gemm(ta, tb, mi, nj, k, ae, ld, be + bo, ldb, cij, n);
        for (int64_t r = 0; r < mi; ++r) precision::round_to_half(cij + r * n, half, cij + r * n, nj);
        if (bias) bias_act_rows(cij, mi, nj, bias + j0, relu, n);
      }
    }
  });
  if (bias && matmul_dims(ctx).k == 0) {  // split_matmul only zeroed C
    Tensor& C = ctx.out(0);
    bias_act_rows(C.data<float>(), C.numel() / C.dim(-1), C.dim(-1), bias, relu);
  }
}

// The four operand combinations: f32 or already in half.
void matmul_half(KernelCtx& ctx, DType half, const float* bias, bool relu) {
  const bool ah = ctx.in(0).dtype() != DType::F32, bh = ctx.in(1).dtype() != DType::F32;
  if (ah && bh) matmul_half<uint16_t, uint16_t>(ctx, half, bias, relu);
  else if (ah) matmul_half<uint16_t, float>(ctx, half, bias, relu);
  else if (bh) matmul_half<float, uint16_t>(ctx, half, bias, relu);
  else matmul_half<float, float>(ctx, half, bias, relu);
}

// The attr "half" of a matmul on f32 tensors, or F32 when it computes in f32.
DType half_of(const KernelCtx& ctx) {
  return ctx.attrs().has("half") ? DType(ctx.attrs().i("half")) : DType::F32;
}

template <class T>
void matmul_kernel(KernelCtx& ctx) {
  if constexpr (std::is_same_v<T, float>) {
    if (const DType h = half_of(ctx); h != DType::F32) return matmul_half(ctx, h, nullptr, false);
  }
  split_matmul<T>(ctx, [](bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b,
                          int64_t ldb, T* c) { gemm(ta, tb, m, n, k, a, lda, b, ldb, c, n); });
}

// matmul_bias_act: each block's GEMM, then the bias and activation on that block
// while it is still in cache; the same arithmetic as matmul, add, relu.
template <class T>
void matmul_bias_act_kernel(KernelCtx& ctx) {
  const T* bias = ctx.in(2).data<T>();
  const bool relu = ctx.attrs().s("act") == "relu";
  if constexpr (std::is_same_v<T, float>) {
    if (const DType h = half_of(ctx); h != DType::F32) return matmul_half(ctx, h, bias, relu);
  }
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
