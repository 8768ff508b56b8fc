// cpu/reduce.cpp — reduction kernels. The input is viewed as (outer, red, inner)
// when the reduced axes are contiguous (the common case), else walked generally.
#include <algorithm>
#include <limits>

#include "ops/op_util.h"

namespace ft {
namespace ops {
namespace {

// x's shape with reduced dims set to 1.
Shape kept_shape(const Shape& x, const std::vector<int64_t>& axes) {
  Shape k = x;
  for (int64_t a : axes) k[size_t(a)] = 1;
  return k;
}

template <class T>
void reduce_fwd(KernelCtx& c, int mode) {  // 0 sum, 1 mean, 2 max
  const Tensor& X = c.in(0);
  Tensor& Y = c.out(0);
  auto axes = reduce_axes(c.attrs(), X.rank());
  const T* x = X.data<T>();
  T* y = Y.data<T>();
  const int64_t ny = Y.numel(), nx = X.numel();
  const int64_t count = ny ? nx / std::max<int64_t>(1, ny) : 0;
  T init = mode == 2 ? -std::numeric_limits<T>::infinity() : T(0);
  std::fill(y, y + ny, init);
  bool contiguous = true;
  for (size_t i = 1; i < axes.size(); ++i) contiguous = contiguous && axes[i] == axes[i - 1] + 1;
  if (contiguous && !axes.empty()) {
    int64_t outer = 1, red = 1, inner = 1;
    for (int64_t i = 0; i < X.rank(); ++i) {
      if (i < axes.front()) outer *= X.dim(int(i));
      else if (i <= axes.back()) red *= X.dim(int(i));
      else inner *= X.dim(int(i));
    }
    c.pool->parallel_for(outer, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(1, red * inner)),
                         [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) {
        T* yo = y + o * inner;
        for (int64_t r = 0; r < red; ++r) {
          const T* xr = x + (o * red + r) * inner;
          if (mode == 2) for (int64_t i = 0; i < inner; ++i) yo[i] = std::max(yo[i], xr[i]);
          else for (int64_t i = 0; i < inner; ++i) yo[i] += xr[i];
        }
      }
    });
  } else {
    broadcast_loop(X.shape(), kept_shape(X.shape(), axes), Shape{}, [&](int64_t o, int64_t i, int64_t) {
      y[i] = mode == 2 ? std::max(y[i], x[o]) : y[i] + x[o];
    });
  }
  if (mode == 1 && count > 0)
    for (int64_t i = 0; i < ny; ++i) y[i] /= T(count);
}

template <class T>
void reduce_bwd(KernelCtx& c) {
  const Tensor& G = c.in(0);
  const Tensor& X = c.in(1);
  Tensor& DX = c.out(0);
  const std::string& mode = c.attrs().s("mode");
  auto axes = reduce_axes(c.attrs(), X.rank());
  Shape kept = kept_shape(X.shape(), axes);
  const T* g = G.data<T>();
  T* dx = DX.data<T>();
  const T s = mode == "mean" ? T(1) / T(std::max<int64_t>(1, X.numel() / std::max<int64_t>(1, G.numel()))) : T(1);
  if (mode == "max") {
    const T* x = X.data<T>();
    const T* y = c.in(2).data<T>();
    broadcast_loop(X.shape(), kept, Shape{}, [&](int64_t o, int64_t i, int64_t) { dx[o] = x[o] == y[i] ? g[i] : T(0); });
  } else {
    broadcast_loop(X.shape(), kept, Shape{}, [&](int64_t o, int64_t i, int64_t) { dx[o] = g[i] * s; });
  }
}

}  // namespace

void register_reduce_cpu() {
  cpu_float_kernel("reduce_sum", [](KernelCtx& c, auto t) { reduce_fwd<decltype(t)>(c, 0); });
  cpu_float_kernel("reduce_mean", [](KernelCtx& c, auto t) { reduce_fwd<decltype(t)>(c, 1); });
  cpu_float_kernel("reduce_max", [](KernelCtx& c, auto t) { reduce_fwd<decltype(t)>(c, 2); });
  cpu_float_kernel("reduce_grad", [](KernelCtx& c, auto t) { reduce_bwd<decltype(t)>(c); });
}

}  // namespace ops
}  // namespace ft
