// cuda/shape.cu — data-moving shape kernels: transpose, concat, split, slice and
// slice_grad as one strided block copy (moved as 2/4/8-byte words, so one kernel
// serves every dtype); gather (embedding lookup), gather_grad (scatter-add with
// atomicAdd; summation order is not fixed), one_hot, argmax. reshape and
// reshape_like are views: their kernels do nothing. Out-of-range indices set a
// bit in the device error word (reported by cuda::synchronize) and read as 0.
#include "ops/cuda/kernel_util.cuh"

namespace ft {
namespace cuda {
namespace {

using Strides = std::vector<int64_t>;

// dst[block index . dst strides] = src[block index . src strides] over `shape`.
template <class E> __global__ void k_copy_strided(const E* src, E* dst, int64_t n, Index8 ix) {
  FT_GRID_LOOP(i, n) {
    int64_t so, d;
    offsets(ix, i, so, d);
    dst[d] = src[so];
  }
}

template <class E> void copy_block(const Shape& shape, const E* src, const Strides& ss, E* dst, const Strides& ds) {
  const int64_t n = numel(shape);
  if (n == 0) return;
  k_copy_strided<E><<<grid_for(n), kThreads, 0, stream()>>>(src, dst, n, make_index(shape, ss, ds));
  FT_CUDA_LAUNCHED();
}

// Registers f(ctx, E{}) with E the word type of each dtype's element size.
template <class F> void reg_words(const std::string& op, F f) {
  add_kernel<uint32_t>(op, DType::F32, f);
  add_kernel<uint64_t>(op, DType::F64, f);
  add_kernel<uint32_t>(op, DType::I32, f);
  add_kernel<uint64_t>(op, DType::I64, f);
  add_kernel<uint16_t>(op, DType::F16, f);
  add_kernel<uint16_t>(op, DType::BF16, f);
}

template <class E> void transpose(KernelCtx& c) {
  const Tensor& X = c.in(0);
  Tensor& Y = c.out(0);
  const auto& perm = c.attrs().ints("perm");
  const Strides xs = ops::strides_of(X.shape());
  Strides ist(perm.size());  // input stride of each output dim
  for (size_t i = 0; i < perm.size(); ++i) ist[i] = xs[size_t(ops::norm_axis(perm[i], X.rank()))];
  copy_block<E>(Y.shape(), dptr<E>(X), ist, dptr<E>(Y), ops::strides_of(Y.shape()));
}

template <class E> void concat(KernelCtx& c) {
  Tensor& Y = c.out(0);
  const int64_t axis = ops::norm_axis(c.attrs().i("axis"), Y.rank());
  const Strides ys = ops::strides_of(Y.shape());
  int64_t off = 0;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const Tensor& X = c.in(int(i));
    copy_block<E>(X.shape(), dptr<E>(X), ops::strides_of(X.shape()), dptr<E>(Y) + off * ys[size_t(axis)], ys);
    off += X.dim(int(axis));
  }
}

template <class E> void split(KernelCtx& c) {  // split and split_like: pieces from the output shapes
  const Tensor& X = c.in(0);
  const int64_t axis = ops::norm_axis(c.attrs().i("axis"), X.rank());
  const Strides xs = ops::strides_of(X.shape());
  int64_t off = 0;
  for (size_t i = 0; i < c.outputs.size(); ++i) {
    Tensor& Y = c.out(int(i));
    copy_block<E>(Y.shape(), dptr<E>(X) + off * xs[size_t(axis)], xs, dptr<E>(Y), ops::strides_of(Y.shape()));
    off += Y.dim(int(axis));
  }
}

int64_t begin_offset(const std::vector<int64_t>& begin, const Strides& st) {
  int64_t o = 0;
  for (size_t d = 0; d < begin.size(); ++d) o += begin[d] * st[d];
  return o;
}

template <class E> void slice(KernelCtx& c) {
  const Tensor& X = c.in(0);
  Tensor& Y = c.out(0);
  const Strides xs = ops::strides_of(X.shape());
  copy_block<E>(Y.shape(), dptr<E>(X) + begin_offset(c.attrs().ints("begin"), xs), xs, dptr<E>(Y),
                ops::strides_of(Y.shape()));
}

template <class E> void slice_grad(KernelCtx& c) {  // (g, x) -> zeros of x's shape with g at begin
  const Tensor& G = c.in(0);
  Tensor& DX = c.out(0);
  memset_device(DX.raw(), 0, DX.bytes(), stream());
  const Strides ds = ops::strides_of(DX.shape());
  copy_block<E>(G.shape(), dptr<E>(G), ops::strides_of(G.shape()),
                dptr<E>(DX) + begin_offset(c.attrs().ints("begin"), ds), ds);
}

// ---- gather / gather_grad: params (V, row...), indices (N...)
template <class E, class I> __global__ void k_gather(const E* p, const I* idx, E* y, int64_t n, int64_t row, int64_t v,
                                                     unsigned* err) {
  FT_GRID_LOOP(t, n * row) {
    const int64_t k = t / row, d = t % row;
    const int64_t i = int64_t(idx[k]);
    if (i < 0 || i >= v) {
      if (d == 0) atomicOr(err, unsigned(kGatherIndexOutOfRange));
      y[t] = E(0);
    } else {
      y[t] = p[i * row + d];
    }
  }
}

template <class T, class I> __global__ void k_scatter_add(const T* g, const I* idx, T* dp, int64_t n, int64_t row,
                                                          int64_t v, unsigned* err) {
  FT_GRID_LOOP(t, n * row) {
    const int64_t k = t / row, d = t % row;
    const int64_t i = int64_t(idx[k]);
    if (i < 0 || i >= v) {
      if (d == 0) atomicOr(err, unsigned(kGatherGradIndexOutOfRange));
    } else {
      atomicAdd(dp + i * row + d, g[t]);
    }
  }
}

template <class F> void visit_index(DType dt, F f) {
  if (dt == DType::I32) f(int32_t{});
  else if (dt == DType::I64) f(int64_t{});
  else throw Error(std::string("cuda gather: indices must be i32 or i64, got ") + dtype_name(dt));
}

template <class E> void gather(KernelCtx& c) {
  const Tensor &P = c.in(0), &I = c.in(1);
  const int64_t v = P.dim(0), row = v ? P.numel() / v : 0, n = I.numel();
  if (n * row == 0) return;
  unsigned* err = device_error_word();
  visit_index(I.dtype(), [&](auto it) {
    using Ix = decltype(it);
    k_gather<E, Ix><<<grid_for(n * row), kThreads, 0, stream()>>>(dptr<E>(P), dptr<Ix>(I), dptr<E>(c.out(0)), n, row,
                                                                  v, err);
  });
  FT_CUDA_LAUNCHED();
}

template <class T> void gather_grad(KernelCtx& c) {  // (g (N..., row...), indices (N...), params) -> (V, row...)
  const Tensor &G = c.in(0), &I = c.in(1);
  Tensor& DP = c.out(0);
  const int64_t v = DP.dim(0), row = v ? DP.numel() / v : 0, n = I.numel();
  memset_device(DP.raw(), 0, DP.bytes(), stream());
  if (n * row == 0) return;
  unsigned* err = device_error_word();
  visit_index(I.dtype(), [&](auto it) {
    using Ix = decltype(it);
    k_scatter_add<T, Ix><<<grid_for(n * row), kThreads, 0, stream()>>>(dptr<T>(G), dptr<Ix>(I), dptr<T>(DP), n, row,
                                                                       v, err);
  });
  FT_CUDA_LAUNCHED();
}

// ---- one_hot (out-of-range indices give a zero row), argmax (first maximum)
template <class I> __global__ void k_one_hot(const I* x, float* y, int64_t n, int64_t depth) {
  FT_GRID_LOOP(i, n) {
    const int64_t k = int64_t(x[i]);
    if (k >= 0 && k < depth) y[i * depth + k] = 1.f;
  }
}

template <class T> __global__ void k_argmax(const T* x, int64_t* y, int64_t outer, int64_t red, int64_t inner) {
  FT_GRID_LOOP(t, outer * inner) {
    const int64_t o = t / inner, i = t % inner;
    const T* xs = x + o * red * inner + i;
    int64_t best = 0;
    Acc<T> bv = ld(xs[0]);
    for (int64_t r = 1; r < red; ++r) {
      const Acc<T> v = ld(xs[r * inner]);
      if (v > bv) {
        bv = v;
        best = r;
      }
    }
    y[t] = best;
  }
}

template <class I> void one_hot(KernelCtx& c) {
  const Tensor& X = c.in(0);
  Tensor& Y = c.out(0);
  memset_device(Y.raw(), 0, Y.bytes(), stream());
  if (X.numel() == 0) return;
  k_one_hot<I><<<grid_for(X.numel()), kThreads, 0, stream()>>>(dptr<I>(X), dptr<float>(Y), X.numel(),
                                                                c.attrs().i("depth"));
  FT_CUDA_LAUNCHED();
}

template <class T> void argmax(KernelCtx& c) {
  const Tensor& X = c.in(0);
  const int64_t axis = ops::norm_axis(c.attrs().i("axis"), X.rank());
  int64_t outer = 1, inner = 1;
  const int64_t red = X.dim(int(axis));
  for (int64_t d = 0; d < X.rank(); ++d) {
    if (d < axis) outer *= X.dim(int(d));
    else if (d > axis) inner *= X.dim(int(d));
  }
  if (outer * inner == 0 || red == 0) return;
  k_argmax<T><<<grid_for(outer * inner), kThreads, 0, stream()>>>(dptr<T>(X), dptr<int64_t>(c.out(0)), outer, red,
                                                                  inner);
  FT_CUDA_LAUNCHED();
}

}  // namespace

void register_shape_cuda() {
  auto noop = [](KernelCtx&, auto) {};
  reg_words("reshape", noop);
  reg_words("reshape_like", noop);
  reg_words("transpose", [](KernelCtx& c, auto e) { transpose<decltype(e)>(c); });
  reg_words("concat", [](KernelCtx& c, auto e) { concat<decltype(e)>(c); });
  reg_words("split", [](KernelCtx& c, auto e) { split<decltype(e)>(c); });
  reg_words("split_like", [](KernelCtx& c, auto e) { split<decltype(e)>(c); });
  reg_words("slice", [](KernelCtx& c, auto e) { slice<decltype(e)>(c); });
  reg_words("slice_grad", [](KernelCtx& c, auto e) { slice_grad<decltype(e)>(c); });
  reg_words("gather", [](KernelCtx& c, auto e) { gather<decltype(e)>(c); });
  reg_all_float("gather_grad", [](KernelCtx& c, auto t) { gather_grad<decltype(t)>(c); });
  reg_int("one_hot", [](KernelCtx& c, auto t) { one_hot<decltype(t)>(c); });
  reg_all_float("argmax", [](KernelCtx& c, auto t) { argmax<decltype(t)>(c); });
  reg_int("argmax", [](KernelCtx& c, auto t) { argmax<decltype(t)>(c); });
}

}  // namespace cuda
}  // namespace ft
