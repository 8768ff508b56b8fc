// cuda/conv.cu — conv2d as im2col + cuBLAS GEMM (strided-batched over a chunk of
// samples), its input gradient via GEMM + col2im (gather form, no atomics) and
// filter gradient via one GEMM per sample accumulating into dw; max / avg
// pooling and their gradients. NCHW; weights (O, C, KH, KW).
//
// Per sample n, with K = C*KH*KW and P = OH*OW:
//   forward      y[n] (O, P)  = w (O, K) x col(x[n]) (K, P)
//   grad input   dx[n]        = col2im(w^T (K, O) x g[n] (O, P))
//   grad filter  dw (O, K)   += g[n] (O, P) x col(x[n])^T (P, K)
// The im2col scratch (a chunk of samples, at most ~64 MiB) comes from the caching allocator.
#include "ops/cuda/kernel_util.cuh"

namespace ft {
namespace cuda {
namespace {

struct ConvGeom {
  int64_t N, C, H, W, O, KH, KW, OH, OW, s, p;
  int64_t K() const { return C * KH * KW; }
  int64_t P() const { return OH * OW; }
  bool pointwise() const { return KH == 1 && KW == 1 && s == 1 && p == 0; }
};

ConvGeom geom(const Shape& x, const Shape& w, const Shape& y, const AttrMap& a) {
  return {x[0], x[1], x[2], x[3], w[0], w[2], w[3], y[2], y[3], a.i("stride"), a.i("padding")};
}

// x (nb, C, H, W) -> col (nb, K, P)
template <class T> __global__ void k_im2col(const T* x, T* col, int64_t total, ConvGeom g) {
  FT_GRID_LOOP(t, total) {
    const int64_t P = g.OH * g.OW, K = g.C * g.KH * g.KW;
    const int64_t pos = t % P, row = (t / P) % K, n = t / (P * K);
    const int64_t ow = pos % g.OW, oh = pos / g.OW;
    const int64_t kw = row % g.KW, kh = (row / g.KW) % g.KH, c = row / (g.KW * g.KH);
    const int64_t ih = oh * g.s - g.p + kh, iw = ow * g.s - g.p + kw;
    col[t] = (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W) ? x[((n * g.C + c) * g.H + ih) * g.W + iw] : st<T>(Acc<T>(0));
  }
}

// col (nb, K, P) -> x (nb, C, H, W): each input element sums the columns that read it.
template <class T> __global__ void k_col2im(const T* col, T* x, int64_t total, ConvGeom g) {
  using A = Acc<T>;
  FT_GRID_LOOP(t, total) {
    const int64_t iw = t % g.W, ih = (t / g.W) % g.H, c = (t / (g.W * g.H)) % g.C, n = t / (g.W * g.H * g.C);
    const int64_t P = g.OH * g.OW, K = g.C * g.KH * g.KW;
    A s = 0;
    for (int64_t kh = 0; kh < g.KH; ++kh) {
      const int64_t hh = ih + g.p - kh;  // = oh * stride
      if (hh < 0 || hh % g.s != 0) continue;
      const int64_t oh = hh / g.s;
      if (oh >= g.OH) continue;
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const int64_t ww = iw + g.p - kw;
        if (ww < 0 || ww % g.s != 0) continue;
        const int64_t ow = ww / g.s;
        if (ow >= g.OW) continue;
        s += ld(col[(n * K + (c * g.KH + kh) * g.KW + kw) * P + oh * g.OW + ow]);
      }
    }
    x[t] = st<T>(s);
  }
}

// Samples per chunk so the im2col scratch stays near 64 MiB.
int64_t chunk_of(const ConvGeom& g, size_t elem) {
  const int64_t per = std::max<int64_t>(1, g.K() * g.P() * int64_t(elem));
  return std::max<int64_t>(1, std::min<int64_t>(g.N, (int64_t(64) << 20) / per));
}

template <class T> void im2col(const T* x, T* col, int64_t nb, const ConvGeom& g) {
  const int64_t total = nb * g.K() * g.P();
  if (total == 0) return;
  k_im2col<T><<<grid_for(total), kThreads, 0, stream()>>>(x, col, total, g);
  FT_CUDA_LAUNCHED();
}

template <class T> DType dtype_of() {
  if (std::is_same<T, float>::value) return DType::F32;
  if (std::is_same<T, double>::value) return DType::F64;
  if (std::is_same<T, __half>::value) return DType::F16;
  return DType::BF16;
}

// x (N, C, H, W), w (O, C, KH, KW) -> y (N, O, OH, OW)
template <class T> void conv_fwd(KernelCtx& c) {
  const Tensor &X = c.in(0), &Wt = c.in(1);
  Tensor& Y = c.out(0);
  const ConvGeom g = geom(X.shape(), Wt.shape(), Y.shape(), c.attrs());
  if (Y.numel() == 0) return;
  if (g.K() == 0) {
    memset_device(Y.raw(), 0, Y.bytes(), stream());
    return;
  }
  const DType dt = dtype_of<T>();
  const T* x = dptr<T>(X);
  const int64_t xs = g.C * g.H * g.W, ys = g.O * g.P();
  if (g.pointwise()) {
    gemm(dt, false, false, g.O, g.P(), g.K(), dptr<T>(Wt), g.K(), x, g.P(), dptr<T>(Y), g.P(), 0.0, g.N, 0, xs, ys);
    return;
  }
  const int64_t nb = chunk_of(g, sizeof(T));
  DeviceBuffer col(size_t(nb * g.K() * g.P()) * sizeof(T));
  T* cp = static_cast<T*>(col.get());
  for (int64_t n0 = 0; n0 < g.N; n0 += nb) {
    const int64_t cnt = std::min(nb, g.N - n0);
    im2col<T>(x + n0 * xs, cp, cnt, g);
    gemm(dt, false, false, g.O, g.P(), g.K(), dptr<T>(Wt), g.K(), cp, g.P(), dptr<T>(Y) + n0 * ys, g.P(), 0.0, cnt, 0,
         g.K() * g.P(), ys);
  }
}

// (g (N, O, OH, OW), w, x) -> dx (N, C, H, W)
template <class T> void conv_grad_input(KernelCtx& c) {
  const Tensor &G = c.in(0), &Wt = c.in(1), &X = c.in(2);
  Tensor& DX = c.out(0);
  const ConvGeom g = geom(X.shape(), Wt.shape(), G.shape(), c.attrs());
  if (DX.numel() == 0) return;
  if (g.O == 0 || g.P() == 0) {
    memset_device(DX.raw(), 0, DX.bytes(), stream());
    return;
  }
  const DType dt = dtype_of<T>();
  const int64_t xs = g.C * g.H * g.W, ys = g.O * g.P();
  if (g.pointwise()) {
    gemm(dt, true, false, g.K(), g.P(), g.O, dptr<T>(Wt), g.K(), dptr<T>(G), g.P(), dptr<T>(DX), g.P(), 0.0, g.N, 0,
         ys, xs);
    return;
  }
  const int64_t nb = chunk_of(g, sizeof(T));
  DeviceBuffer col(size_t(nb * g.K() * g.P()) * sizeof(T));
  T* cp = static_cast<T*>(col.get());
  for (int64_t n0 = 0; n0 < g.N; n0 += nb) {
    const int64_t cnt = std::min(nb, g.N - n0);
    gemm(dt, true, false, g.K(), g.P(), g.O, dptr<T>(Wt), g.K(), dptr<T>(G) + n0 * ys, g.P(), cp, g.P(), 0.0, cnt, 0,
         ys, g.K() * g.P());
    const int64_t total = cnt * xs;
    k_col2im<T><<<grid_for(total), kThreads, 0, stream()>>>(cp, dptr<T>(DX) + n0 * xs, total, g);
    FT_CUDA_LAUNCHED();
  }
}

// (g (N, O, OH, OW), x, w) -> dw (O, C, KH, KW)
template <class T> void conv_grad_filter(KernelCtx& c) {
  const Tensor &G = c.in(0), &X = c.in(1), &Wt = c.in(2);
  Tensor& DW = c.out(0);
  const ConvGeom g = geom(X.shape(), Wt.shape(), G.shape(), c.attrs());
  memset_device(DW.raw(), 0, DW.bytes(), stream());
  if (g.N == 0 || g.P() == 0 || DW.numel() == 0) return;
  const DType dt = dtype_of<T>();
  const int64_t xs = g.C * g.H * g.W, ys = g.O * g.P();
  const T* x = dptr<T>(X);
  const T* gy = dptr<T>(G);
  T* dw = dptr<T>(DW);
  const int64_t nb = g.pointwise() ? g.N : chunk_of(g, sizeof(T));
  DeviceBuffer col(g.pointwise() ? 0 : size_t(nb * g.K() * g.P()) * sizeof(T));
  T* cp = static_cast<T*>(col.get());
  for (int64_t n0 = 0; n0 < g.N; n0 += nb) {
    const int64_t cnt = std::min(nb, g.N - n0);
    if (!g.pointwise()) im2col<T>(x + n0 * xs, cp, cnt, g);
    for (int64_t i = 0; i < cnt; ++i) {
      const T* cn = g.pointwise() ? x + (n0 + i) * xs : cp + i * g.K() * g.P();
      gemm(dt, false, true, g.O, g.K(), g.P(), gy + (n0 + i) * ys, g.P(), cn, g.P(), dw, g.K(), 1.0);
    }
  }
}

// ---- pooling: planes = N*C, windows of k at stride s, no padding
struct PoolGeom {
  int64_t planes, H, W, OH, OW, k, s;
};
PoolGeom pool_geom(const Shape& x, const Shape& y, const AttrMap& a) {
  return {x[0] * x[1], x[2], x[3], y[2], y[3], a.i("k"), a.i("stride")};
}

template <class T> __global__ void k_max_pool(const T* x, T* y, int32_t* am, int64_t total, PoolGeom g) {
  using A = Acc<T>;
  FT_GRID_LOOP(t, total) {
    const int64_t ow = t % g.OW, oh = (t / g.OW) % g.OH, pl = t / (g.OW * g.OH);
    const T* xp = x + pl * g.H * g.W;
    int64_t bi = (oh * g.s) * g.W + ow * g.s;
    A best = neg_inf<A>();
    for (int64_t i = 0; i < g.k; ++i)
      for (int64_t j = 0; j < g.k; ++j) {
        const int64_t idx = (oh * g.s + i) * g.W + ow * g.s + j;
        const A v = ld(xp[idx]);
        if (v > best) {
          best = v;
          bi = idx;
        }
      }
    y[t] = xp[bi];
    am[t] = int32_t(bi);
  }
}

template <class T> __global__ void k_max_pool_grad(const T* gy, const int32_t* am, T* dx, int64_t total, PoolGeom g) {
  FT_GRID_LOOP(t, total) {
    const int64_t pl = t / (g.OW * g.OH);
    atomicAdd(dx + pl * g.H * g.W + am[t], gy[t]);
  }
}

template <class T> __global__ void k_avg_pool(const T* x, T* y, int64_t total, PoolGeom g) {
  using A = Acc<T>;
  FT_GRID_LOOP(t, total) {
    const int64_t ow = t % g.OW, oh = (t / g.OW) % g.OH, pl = t / (g.OW * g.OH);
    const T* xp = x + pl * g.H * g.W;
    A s = 0;
    for (int64_t i = 0; i < g.k; ++i)
      for (int64_t j = 0; j < g.k; ++j) s += ld(xp[(oh * g.s + i) * g.W + ow * g.s + j]);
    y[t] = st<T>(s / A(g.k * g.k));
  }
}

// Each input element sums g over the windows containing it (no atomics).
template <class T> __global__ void k_avg_pool_grad(const T* gy, T* dx, int64_t total, PoolGeom g) {
  using A = Acc<T>;
  FT_GRID_LOOP(t, total) {
    const int64_t w = t % g.W, h = (t / g.W) % g.H, pl = t / (g.W * g.H);
    const T* gp = gy + pl * g.OH * g.OW;
    const int64_t oh0 = h >= g.k ? (h - g.k) / g.s + 1 : 0, oh1 = min(g.OH - 1, h / g.s);
    const int64_t ow0 = w >= g.k ? (w - g.k) / g.s + 1 : 0, ow1 = min(g.OW - 1, w / g.s);
    A s = 0;
    for (int64_t oh = oh0; oh <= oh1; ++oh)
      for (int64_t ow = ow0; ow <= ow1; ++ow) s += ld(gp[oh * g.OW + ow]);
    dx[t] = st<T>(s / A(g.k * g.k));
  }
}

template <class T> void max_pool(KernelCtx& c) {
  const PoolGeom g = pool_geom(c.in(0).shape(), c.out(0).shape(), c.attrs());
  const int64_t total = c.out(0).numel();
  if (total == 0) return;
  k_max_pool<T><<<grid_for(total), kThreads, 0, stream()>>>(dptr<T>(c.in(0)), dptr<T>(c.out(0)),
                                                            dptr<int32_t>(c.out(1)), total, g);
  FT_CUDA_LAUNCHED();
}

template <class T> void max_pool_grad(KernelCtx& c) {  // (g, argmax, x) -> dx
  const PoolGeom g = pool_geom(c.in(2).shape(), c.in(0).shape(), c.attrs());
  Tensor& DX = c.out(0);
  memset_device(DX.raw(), 0, DX.bytes(), stream());
  const int64_t total = c.in(0).numel();
  if (total == 0) return;
  k_max_pool_grad<T><<<grid_for(total), kThreads, 0, stream()>>>(dptr<T>(c.in(0)), dptr<int32_t>(c.in(1)),
                                                                 dptr<T>(DX), total, g);
  FT_CUDA_LAUNCHED();
}

template <class T> void avg_pool(KernelCtx& c) {
  const PoolGeom g = pool_geom(c.in(0).shape(), c.out(0).shape(), c.attrs());
  const int64_t total = c.out(0).numel();
  if (total == 0) return;
  k_avg_pool<T><<<grid_for(total), kThreads, 0, stream()>>>(dptr<T>(c.in(0)), dptr<T>(c.out(0)), total, g);
  FT_CUDA_LAUNCHED();
}

template <class T> void avg_pool_grad(KernelCtx& c) {  // (g, x) -> dx
  const PoolGeom g = pool_geom(c.in(1).shape(), c.in(0).shape(), c.attrs());
  const int64_t total = c.out(0).numel();
  if (total == 0) return;
  k_avg_pool_grad<T><<<grid_for(total), kThreads, 0, stream()>>>(dptr<T>(c.in(0)), dptr<T>(c.out(0)), total, g);
  FT_CUDA_LAUNCHED();
}

}  // namespace

void register_conv_cuda() {
  reg_all_float("conv2d", [](KernelCtx& c, auto t) { conv_fwd<decltype(t)>(c); });
  reg_all_float("conv2d_grad_input", [](KernelCtx& c, auto t) { conv_grad_input<decltype(t)>(c); });
  reg_all_float("conv2d_grad_filter", [](KernelCtx& c, auto t) { conv_grad_filter<decltype(t)>(c); });
  reg_all_float("max_pool2d", [](KernelCtx& c, auto t) { max_pool<decltype(t)>(c); });
  reg_all_float("max_pool2d_grad", [](KernelCtx& c, auto t) { max_pool_grad<decltype(t)>(c); });
  reg_all_float("avg_pool2d", [](KernelCtx& c, auto t) { avg_pool<decltype(t)>(c); });
  reg_all_float("avg_pool2d_grad", [](KernelCtx& c, auto t) { avg_pool_grad<decltype(t)>(c); });
}

}  // namespace cuda
}  // namespace ft
