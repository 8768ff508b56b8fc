// cpu/conv.cpp — conv2d as im2col + GEMM (cblas, single-threaded inside BLAS),
// the batch split over the pool; backward via GEMM + col2im; max/avg pooling.
//
// Per sample n, with K = C*KH*KW and P = OH*OW:
//   forward      y[n] (O, P)  = w (O, K) x col(x[n]) (K, P)
//   grad input   dx[n]        = col2im(w^T (K, O) x g[n] (O, P))
//   grad filter  dw (O, K)   += g[n] (O, P) x col(x[n])^T (P, K)
// Small images are grouped: m samples side by side make one GEMM of m*P columns.
// im2col scratch is thread_local and only grows, so steady-state steps allocate
// nothing; per-chunk filter-gradient partials come from a small free list.
#include <cblas.h>

#include <algorithm>
#include <limits>
#include <type_traits>

#include "ops/cpu/scratch.h"
#include "ops/op_util.h"

namespace ft {
namespace ops {
namespace {

void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
          int64_t ldb, float* c, int64_t ldc, float beta) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k),
              1.f, a, int(lda), b, int(ldb), beta, c, int(ldc));
}
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const double* a, int64_t lda, const double* b,
          int64_t ldb, double* c, int64_t ldc, double beta) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k),
              1.0, a, int(lda), b, int(ldb), beta, c, int(ldc));
}

struct ConvGeom {
  int64_t N, C, H, W, O, KH, KW, OH, OW, s, p;
  int64_t K() const { return C * KH * KW; }
  int64_t P() const { return OH * OW; }
  bool is_pointwise() const { return KH == 1 && KW == 1 && s == 1 && p == 0; }
};

ConvGeom geom(const Shape& x, const Shape& w, const Shape& y, const AttrMap& a) {
  return {x[0], x[1], x[2], x[3], w[0], w[2], w[3], y[2], y[3], a.i("stride"), a.i("padding")};
}

// Range of output columns ow with 0 <= ow*s - p + kw < W, as [lo, hi).
inline void valid_range(int64_t kw, const ConvGeom& g, int64_t extent, int64_t out, int64_t* lo, int64_t* hi) {
  int64_t first = g.p - kw;  // ow*s >= first
  *lo = first <= 0 ? 0 : (first + g.s - 1) / g.s;
  int64_t last = extent - 1 + g.p - kw;  // ow*s <= last
  *hi = last < 0 ? 0 : std::min(out, last / g.s + 1);
  *lo = std::min(*lo, out);
  if (*hi < *lo) *hi = *lo;
}

// Samples per GEMM: small images are grouped so one GEMM sees about kCols columns.
constexpr int64_t kCols = 512;
int64_t group_size(const ConvGeom& g) { return std::max<int64_t>(1, std::min<int64_t>(16, kCols / std::max<int64_t>(1, g.P()))); }

// x (C, H, W) -> col (C*KH*KW, OH*OW), rows `ld` apart.
template <class T>
void im2col(const T* x, const ConvGeom& g, T* col, int64_t ld) {
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t kh = 0; kh < g.KH; ++kh)
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        T* row = col + ((c * g.KH + kh) * g.KW + kw) * ld;
        int64_t lo, hi;
        valid_range(kw, g, g.W, g.OW, &lo, &hi);
        for (int64_t oh = 0; oh < g.OH; ++oh) {
          T* dst = row + oh * g.OW;
          const int64_t ih = oh * g.s - g.p + kh;
          if (ih < 0 || ih >= g.H) {
            std::fill(dst, dst + g.OW, T(0));
            continue;
          }
          const T* src = x + (c * g.H + ih) * g.W + (lo * g.s - g.p + kw);  // input of column lo
          // plain loops: rows are short (MNIST: 11..26), library calls would dominate
          for (int64_t ow = 0; ow < lo; ++ow) dst[ow] = T(0);
          if (g.s == 1) for (int64_t ow = lo; ow < hi; ++ow) dst[ow] = src[ow - lo];
          else for (int64_t ow = lo; ow < hi; ++ow) dst[ow] = src[(ow - lo) * g.s];
          for (int64_t ow = hi; ow < g.OW; ++ow) dst[ow] = T(0);
        }
      }
}

// col (C*KH*KW, OH*OW), rows `ld` apart -> x (C, H, W), accumulated; x must be zeroed first.
template <class T>
void col2im(const T* col, const ConvGeom& g, T* x, int64_t ld) {
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t kh = 0; kh < g.KH; ++kh)
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const T* row = col + ((c * g.KH + kh) * g.KW + kw) * ld;
        int64_t lo, hi;
        valid_range(kw, g, g.W, g.OW, &lo, &hi);
        for (int64_t oh = 0; oh < g.OH; ++oh) {
          const int64_t ih = oh * g.s - g.p + kh;
          if (ih < 0 || ih >= g.H) continue;
          const T* src = row + oh * g.OW;
          T* dst = x + (c * g.H + ih) * g.W + (lo * g.s - g.p + kw);  // input of column lo
          if (g.s == 1) for (int64_t ow = lo; ow < hi; ++ow) dst[ow - lo] += src[ow];
          else for (int64_t ow = lo; ow < hi; ++ow) dst[(ow - lo) * g.s] += src[ow];
        }
      }
}

// m samples of (rows, P) each, `stride` apart -> cat (rows, m*P), and back.
template <class T>
void gather_cols(const T* src, int64_t stride, int64_t m, int64_t rows, int64_t P, T* cat) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t r = 0; r < rows; ++r) std::copy(src + i * stride + r * P, src + i * stride + (r + 1) * P, cat + r * m * P + i * P);
}
template <class T>
void scatter_cols(const T* cat, int64_t m, int64_t rows, int64_t P, T* dst, int64_t stride) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t r = 0; r < rows; ++r) std::copy(cat + r * m * P + i * P, cat + r * m * P + (i + 1) * P, dst + i * stride + r * P);
}

// x (N, C, H, W), w (O, C, KH, KW) -> y (N, O, OH, OW). A group of m samples is
// one GEMM: y_cat (O, m*P) = w (O, K) x col_cat (K, m*P).
template <class T>
void conv_fwd(KernelCtx& ctx) {
  const Tensor &X = ctx.in(0), &Wt = ctx.in(1);
  Tensor& Y = ctx.out(0);
  const ConvGeom g = geom(X.shape(), Wt.shape(), Y.shape(), ctx.attrs());
  const T* x = X.data<T>();
  const T* w = Wt.data<T>();
  T* y = Y.data<T>();
  const int64_t xs = g.C * g.H * g.W, ys = g.O * g.P(), P = g.P(), K = g.K(), nb = group_size(g);
  if (K == 0) {
    std::fill(y, y + Y.numel(), T(0));
    return;
  }
  ctx.pool->parallel_for(g.N, nb, [&](int64_t n0, int64_t n1) {
    for (int64_t b = n0; b < n1; b += nb) {
      const int64_t m = std::min(nb, n1 - b), L = m * P;
      if (m == 1 && g.is_pointwise()) {
        gemm(false, false, g.O, P, K, w, K, x + b * xs, P, y + b * ys, P, T(0));
        continue;
      }
      T* col = thread_scratch<T>(size_t((K + g.O) * L));
      for (int64_t i = 0; i < m; ++i) im2col(x + (b + i) * xs, g, col + i * P, L);
      if (m == 1) {
        gemm(false, false, g.O, P, K, w, K, col, P, y + b * ys, P, T(0));
        continue;
      }
      T* ycat = col + K * L;
      gemm(false, false, g.O, L, K, w, K, col, L, ycat, L, T(0));
      scatter_cols(ycat, m, g.O, P, y + b * ys, ys);
    }
  });
}

// (g (N, O, OH, OW), w, x) -> dx (N, C, H, W): dcol_cat (K, m*P) = w^T x g_cat, then col2im.
template <class T>
void conv_grad_input(KernelCtx& ctx) {
  const Tensor &G = ctx.in(0), &Wt = ctx.in(1), &X = ctx.in(2);
  Tensor& DX = ctx.out(0);
  const ConvGeom g = geom(X.shape(), Wt.shape(), G.shape(), ctx.attrs());
  const T* gy = G.data<T>();
  const T* w = Wt.data<T>();
  T* dx = DX.data<T>();
  const int64_t xs = g.C * g.H * g.W, ys = g.O * g.P(), P = g.P(), K = g.K(), nb = group_size(g);
  if (g.O == 0 || P == 0) {
    std::fill(dx, dx + DX.numel(), T(0));
    return;
  }
  ctx.pool->parallel_for(g.N, nb, [&](int64_t n0, int64_t n1) {
    for (int64_t b = n0; b < n1; b += nb) {
      const int64_t m = std::min(nb, n1 - b), L = m * P;
      if (m == 1 && g.is_pointwise()) {
        gemm(true, false, K, P, g.O, w, K, gy + b * ys, P, dx + b * xs, P, T(0));
        continue;
      }
      T* dcol = thread_scratch<T>(size_t((K + g.O) * L));
      const T* gcat = gy + b * ys;
      if (m > 1) {
        T* buf = dcol + K * L;
        gather_cols(gy + b * ys, ys, m, g.O, P, buf);
        gcat = buf;
      }
      gemm(true, false, K, L, g.O, w, K, gcat, L, dcol, L, T(0));
      std::fill(dx + b * xs, dx + (b + m) * xs, T(0));
      for (int64_t i = 0; i < m; ++i) col2im(dcol + i * P, g, dx + (b + i) * xs, L);
    }
  });
}

// (g (N, O, OH, OW), x, w) -> dw (O, C, KH, KW) += g_cat (O, m*P) x col_cat^T.
// The batch is split into one chunk per thread; chunk 0 accumulates into dw,
// the others into partials added in chunk order (deterministic for a given
// thread count).
template <class T>
void conv_grad_filter(KernelCtx& ctx) {
  const Tensor &G = ctx.in(0), &X = ctx.in(1), &Wt = ctx.in(2);
  Tensor& DW = ctx.out(0);
  const ConvGeom g = geom(X.shape(), Wt.shape(), G.shape(), ctx.attrs());
  const T* gy = G.data<T>();
  const T* x = X.data<T>();
  T* dw = DW.data<T>();
  const int64_t xs = g.C * g.H * g.W, ys = g.O * g.P(), P = g.P(), K = g.K(), wn = g.O * K, nb = group_size(g);
  std::fill(dw, dw + wn, T(0));
  if (g.N == 0 || P == 0 || wn == 0) return;
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(ctx.pool->threads(), (g.N + nb - 1) / nb));
  std::vector<T> partial = BufferPool<T>::get().take(size_t((chunks - 1) * wn));
  ctx.pool->parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t ch = c0; ch < c1; ++ch) {
      T* acc = ch == 0 ? dw : partial.data() + (ch - 1) * wn;
      const int64_t n0 = ch * g.N / chunks, n1 = (ch + 1) * g.N / chunks;
      for (int64_t b = n0; b < n1; b += nb) {
        const int64_t m = std::min(nb, n1 - b), L = m * P;
        const T beta = b == n0 ? T(0) : T(1);
        if (m == 1 && g.is_pointwise()) {
          gemm(false, true, g.O, K, P, gy + b * ys, P, x + b * xs, P, acc, K, beta);
          continue;
        }
        T* col = thread_scratch<T>(size_t((K + g.O) * L));
        for (int64_t i = 0; i < m; ++i) im2col(x + (b + i) * xs, g, col + i * P, L);
        const T* gcat = gy + b * ys;
        if (m > 1) {
          T* buf = col + K * L;
          gather_cols(gy + b * ys, ys, m, g.O, P, buf);
          gcat = buf;
        }
        gemm(false, true, g.O, K, L, gcat, L, col, L, acc, K, beta);
      }
    }
  });
  for (int64_t ch = 1; ch < chunks; ++ch) {
    const T* pp = partial.data() + (ch - 1) * wn;
    for (int64_t i = 0; i < wn; ++i) dw[i] += pp[i];
  }
  BufferPool<T>::get().give(std::move(partial));
}

struct PoolGeom {
  int64_t planes, H, W, OH, OW, k, s;
};

PoolGeom pool_geom(const Shape& x, const Shape& y, const AttrMap& a) {
  return {x[0] * x[1], x[2], x[3], y[2], y[3], a.i("k"), a.i("stride")};
}

int64_t plane_grain(const PoolGeom& g) { return std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(1, g.H * g.W)); }

// Window loops with the window size K known at compile time (K = 0: g.k at run time).
template <int K>
int64_t window(const PoolGeom& g) { return K > 0 ? K : g.k; }

// x (N, C, H, W) -> y (N, C, OH, OW), argmax (N, C, OH, OW) int32 within the plane
template <class T, int K>
void max_pool_fwd(KernelCtx& ctx, const PoolGeom& g) {
  const T* x = ctx.in(0).data<T>();
  T* y = ctx.out(0).data<T>();
  int32_t* am = ctx.out(1).data<int32_t>();
  const int64_t k = window<K>(g);
  ctx.pool->parallel_for(g.planes, plane_grain(g), [&](int64_t p0, int64_t p1) {
    for (int64_t pl = p0; pl < p1; ++pl) {
      const T* xp = x + pl * g.H * g.W;
      T* yp = y + pl * g.OH * g.OW;
      int32_t* ap = am + pl * g.OH * g.OW;
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          int64_t bi = (oh * g.s) * g.W + ow * g.s;
          T best = xp[bi];
          for (int64_t i = 0; i < k; ++i) {
            const int64_t base = (oh * g.s + i) * g.W + ow * g.s;
            for (int64_t j = 0; j < k; ++j) {
              const T v = xp[base + j];
              const bool more = v > best;
              best = more ? v : best;
              bi = more ? base + j : bi;
            }
          }
          yp[oh * g.OW + ow] = best;
          ap[oh * g.OW + ow] = int32_t(bi);
        }
    }
  });
}

// (g, argmax, x) -> dx: each output's gradient goes to the input it took; with
// `relu` (max_pool2d_grad_relu, a 4th input: the pooled output) only where that
// input, which is the pooled value, is > 0, as relu_grad of the result would leave
// it, bit for bit.
template <class T, bool relu = false>
void max_pool_bwd(KernelCtx& ctx) {
  const PoolGeom g = pool_geom(ctx.in(2).shape(), ctx.in(0).shape(), ctx.attrs());
  const T* gy = ctx.in(0).data<T>();
  const int32_t* am = ctx.in(1).data<int32_t>();
  T* dx = ctx.out(0).data<T>();
  ctx.pool->parallel_for(g.planes, plane_grain(g), [&](int64_t p0, int64_t p1) {
    for (int64_t pl = p0; pl < p1; ++pl) {
      T* dp = dx + pl * g.H * g.W;
      const int64_t o = pl * g.OH * g.OW;
      const T* pooled = relu ? ctx.in(3).data<T>() : nullptr;
      auto scatter = [&](int64_t i0, int64_t i1) {  // outputs [i0, i1) of the plane
        for (int64_t i = i0; i < i1; ++i)
          if (!relu || pooled[o + i] > T(0)) dp[am[o + i]] += gy[o + i];
      };
      if (g.k == g.s) {
        // Windows that do not overlap: each output row's k input rows are zeroed
        // and written while in cache (one pass over dx, not a fill and a scatter),
        // the same additions in the same order.
        for (int64_t oh = 0; oh < g.OH; ++oh) {
          std::fill(dp + oh * g.s * g.W, dp + (oh * g.s + g.k) * g.W, T(0));
          scatter(oh * g.OW, (oh + 1) * g.OW);
        }
        std::fill(dp + g.OH * g.s * g.W, dp + g.H * g.W, T(0));  // rows no window covers
      } else {
        std::fill(dp, dp + g.H * g.W, T(0));
        scatter(0, g.OH * g.OW);
      }
    }
  });
}

template <class T, int K>
void avg_pool_fwd(KernelCtx& ctx, const PoolGeom& g) {
  const T* x = ctx.in(0).data<T>();
  T* y = ctx.out(0).data<T>();
  const int64_t k = window<K>(g);
  const T inv = T(1) / T(k * k);
  ctx.pool->parallel_for(g.planes, plane_grain(g), [&](int64_t p0, int64_t p1) {
    for (int64_t pl = p0; pl < p1; ++pl) {
      const T* xp = x + pl * g.H * g.W;
      T* yp = y + pl * g.OH * g.OW;
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          T s = 0;
          for (int64_t i = 0; i < k; ++i) {
            const T* r = xp + (oh * g.s + i) * g.W + ow * g.s;
            for (int64_t j = 0; j < k; ++j) s += r[j];
          }
          yp[oh * g.OW + ow] = s * inv;
        }
    }
  });
}

template <class T, int K>
void avg_pool_bwd(KernelCtx& ctx, const PoolGeom& g) {
  const T* gy = ctx.in(0).data<T>();
  T* dx = ctx.out(0).data<T>();
  const int64_t k = window<K>(g);
  const T inv = T(1) / T(k * k);
  ctx.pool->parallel_for(g.planes, plane_grain(g), [&](int64_t p0, int64_t p1) {
    for (int64_t pl = p0; pl < p1; ++pl) {
      T* dp = dx + pl * g.H * g.W;
      const T* gp = gy + pl * g.OH * g.OW;
      std::fill(dp, dp + g.H * g.W, T(0));
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const T v = gp[oh * g.OW + ow] * inv;
          for (int64_t i = 0; i < k; ++i) {
            T* r = dp + (oh * g.s + i) * g.W + ow * g.s;
            for (int64_t j = 0; j < k; ++j) r[j] += v;
          }
        }
    }
  });
}

// Calls f<K>() with K = 2 or 3 for the common windows, else K = 0 (run time).
template <class F>
void by_window(int64_t k, F f) {
  if (k == 2) f(std::integral_constant<int, 2>{});
  else if (k == 3) f(std::integral_constant<int, 3>{});
  else f(std::integral_constant<int, 0>{});
}

// The CNN case (k = stride = 2): two input rows per output row, branch-free.
template <class T>
void max_pool_fwd_2x2(KernelCtx& ctx, const PoolGeom& g) {
  const T* x = ctx.in(0).data<T>();
  T* y = ctx.out(0).data<T>();
  int32_t* am = ctx.out(1).data<int32_t>();
  const int64_t rows = g.planes * g.OH, W = g.W, OW = g.OW, H = g.H, OH = g.OH;
  ctx.pool->parallel_for(rows, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(1, 2 * W)),
                         [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t pl = q / OH, oh = q % OH;
      const T* r0 = x + pl * H * W + 2 * oh * W;
      const T* r1 = r0 + W;
      T* yr = y + q * OW;
      int32_t* ar = am + q * OW;
      const int32_t base = int32_t(2 * oh * W), w32 = int32_t(W), n = int32_t(OW);
      // 32-bit indices throughout, so the loop vectorizes (f32: 16 outputs per step)
      for (int32_t ow = 0; ow < n; ++ow) {
        const T a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
        const int32_t ab = b > a, cd = d > c;
        const T m0 = std::max(a, b), m1 = std::max(c, d);  // the first of equal values
        const int32_t lower = m1 > m0;
        yr[ow] = std::max(m0, m1);
        ar[ow] = base + 2 * ow + ab + lower * (w32 + cd - ab);
      }
    }
  });
}

template <class T>
void max_pool_fwd(KernelCtx& ctx) {
  const PoolGeom g = pool_geom(ctx.in(0).shape(), ctx.out(0).shape(), ctx.attrs());
  if (g.k == 2 && g.s == 2) return max_pool_fwd_2x2<T>(ctx, g);
  by_window(g.k, [&](auto K) { max_pool_fwd<T, decltype(K)::value>(ctx, g); });
}
template <class T>
void avg_pool_fwd(KernelCtx& ctx) {
  const PoolGeom g = pool_geom(ctx.in(0).shape(), ctx.out(0).shape(), ctx.attrs());
  by_window(g.k, [&](auto K) { avg_pool_fwd<T, decltype(K)::value>(ctx, g); });
}
template <class T>
void avg_pool_bwd(KernelCtx& ctx) {
  const PoolGeom g = pool_geom(ctx.in(1).shape(), ctx.in(0).shape(), ctx.attrs());
  by_window(g.k, [&](auto K) { avg_pool_bwd<T, decltype(K)::value>(ctx, g); });
}

// conv2d_bias_act as conv2d (whichever kernel conv2d has now: the oneDNN chooser
// replaces im2col after this is registered) and then bias and activation in one
// pass over y, planes split over the pool. The oneDNN kernel does it in one
// primitive (ops/cpu/dnnl_conv.cpp); this is its reference and the f64 path.
// act(y + b) in place over y (N, O, OH, OW), b one value per channel: the epilogue
// of conv2d_bias_act where the convolution does not fuse it.
template <class T>
void bias_act_planes(KernelCtx& c) {
  Tensor& y = c.out(0);
  const int64_t N = y.shape()[0], O = y.shape()[1], P = y.shape()[2] * y.shape()[3];
  const T* b = c.in(2).data<T>();
  T* py = y.data<T>();
  const bool relu = c.attrs().s("act") == "relu";
  auto body = [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>> q(py + r * P, P);
      const T bias = b[r % O];
      if (relu) q = (q + bias).max(T(0));  // the relu kernel's max, so the same bits
      else q += bias;
    }
  };
  if (c.pool) c.pool->parallel_for(N * O, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, P)), body);
  else body(0, N * O);
}

template <class T>
void conv_bias_act_then(KernelCtx& c) {
  const DType dtype = std::is_same_v<T, float> ? DType::F32 : DType::F64;
  const Kernel* conv = OpRegistry::get().find_kernel("conv2d", "cpu", dtype);
  FT_CHECK(conv && conv->fn, "conv2d_bias_act: no cpu conv2d kernel");
  KernelCtx k{c.node, {c.inputs[0], c.inputs[1]}, {c.outputs[0]}, c.pool, c.resources, c.step, c.training, c.device};
  conv->fn(k);
  bias_act_planes<T>(c);
}

}  // namespace

void register_conv_cpu() {
  openblas_set_num_threads(1);
  cpu_float_kernel("conv2d", [](KernelCtx& c, auto t) { conv_fwd<decltype(t)>(c); });
  cpu_float_kernel("conv2d_grad_input", [](KernelCtx& c, auto t) { conv_grad_input<decltype(t)>(c); });
  cpu_float_kernel("conv2d_grad_filter", [](KernelCtx& c, auto t) { conv_grad_filter<decltype(t)>(c); });
  cpu_float_kernel("conv2d_bias_act", [](KernelCtx& c, auto t) { conv_bias_act_then<decltype(t)>(c); });
  cpu_float_kernel("max_pool2d", [](KernelCtx& c, auto t) { max_pool_fwd<decltype(t)>(c); });
  cpu_float_kernel("max_pool2d_grad", [](KernelCtx& c, auto t) { max_pool_bwd<decltype(t)>(c); });
  cpu_float_kernel("max_pool2d_grad_relu", [](KernelCtx& c, auto t) { max_pool_bwd<decltype(t), true>(c); });
  cpu_float_kernel("avg_pool2d", [](KernelCtx& c, auto t) { avg_pool_fwd<decltype(t)>(c); });
  cpu_float_kernel("avg_pool2d_grad", [](KernelCtx& c, auto t) { avg_pool_bwd<decltype(t)>(c); });
}

}  // namespace ops
}  // namespace ft
