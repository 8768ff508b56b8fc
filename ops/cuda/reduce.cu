// cuda/reduce.cu — reductions (sum, mean, max) over any axes, their gradient
// (reduce_grad) and sum_to_like. x is viewed as (outer, red, inner) when the
// reduced axes are contiguous (ignoring size-1 dims): rows reduce with one block
// per row; columns with one thread per (outer, inner), the reduced extent split
// into slices summed in a fixed order (deterministic). Other axis sets take a
// general kernel, one thread per output.
#include "ops/cuda/kernel_util.cuh"

namespace ft {
namespace cuda {
namespace {

enum Mode { kSum = 0, kMean = 1, kMax = 2 };

template <class A> __device__ __forceinline__ A combine(A acc, A v, int mode) {
  return mode == kMax ? (v > acc ? v : acc) : acc + v;
}
template <class A> __device__ __forceinline__ A init_of(int mode) { return mode == kMax ? neg_inf<A>() : A(0); }

// (outer, red) with inner == 1: one block per output row.
template <class T> __global__ void k_reduce_rows(const T* x, T* y, int64_t outer, int64_t red, int mode, double scale) {
  using A = Acc<T>;
  __shared__ A sh[32];
  for (int64_t o = blockIdx.x; o < outer; o += gridDim.x) {
    const T* xr = x + o * red;
    A acc = init_of<A>(mode);
    for (int64_t r = threadIdx.x; r < red; r += blockDim.x) acc = combine(acc, ld(xr[r]), mode);
    acc = mode == kMax ? block_max(acc, sh) : block_sum(acc, sh);
    if (threadIdx.x == 0) y[o] = st<T>(mode == kMean ? acc * A(scale) : acc);
    __syncthreads();
  }
}

// (outer, red, inner): thread per (slice, outer, inner) column; slice s covers
// reduced rows [s*chunk, (s+1)*chunk). With slices > 1 the results go to partials.
template <class T> __global__ void k_reduce_cols(const T* x, Acc<T>* partial, T* y, int64_t outer, int64_t red,
                                                 int64_t inner, int64_t chunk, int slices, int mode, double scale) {
  using A = Acc<T>;
  const int64_t cols = outer * inner;
  FT_GRID_LOOP(t, cols * slices) {
    const int64_t s = t / cols, col = t % cols, o = col / inner, i = col % inner;
    const int64_t r0 = s * chunk, r1 = min(red, r0 + chunk);
    A acc = init_of<A>(mode);
    for (int64_t r = r0; r < r1; ++r) acc = combine(acc, ld(x[(o * red + r) * inner + i]), mode);
    if (slices == 1) y[col] = st<T>(mode == kMean ? acc * A(scale) : acc);
    else partial[s * cols + col] = acc;
  }
}
template <class T> __global__ void k_reduce_slices(const Acc<T>* partial, T* y, int64_t cols, int slices, int mode,
                                                   double scale) {
  using A = Acc<T>;
  FT_GRID_LOOP(col, cols) {
    A acc = init_of<A>(mode);
    for (int s = 0; s < slices; ++s) acc = combine(acc, partial[s * cols + col], mode);
    y[col] = st<T>(mode == kMean ? acc * A(scale) : acc);
  }
}

// General: out_ix walks the kept dims (x strides), red_ix the reduced dims.
template <class T> __global__ void k_reduce_general(const T* x, T* y, int64_t ny, Index8 out_ix, Index8 red_ix,
                                                    int64_t count, int mode, double scale) {
  using A = Acc<T>;
  FT_GRID_LOOP(o, ny) {
    int64_t base, u;
    offsets(out_ix, o, base, u);
    A acc = init_of<A>(mode);
    for (int64_t r = 0; r < count; ++r) {
      int64_t off;
      offsets(red_ix, r, off, u);
      acc = combine(acc, ld(x[base + off]), mode);
    }
    y[o] = st<T>(mode == kMean ? acc * A(scale) : acc);
  }
}

// dx[o] = g[k] * scale (sum, mean) or (x[o] == y[k] ? g[k] : 0) (max), k = o's kept index.
template <class T> __global__ void k_reduce_grad(const T* g, const T* x, const T* y, T* dx, int64_t n, Index8 ix,
                                                 int mode, double scale) {
  using A = Acc<T>;
  FT_GRID_LOOP(o, n) {
    int64_t k, u;
    offsets(ix, o, k, u);
    if (mode == kMax) dx[o] = ld(x[o]) == ld(y[k]) ? g[k] : st<T>(A(0));
    else dx[o] = st<T>(ld(g[k]) * A(scale));
  }
}

std::vector<int64_t> axes_of(const AttrMap& a, int64_t rank) {
  std::vector<int64_t> axes;
  if (a.has("axes")) for (int64_t x : a.ints("axes")) axes.push_back(ops::norm_axis(x, rank));
  if (axes.empty()) for (int64_t i = 0; i < rank; ++i) axes.push_back(i);
  std::sort(axes.begin(), axes.end());
  axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
  return axes;
}

Shape kept_shape(const Shape& x, const std::vector<int64_t>& axes) {
  Shape k = x;
  for (int64_t a : axes) k[size_t(a)] = 1;
  return k;
}

// y (kept's numel) = reduce x over the dims where kept is 1 and x is not.
template <class T> void reduce_into(const T* x, const Shape& xs, const Shape& kept, T* y, int mode) {
  const int64_t nx = numel(xs), ny = numel(kept);
  if (ny == 0) return;
  const int64_t count = nx / ny;
  const double scale = count ? 1.0 / double(count) : 0.0;
  cudaStream_t s = stream();
  if (nx == ny) {  // nothing reduced (only size-1 axes)
    copy_on_device(y, x, size_t(nx) * sizeof(T), s);
    return;
  }
  // Contiguity over the non-size-1 dims: pattern kept* reduced+ kept*.
  int phase = 0;  // 0 before, 1 inside, 2 after the reduced run
  bool contiguous = true;
  int64_t outer = 1, red = 1, inner = 1;
  for (size_t d = 0; d < xs.size(); ++d) {
    if (xs[d] == 1) continue;
    const bool r = kept[d] == 1;
    if (r && phase == 0) phase = 1;
    else if (!r && phase == 1) phase = 2;
    else if (r && phase == 2) contiguous = false;
    (phase == 0 ? outer : phase == 1 ? red : inner) *= xs[d];
  }
  if (count == 0) contiguous = false;  // empty reduced extent: the general kernel writes the identity
  if (contiguous && inner == 1) {
    const unsigned blocks = unsigned(std::min<int64_t>(outer, 1 << 16));
    k_reduce_rows<T><<<blocks, kThreads, 0, s>>>(x, y, outer, red, mode, scale);
  } else if (contiguous) {
    const int64_t cols = outer * inner;
    int slices = 1;
    if (cols < 32768 && red >= 256) slices = int(std::min<int64_t>(64, std::max<int64_t>(1, 32768 / cols)));
    slices = int(std::min<int64_t>(slices, red));
    const int64_t chunk = (red + slices - 1) / slices;
    DeviceBuffer partial(slices > 1 ? size_t(slices * cols) * sizeof(Acc<T>) : 0);
    Acc<T>* pp = static_cast<Acc<T>*>(partial.get());
    k_reduce_cols<T><<<grid_for(cols * slices), kThreads, 0, s>>>(x, pp, y, outer, red, inner, chunk, slices, mode,
                                                                   scale);
    if (slices > 1) k_reduce_slices<T><<<grid_for(cols), kThreads, 0, s>>>(pp, y, cols, slices, mode, scale);
    // `partial` returns to the cache here; the next user is stream-ordered after these kernels.
  } else {
    const auto xst = ops::strides_of(xs);
    Shape os, rs;
    std::vector<int64_t> ost, rst;
    for (size_t d = 0; d < xs.size(); ++d) {
      if (kept[d] == 1 && xs[d] != 1) {
        rs.push_back(xs[d]);
        rst.push_back(xst[d]);
      } else {
        os.push_back(kept[d]);
        ost.push_back(xst[d]);
      }
    }
    k_reduce_general<T><<<grid_for(ny), kThreads, 0, s>>>(x, y, ny, make_index(os, ost), make_index(rs, rst), count,
                                                          mode, scale);
  }
  FT_CUDA_LAUNCHED();
}

template <class T> void reduce_fwd(KernelCtx& c, int mode) {
  const Tensor& X = c.in(0);
  const auto axes = axes_of(c.attrs(), X.rank());
  reduce_into<T>(dptr<T>(X), X.shape(), kept_shape(X.shape(), axes), dptr<T>(c.out(0)), mode);
}

// (g, x[, y]) -> dx of x's shape
template <class T> void reduce_bwd(KernelCtx& c) {
  const Tensor& G = c.in(0);
  const Tensor& X = c.in(1);
  Tensor& DX = c.out(0);
  const int64_t n = DX.numel();
  if (n == 0) return;
  const std::string& m = c.attrs().s("mode");
  const int mode = m == "max" ? kMax : m == "mean" ? kMean : kSum;
  const auto axes = axes_of(c.attrs(), X.rank());
  const Shape kept = kept_shape(X.shape(), axes);
  const double scale = mode == kMean ? 1.0 / double(std::max<int64_t>(1, X.numel() / std::max<int64_t>(1, G.numel())))
                                     : 1.0;
  const T* y = mode == kMax ? dptr<T>(c.in(2)) : nullptr;
  Index8 ix = make_index(X.shape(), aligned_strides(X.shape(), kept));
  k_reduce_grad<T><<<grid_for(n), kThreads, 0, stream()>>>(dptr<T>(G), dptr<T>(X), y, dptr<T>(DX), n, ix, mode, scale);
  FT_CUDA_LAUNCHED();
}

// sum_to_like(g, x): g summed over the dims broadcast from x's shape.
template <class T> void sum_to_like(KernelCtx& c) {
  const Tensor& G = c.in(0);
  Tensor& Y = c.out(0);
  Shape kept(G.shape().size() - Y.shape().size(), 1);
  kept.insert(kept.end(), Y.shape().begin(), Y.shape().end());
  reduce_into<T>(dptr<T>(G), G.shape(), kept, dptr<T>(Y), kSum);
}

}  // namespace

void register_reduce_cuda() {
  reg_all_float("reduce_sum", [](KernelCtx& c, auto t) { reduce_fwd<decltype(t)>(c, kSum); });
  reg_all_float("reduce_mean", [](KernelCtx& c, auto t) { reduce_fwd<decltype(t)>(c, kMean); });
  reg_all_float("reduce_max", [](KernelCtx& c, auto t) { reduce_fwd<decltype(t)>(c, kMax); });
  reg_all_float("reduce_grad", [](KernelCtx& c, auto t) { reduce_bwd<decltype(t)>(c); });
  reg_all_float("sum_to_like", [](KernelCtx& c, auto t) { sum_to_like<decltype(t)>(c); });
}

}  // namespace cuda
}  // namespace ft
