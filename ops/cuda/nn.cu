// cuda/nn.cu — CUDA kernels of the nn ops: softmax / log_softmax / masked_softmax
// and their gradients, fused sparse softmax cross-entropy, mse, layer_norm
// forward and backward, dropout (the CPU's counter-based hash, so masks agree).
// Last-axis ops view x as (rows, C): one block per row, block reductions in Acc<T>.
// dgamma/dbeta reduce over rows in fixed slices (deterministic).
#include "ops/cuda/dropout_hash.h"
#include "ops/cuda/kernel_util.cuh"

namespace ft {
namespace cuda {
namespace {

// Threads per row-block: a multiple of 32, at most 256.
int row_threads(int64_t C) { return int(std::min<int64_t>(256, std::max<int64_t>(32, (C + 31) / 32 * 32))); }
unsigned row_blocks(int64_t rows) { return unsigned(std::max<int64_t>(1, std::min<int64_t>(rows, 1 << 20))); }

// ---- softmax family
template <class T> __global__ void k_softmax(const T* x, T* y, int64_t rows, int64_t C, bool log) {
  using A = Acc<T>;
  __shared__ A sh[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * C;
    T* yr = y + r * C;
    A m = neg_inf<A>();
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) m = max(m, ld(xr[j]));
    m = block_max(m, sh);
    A s = 0;
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) s += d_exp(ld(xr[j]) - m);
    s = block_sum(s, sh);
    if (log) {
      const A ls = m + d_log(s);
      for (int64_t j = threadIdx.x; j < C; j += blockDim.x) yr[j] = st<T>(ld(xr[j]) - ls);
    } else {
      const A inv = A(1) / s;
      for (int64_t j = threadIdx.x; j < C; j += blockDim.x) yr[j] = st<T>(d_exp(ld(xr[j]) - m) * inv);
    }
  }
}

// dx = y * (g - sum(g*y)) (softmax) or g - exp(y) * sum(g) (log_softmax)
template <class T> __global__ void k_softmax_grad(const T* g, const T* y, T* dx, int64_t rows, int64_t C, bool log) {
  using A = Acc<T>;
  __shared__ A sh[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* gr = g + r * C;
    const T* yr = y + r * C;
    T* dr = dx + r * C;
    A s = 0;
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) s += log ? ld(gr[j]) : ld(gr[j]) * ld(yr[j]);
    s = block_sum(s, sh);
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x)
      dr[j] = st<T>(log ? ld(gr[j]) - d_exp(ld(yr[j])) * s : ld(yr[j]) * (ld(gr[j]) - s));
  }
}

// mask_ix walks x's leading dims with the mask's strides; mstep = mask stride of the last axis.
template <class T> __global__ void k_masked_softmax(const T* x, const T* mask, T* y, int64_t rows, int64_t C,
                                                    Index8 mask_ix, int64_t mstep) {
  using A = Acc<T>;
  __shared__ A sh[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    int64_t moff, u;
    offsets(mask_ix, r, moff, u);
    const T* xr = x + r * C;
    const T* mr = mask + moff;
    T* yr = y + r * C;
    A m = neg_inf<A>();
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x)
      if (ld(mr[j * mstep]) != A(0)) m = max(m, ld(xr[j]));
    m = block_max(m, sh);
    if (m == neg_inf<A>()) {  // every position masked: a zero row
      for (int64_t j = threadIdx.x; j < C; j += blockDim.x) yr[j] = st<T>(A(0));
      continue;
    }
    A s = 0;
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x)
      if (ld(mr[j * mstep]) != A(0)) s += d_exp(ld(xr[j]) - m);
    s = block_sum(s, sh);
    const A inv = A(1) / s;
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x)
      yr[j] = st<T>(ld(mr[j * mstep]) != A(0) ? d_exp(ld(xr[j]) - m) * inv : A(0));
  }
}

// ---- sparse softmax cross-entropy: logits (N, C), labels (N) -> loss (N), probs (N, C)
template <class T, class L> __global__ void k_sce(const T* x, const L* labels, T* loss, T* p, int64_t N, int64_t C,
                                                  unsigned* err) {
  using A = Acc<T>;
  __shared__ A sh[32];
  for (int64_t r = blockIdx.x; r < N; r += gridDim.x) {
    const T* xr = x + r * C;
    T* pr = p + r * C;
    A m = neg_inf<A>();
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) m = max(m, ld(xr[j]));
    m = block_max(m, sh);
    A s = 0;
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) s += d_exp(ld(xr[j]) - m);
    s = block_sum(s, sh);
    const A inv = A(1) / s;
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) pr[j] = st<T>(d_exp(ld(xr[j]) - m) * inv);
    if (threadIdx.x == 0) {
      const int64_t k = int64_t(labels[r]);
      if (k >= C) atomicOr(err, unsigned(kLabelOutOfRange));
      loss[r] = st<T>(k < 0 || k >= C ? A(0) : m + d_log(s) - ld(xr[k]));
    }
  }
}

// (g (N), probs (N, C), labels (N)) -> (probs - onehot) * g; ignored rows get 0.
template <class T, class L> __global__ void k_sce_grad(const T* g, const T* p, const L* labels, T* dx, int64_t N,
                                                       int64_t C) {
  using A = Acc<T>;
  FT_GRID_LOOP(t, N * C) {
    const int64_t r = t / C, j = t % C;
    const int64_t k = int64_t(labels[r]);
    dx[t] = st<T>(k < 0 || k >= C ? A(0) : (ld(p[t]) - A(j == k ? 1 : 0)) * ld(g[r]));
  }
}

// ---- mse: scalar mean of squared error, one block
template <class T> __global__ void k_mse(const T* a, const T* b, T* out, int64_t n) {
  using A = Acc<T>;
  __shared__ A sh[32];
  A s = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const A d = ld(a[i]) - ld(b[i]);
    s += d * d;
  }
  s = block_sum(s, sh);
  if (threadIdx.x == 0) out[0] = st<T>(n ? s / A(n) : A(0));
}
template <class T> __global__ void k_mse_grad(const T* g, const T* a, const T* b, T* da, T* db, int64_t n) {
  using A = Acc<T>;
  const A k = n ? A(2) * ld(g[0]) / A(n) : A(0);
  FT_GRID_LOOP(i, n) {
    const A d = k * (ld(a[i]) - ld(b[i]));
    da[i] = st<T>(d);
    db[i] = st<T>(-d);
  }
}

// ---- layer norm over the last axis
template <class T> __global__ void k_layer_norm(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* rstd,
                                                int64_t rows, int64_t C, double eps) {
  using A = Acc<T>;
  __shared__ A sh[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * C;
    T* yr = y + r * C;
    A s = 0;
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) s += ld(xr[j]);
    const A m = block_sum(s, sh) / A(C);
    A v = 0;
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) {
      const A d = ld(xr[j]) - m;
      v += d * d;
    }
    const A rs = A(1) / d_sqrt(block_sum(v, sh) / A(C) + A(eps));
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) yr[j] = st<T>((ld(xr[j]) - m) * rs * ld(gamma[j]) + ld(beta[j]));
    if (threadIdx.x == 0) {
      mean[r] = st<T>(m);
      rstd[r] = st<T>(rs);
    }
  }
}

// dx = rstd * (d - mean(d) - xhat * mean(d * xhat)), d = g * gamma, xhat = (x - mean) * rstd
template <class T> __global__ void k_layer_norm_dx(const T* g, const T* x, const T* gamma, const T* mean, const T* rstd,
                                                   T* dx, int64_t rows, int64_t C) {
  using A = Acc<T>;
  __shared__ A sh[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * C;
    const T* gr = g + r * C;
    T* dr = dx + r * C;
    const A m = ld(mean[r]), rs = ld(rstd[r]);
    A sd = 0, sdx = 0;
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) {
      const A d = ld(gr[j]) * ld(gamma[j]);
      sd += d;
      sdx += d * (ld(xr[j]) - m) * rs;
    }
    sd = block_sum(sd, sh) / A(C);
    sdx = block_sum(sdx, sh) / A(C);
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x)
      dr[j] = st<T>(rs * (ld(gr[j]) * ld(gamma[j]) - sd - (ld(xr[j]) - m) * rs * sdx));
  }
}

// dgamma, dbeta partial sums: thread per (slice, column), rows [s*chunk, (s+1)*chunk).
template <class T> __global__ void k_layer_norm_dparams(const T* g, const T* x, const T* mean, const T* rstd,
                                                        Acc<T>* pg, Acc<T>* pb, int64_t rows, int64_t C, int64_t chunk,
                                                        int slices) {
  using A = Acc<T>;
  FT_GRID_LOOP(t, C * slices) {
    const int64_t s = t / C, j = t % C;
    const int64_t r0 = s * chunk, r1 = min(rows, r0 + chunk);
    A sg = 0, sb = 0;
    for (int64_t r = r0; r < r1; ++r) {
      const A gv = ld(g[r * C + j]);
      sg += gv * (ld(x[r * C + j]) - ld(mean[r])) * ld(rstd[r]);
      sb += gv;
    }
    pg[t] = sg;
    pb[t] = sb;
  }
}
template <class T> __global__ void k_sum_slices2(const Acc<T>* pg, const Acc<T>* pb, T* dg, T* db, int64_t C,
                                                 int slices) {
  using A = Acc<T>;
  FT_GRID_LOOP(j, C) {
    A sg = 0, sb = 0;
    for (int s = 0; s < slices; ++s) {
      sg += pg[s * C + j];
      sb += pb[s * C + j];
    }
    dg[j] = st<T>(sg);
    db[j] = st<T>(sb);
  }
}

// ---- dropout
template <class T> __global__ void k_dropout(const T* x, T* y, T* mask, int64_t n, uint64_t key, uint64_t threshold,
                                             double keep) {
  using A = Acc<T>;
  FT_GRID_LOOP(i, n) {
    const T m = st<T>(dropout_bits(key, i) < threshold ? A(0) : A(keep));
    mask[i] = m;
    y[i] = st<T>(ld(x[i]) * ld(m));
  }
}
template <class T> __global__ void k_copy_and_ones(const T* x, T* y, T* mask, int64_t n) {
  using A = Acc<T>;
  FT_GRID_LOOP(i, n) {
    y[i] = x[i];
    mask[i] = st<T>(A(1));
  }
}

// ---- launchers
template <class T> void softmax(KernelCtx& c, bool log) {
  const Tensor& X = c.in(0);
  const int64_t C = X.dim(-1), rows = C ? X.numel() / C : 0;
  if (rows == 0) return;
  k_softmax<T><<<row_blocks(rows), row_threads(C), 0, stream()>>>(dptr<T>(X), dptr<T>(c.out(0)), rows, C, log);
  FT_CUDA_LAUNCHED();
}

template <class T> void softmax_grad(KernelCtx& c, bool log) {
  const Tensor& G = c.in(0);
  const int64_t C = G.dim(-1), rows = C ? G.numel() / C : 0;
  if (rows == 0) return;
  k_softmax_grad<T><<<row_blocks(rows), row_threads(C), 0, stream()>>>(dptr<T>(G), dptr<T>(c.in(1)),
                                                                       dptr<T>(c.out(0)), rows, C, log);
  FT_CUDA_LAUNCHED();
}

template <class T> void masked_softmax(KernelCtx& c) {
  const Tensor &X = c.in(0), &M = c.in(1);
  const int64_t C = X.dim(-1), rows = C ? X.numel() / C : 0;
  if (rows == 0) return;
  const auto ms = aligned_strides(X.shape(), M.shape());
  const Shape lead(X.shape().begin(), X.shape().end() - 1);
  const std::vector<int64_t> lead_s(ms.begin(), ms.end() - 1);
  k_masked_softmax<T><<<row_blocks(rows), row_threads(C), 0, stream()>>>(dptr<T>(X), dptr<T>(M), dptr<T>(c.out(0)),
                                                                         rows, C, make_index(lead, lead_s), ms.back());
  FT_CUDA_LAUNCHED();
}

template <class F> void visit_label(DType dt, F f) {
  if (dt == DType::I32) f(int32_t{});
  else if (dt == DType::I64) f(int64_t{});
  else throw Error(std::string("cuda sparse_softmax_cross_entropy: labels must be i32 or i64, got ") + dtype_name(dt));
}

template <class T> void sce(KernelCtx& c) {
  const Tensor &L = c.in(0), &Y = c.in(1);
  const int64_t N = L.dim(0), C = L.dim(1);
  if (N == 0) return;
  unsigned* err = device_error_word();
  visit_label(Y.dtype(), [&](auto lt) {
    using Lb = decltype(lt);
    k_sce<T, Lb><<<row_blocks(N), row_threads(C), 0, stream()>>>(dptr<T>(L), dptr<Lb>(Y), dptr<T>(c.out(0)),
                                                                 dptr<T>(c.out(1)), N, C, err);
  });
  FT_CUDA_LAUNCHED();
}

template <class T> void sce_grad(KernelCtx& c) {
  const Tensor& P = c.in(1);
  const int64_t N = P.dim(0), C = P.dim(1);
  if (N * C == 0) return;
  visit_label(c.in(2).dtype(), [&](auto lt) {
    using Lb = decltype(lt);
    k_sce_grad<T, Lb><<<grid_for(N * C), kThreads, 0, stream()>>>(dptr<T>(c.in(0)), dptr<T>(P), dptr<Lb>(c.in(2)),
                                                                  dptr<T>(c.out(0)), N, C);
  });
  FT_CUDA_LAUNCHED();
}

template <class T> void mse(KernelCtx& c) {
  k_mse<T><<<1, 1024, 0, stream()>>>(dptr<T>(c.in(0)), dptr<T>(c.in(1)), dptr<T>(c.out(0)), c.in(0).numel());
  FT_CUDA_LAUNCHED();
}

template <class T> void mse_grad(KernelCtx& c) {
  const int64_t n = c.in(1).numel();
  if (n == 0) return;
  k_mse_grad<T><<<grid_for(n), kThreads, 0, stream()>>>(dptr<T>(c.in(0)), dptr<T>(c.in(1)), dptr<T>(c.in(2)),
                                                        dptr<T>(c.out(0)), dptr<T>(c.out(1)), n);
  FT_CUDA_LAUNCHED();
}

template <class T> void layer_norm(KernelCtx& c) {
  const Tensor& X = c.in(0);
  const int64_t C = X.dim(-1), rows = C ? X.numel() / C : 0;
  if (rows == 0) return;
  k_layer_norm<T><<<row_blocks(rows), row_threads(C), 0, stream()>>>(
      dptr<T>(X), dptr<T>(c.in(1)), dptr<T>(c.in(2)), dptr<T>(c.out(0)), dptr<T>(c.out(1)), dptr<T>(c.out(2)), rows, C,
      c.attrs().f("eps", 1e-5));
  FT_CUDA_LAUNCHED();
}

// (g, x, gamma, mean, rstd) -> dx, dgamma, dbeta
template <class T> void layer_norm_grad(KernelCtx& c) {
  const Tensor& X = c.in(1);
  const int64_t C = X.dim(-1), rows = C ? X.numel() / C : 0;
  if (C == 0) return;
  if (rows == 0) {
    memset_device(c.out(1).raw(), 0, c.out(1).bytes(), stream());
    memset_device(c.out(2).raw(), 0, c.out(2).bytes(), stream());
    return;
  }
  const T* g = dptr<T>(c.in(0));
  const T* x = dptr<T>(X);
  const T* mean = dptr<T>(c.in(3));
  const T* rstd = dptr<T>(c.in(4));
  k_layer_norm_dx<T><<<row_blocks(rows), row_threads(C), 0, stream()>>>(g, x, dptr<T>(c.in(2)), mean, rstd,
                                                                        dptr<T>(c.out(0)), rows, C);
  const int slices = int(std::min<int64_t>(rows, std::max<int64_t>(1, std::min<int64_t>(64, 65536 / C))));
  const int64_t chunk = (rows + slices - 1) / slices;
  DeviceBuffer part(size_t(2 * slices * C) * sizeof(Acc<T>));
  Acc<T>* pg = static_cast<Acc<T>*>(part.get());
  Acc<T>* pb = pg + slices * C;
  k_layer_norm_dparams<T><<<grid_for(C * slices), kThreads, 0, stream()>>>(g, x, mean, rstd, pg, pb, rows, C, chunk,
                                                                           slices);
  k_sum_slices2<T><<<grid_for(C), kThreads, 0, stream()>>>(pg, pb, dptr<T>(c.out(1)), dptr<T>(c.out(2)), C, slices);
  FT_CUDA_LAUNCHED();
}

template <class T> void dropout(KernelCtx& c) {
  const Tensor& X = c.in(0);
  const int64_t n = X.numel();
  if (n == 0) return;
  const double p = c.attrs().f("p");
  T* y = dptr<T>(c.out(0));
  T* mask = dptr<T>(c.out(1));
  if (!c.training || p <= 0.0) {
    k_copy_and_ones<T><<<grid_for(n), kThreads, 0, stream()>>>(dptr<T>(X), y, mask, n);
  } else {
    const uint64_t key = dropout_key(uint64_t(c.attrs().i("seed")), uint64_t(c.step));
    k_dropout<T><<<grid_for(n), kThreads, 0, stream()>>>(dptr<T>(X), y, mask, n, key, dropout_threshold(p),
                                                         1.0 / (1.0 - p));
  }
  FT_CUDA_LAUNCHED();
}

}  // namespace

void register_nn_cuda() {
  reg_all_float("softmax", [](KernelCtx& c, auto t) { softmax<decltype(t)>(c, false); });
  reg_all_float("log_softmax", [](KernelCtx& c, auto t) { softmax<decltype(t)>(c, true); });
  reg_all_float("softmax_grad", [](KernelCtx& c, auto t) { softmax_grad<decltype(t)>(c, false); });
  reg_all_float("log_softmax_grad", [](KernelCtx& c, auto t) { softmax_grad<decltype(t)>(c, true); });
  reg_all_float("masked_softmax", [](KernelCtx& c, auto t) { masked_softmax<decltype(t)>(c); });
  reg_all_float("sparse_softmax_cross_entropy", [](KernelCtx& c, auto t) { sce<decltype(t)>(c); });
  reg_all_float("sparse_softmax_cross_entropy_grad", [](KernelCtx& c, auto t) { sce_grad<decltype(t)>(c); });
  reg_all_float("mse", [](KernelCtx& c, auto t) { mse<decltype(t)>(c); });
  reg_all_float("mse_grad", [](KernelCtx& c, auto t) { mse_grad<decltype(t)>(c); });
  reg_all_float("layer_norm", [](KernelCtx& c, auto t) { layer_norm<decltype(t)>(c); });
  reg_all_float("layer_norm_grad", [](KernelCtx& c, auto t) { layer_norm_grad<decltype(t)>(c); });
  reg_all_float("dropout", [](KernelCtx& c, auto t) { dropout<decltype(t)>(c); });
}

}  // namespace cuda
}  // namespace ft
