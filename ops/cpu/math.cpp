// cpu/math.cpp — elementwise CPU kernels (Eigen arrays, chunked on the pool).
#include <algorithm>
#include <cmath>

#include "ops/op_util.h"

namespace ft {
namespace ops {
namespace {

constexpr int64_t kGrain = 1 << 15;
// Each chunk is evaluated in blocks of this many elements: an expression that needs
// temporaries (gelu's tanh, its gradient) then allocates 16 KiB, which malloc
// reuses, instead of a chunk-sized buffer that a single-threaded run would take
// from fresh pages every step (the heap's top is trimmed after each free).
constexpr int64_t kBlock = 4096;

// y = f(x) elementwise, as Eigen array expressions over chunks.
template <class T, class F>
void unary_map(KernelCtx& c, F f) {
  const T* x = c.in(0).data<T>();
  T* y = c.out(0).data<T>();
  c.pool->parallel_for(c.in(0).numel(), kGrain, [&](int64_t b, int64_t e) {
    for (int64_t s = b; s < e; s += kBlock) {
      const int64_t n = std::min(kBlock, e - s);
      CVec<T> xs(x + s, n);
      Vec<T> ys(y + s, n);
      ys = f(xs);
    }
  });
}

// out = f(g, y) elementwise (backward helpers).
template <class T, class F>
void binary_same(KernelCtx& c, F f) {
  const T* a = c.in(0).data<T>();
  const T* b = c.in(1).data<T>();
  T* y = c.out(0).data<T>();
  c.pool->parallel_for(c.out(0).numel(), kGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t s = lo; s < hi; s += kBlock) {
      const int64_t n = std::min(kBlock, hi - s);
      CVec<T> as(a + s, n), bs(b + s, n);
      Vec<T> ys(y + s, n);
      ys = f(as, bs);
    }
  });
}

// When `b` (right-aligned against `out`) is 1 everywhere except one contiguous
// block of dims equal to out's, out can be viewed as (outer, mid, inner) with b
// indexed by mid: a bias over features (N, C) + (C) or channels (N, C, H, W) + (C, 1, 1).
bool block_broadcast(const Shape& out, const Shape& b, int64_t& outer, int64_t& mid, int64_t& inner) {
  if (b.size() > out.size()) return false;
  const size_t off = out.size() - b.size();
  int first = -1, last = -1;
  for (size_t i = 0; i < b.size(); ++i) {
    if (b[i] == 1) continue;
    if (b[i] != out[off + i]) return false;
    if (first < 0) first = int(off + i);
    else if (last != int(off + i) - 1) return false;
    last = int(off + i);
  }
  if (first < 0) return false;
  outer = mid = inner = 1;
  for (int i = 0; i < int(out.size()); ++i) {
    if (i < first) outer *= out[size_t(i)];
    else if (i <= last) mid *= out[size_t(i)];
    else inner *= out[size_t(i)];
  }
  return true;
}

template <class T, class F>
void binary_bcast(KernelCtx& c, F f) {
  const Tensor &A = c.in(0), &B = c.in(1);
  Tensor& Y = c.out(0);
  const T* a = A.data<T>();
  const T* b = B.data<T>();
  T* y = Y.data<T>();
  if (A.shape() == B.shape()) {
    c.pool->parallel_for(Y.numel(), kGrain, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) y[i] = f(a[i], b[i]);
    });
  } else if (B.numel() == 1) {
    const T bv = b[0];
    for (int64_t i = 0; i < Y.numel(); ++i) y[i] = f(a[i], bv);
  } else if (int64_t outer, mid, inner; A.shape() == Y.shape() && block_broadcast(Y.shape(), B.shape(), outer, mid, inner)) {
    // bias-style broadcast: y[o, m, i] = f(a[o, m, i], b[m])
    if (inner == 1) {  // rows of b's length: no index arithmetic per element, vectorizes
      c.pool->parallel_for(outer, std::max<int64_t>(1, kGrain / mid), [&](int64_t s, int64_t e) {
        for (int64_t o = s; o < e; ++o) {
          const T* ar = a + o * mid;
          T* yr = y + o * mid;
          for (int64_t m = 0; m < mid; ++m) yr[m] = f(ar[m], b[m]);
        }
      });
      return;
    }
    c.pool->parallel_for(outer * mid, std::max<int64_t>(1, kGrain / inner), [&](int64_t s, int64_t e) {
      for (int64_t r = s; r < e; ++r) {
        const T bv = b[r % mid];
        const T* ar = a + r * inner;
        T* yr = y + r * inner;
        for (int64_t j = 0; j < inner; ++j) yr[j] = f(ar[j], bv);
      }
    });
  } else {
    broadcast_loop(Y.shape(), A.shape(), B.shape(), [&](int64_t o, int64_t i, int64_t j) { y[o] = f(a[i], b[j]); });
  }
}

// GELU, tanh form, on Eigen arrays: tanh() vectorizes (Eigen's rational
// approximation for float), several times faster than std::tanh per element.
constexpr double kGeluK = 0.7978845608028654;  // sqrt(2/pi)
constexpr double kGeluC = 0.044715;
template <class T, class X>
auto gelu_tanh(const X& x) {
  return (T(kGeluK) * (x + T(kGeluC) * x.cube())).tanh();
}

}  // namespace

void register_math_cpu() {
  cpu_float_kernel("add", [](KernelCtx& c, auto t) { binary_bcast<decltype(t)>(c, [](auto a, auto b) { return a + b; }); });
  cpu_float_kernel("sub", [](KernelCtx& c, auto t) { binary_bcast<decltype(t)>(c, [](auto a, auto b) { return a - b; }); });
  cpu_float_kernel("mul", [](KernelCtx& c, auto t) { binary_bcast<decltype(t)>(c, [](auto a, auto b) { return a * b; }); });
  cpu_float_kernel("div", [](KernelCtx& c, auto t) { binary_bcast<decltype(t)>(c, [](auto a, auto b) { return a / b; }); });
  cpu_float_kernel("pow", [](KernelCtx& c, auto t) {
    binary_bcast<decltype(t)>(c, [](auto a, auto b) { return std::pow(a, b); });
  });
  cpu_int_kernel("add", [](KernelCtx& c, auto t) { binary_bcast<decltype(t)>(c, [](auto a, auto b) { return a + b; }); });
  cpu_int_kernel("mul", [](KernelCtx& c, auto t) { binary_bcast<decltype(t)>(c, [](auto a, auto b) { return a * b; }); });
  cpu_float_kernel("add_n", [](KernelCtx& c, auto t) {
    using T = decltype(t);
    T* y = c.out(0).data<T>();
    c.pool->parallel_for(c.out(0).numel(), kGrain, [&](int64_t s, int64_t e) {
      Vec<T> ys(y + s, e - s);
      ys = CVec<T>(c.in(0).data<T>() + s, e - s);
      for (size_t k = 1; k < c.inputs.size(); ++k) ys += CVec<T>(c.in(int(k)).data<T>() + s, e - s);
    });
  });
  cpu_float_kernel("neg", [](KernelCtx& c, auto t) { unary_map<decltype(t)>(c, [](const auto& x) { return -x; }); });
  cpu_float_kernel("exp", [](KernelCtx& c, auto t) { unary_map<decltype(t)>(c, [](const auto& x) { return x.exp(); }); });
  cpu_float_kernel("log", [](KernelCtx& c, auto t) { unary_map<decltype(t)>(c, [](const auto& x) { return x.log(); }); });
  cpu_float_kernel("sqrt", [](KernelCtx& c, auto t) { unary_map<decltype(t)>(c, [](const auto& x) { return x.sqrt(); }); });
  cpu_float_kernel("rsqrt", [](KernelCtx& c, auto t) { unary_map<decltype(t)>(c, [](const auto& x) { return x.rsqrt(); }); });
  cpu_float_kernel("square", [](KernelCtx& c, auto t) { unary_map<decltype(t)>(c, [](const auto& x) { return x.square(); }); });
  cpu_float_kernel("abs", [](KernelCtx& c, auto t) { unary_map<decltype(t)>(c, [](const auto& x) { return x.abs(); }); });
  cpu_float_kernel("sign", [](KernelCtx& c, auto t) { unary_map<decltype(t)>(c, [](const auto& x) { return x.sign(); }); });
  cpu_float_kernel("relu", [](KernelCtx& c, auto t) {
    using T = decltype(t);
    unary_map<T>(c, [](const auto& x) { return x.max(T(0)); });
  });
  cpu_float_kernel("tanh", [](KernelCtx& c, auto t) { unary_map<decltype(t)>(c, [](const auto& x) { return x.tanh(); }); });
  cpu_float_kernel("sigmoid", [](KernelCtx& c, auto t) {
    using T = decltype(t);
    unary_map<T>(c, [](const auto& x) { return T(1) / (T(1) + (-x).exp()); });
  });
  cpu_float_kernel("gelu", [](KernelCtx& c, auto t) {
    using T = decltype(t);
    unary_map<T>(c, [](const auto& x) { return T(0.5) * x * (T(1) + gelu_tanh<T>(x)); });
  });
  cpu_float_kernel("relu_grad", [](KernelCtx& c, auto t) {
    using T = decltype(t);
    binary_same<T>(c, [](const auto& g, const auto& y) { return (y > T(0)).select(g, T(0)); });
  });
  cpu_float_kernel("tanh_grad", [](KernelCtx& c, auto t) {
    using T = decltype(t);
    binary_same<T>(c, [](const auto& g, const auto& y) { return g * (T(1) - y * y); });
  });
  cpu_float_kernel("sigmoid_grad", [](KernelCtx& c, auto t) {
    using T = decltype(t);
    binary_same<T>(c, [](const auto& g, const auto& y) { return g * y * (T(1) - y); });
  });
  cpu_float_kernel("gelu_grad", [](KernelCtx& c, auto t) {
    using T = decltype(t);
    binary_same<T>(c, [](const auto& g, const auto& x) {
      Eigen::Array<T, Eigen::Dynamic, 1> th = gelu_tanh<T>(x);
      Eigen::Array<T, Eigen::Dynamic, 1> d =
          g * (T(0.5) * (T(1) + th) + T(0.5 * kGeluK) * x * (T(1) - th.square()) * (T(1) + T(3 * kGeluC) * x.square()));
      return d;
    });
  });
  auto fill = [](KernelCtx& c, double v) {
    Tensor& y = c.out(0);
    for (int64_t i = 0; i < y.numel(); ++i) {
      switch (y.dtype()) {
        case DType::F32: y.data<float>()[i] = float(v); break;
        case DType::F64: y.data<double>()[i] = v; break;
        case DType::I32: y.data<int32_t>()[i] = int32_t(v); break;
        case DType::I64: y.data<int64_t>()[i] = int64_t(v); break;
        default: throw Error("fill: unsupported dtype");
      }
    }
  };
  for (DType dt : {DType::F32, DType::F64, DType::I32, DType::I64}) {
    OpRegistry::get().add_kernel("ones_like", "cpu", dt, Kernel{[fill](KernelCtx& c) { fill(c, 1.0); }, {}});
    OpRegistry::get().add_kernel("zeros_like", "cpu", dt, Kernel{[fill](KernelCtx& c) { fill(c, 0.0); }, {}});
    OpRegistry::get().add_kernel("stop_gradient", "cpu", dt, Kernel{[](KernelCtx& c) { c.out(0).copy_from(c.in(0)); }, {}});
  }
  cpu_float_kernel("scale", [](KernelCtx& c, auto t) {
    using T = decltype(t);
    const T s = T(c.attrs().f("s"));
    unary_map<T>(c, [s](const auto& x) { return x * s; });
  });
  cpu_float_kernel("add_scalar", [](KernelCtx& c, auto t) {
    using T = decltype(t);
    const T s = T(c.attrs().f("s"));
    unary_map<T>(c, [s](const auto& x) { return x + s; });
  });
  cpu_float_kernel("sum_to_like", [](KernelCtx& c, auto t) {
    using T = decltype(t);
    const Tensor& G = c.in(0);
    Tensor& Y = c.out(0);
    const T* g = G.data<T>();
    T* y = Y.data<T>();
    if (Y.numel() == G.numel()) {
      std::copy(g, g + G.numel(), y);
      return;
    }
    std::fill(y, y + Y.numel(), T(0));
    if (int64_t outer, mid, inner; block_broadcast(G.shape(), Y.shape(), outer, mid, inner)) {
      // bias gradient: y[m] = sum over (o, i) of g[o, m, i], in a fixed order
      if (inner == 1) {  // (outer, mid) rows added in order: vectorized over m, the pool splits m
        const int64_t grain = std::max<int64_t>(16, (int64_t(1) << 15) / std::max<int64_t>(1, outer));
        c.pool->parallel_for(mid, grain, [&](int64_t m0, int64_t m1) {
          Vec<T> ys(y + m0, m1 - m0);
          for (int64_t o = 0; o < outer; ++o) ys += CVec<T>(g + o * mid + m0, m1 - m0);
        });
        return;
      }
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t m = 0; m < mid; ++m)  // Eigen's sum: vectorized, several partial sums
          y[m] += CVec<T>(g + (o * mid + m) * inner, inner).sum();
    } else {
      broadcast_loop(G.shape(), Y.shape(), Shape{}, [&](int64_t o, int64_t i, int64_t) { y[i] += g[o]; });
    }
  });
  cpu_float_kernel("broadcast_like", [](KernelCtx& c, auto t) {
    using T = decltype(t);
    const T* g = c.in(0).data<T>();
    T* y = c.out(0).data<T>();
    broadcast_loop(c.out(0).shape(), c.in(0).shape(), Shape{}, [&](int64_t o, int64_t i, int64_t) { y[o] = g[i]; });
  });
}

}  // namespace ops
}  // namespace ft
