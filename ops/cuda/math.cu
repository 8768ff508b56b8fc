// cuda/math.cu — elementwise CUDA kernels: binary ops with NumPy broadcasting,
// unary ops and their *_grad helpers, fills, casts (f32/f64/f16/bf16/i32/i64),
// scale/add_scalar, broadcast_like. Grid-stride loops on the compute stream;
// f16/bf16 compute in float.
#include "ops/cuda/kernel_util.cuh"
#include "ops/cuda/optim.h"

namespace ft {
namespace cuda {
namespace {

// ---- functors (arguments and results in Acc<T>)
struct Add { template <class A> __device__ A operator()(A a, A b) const { return a + b; } };
struct Sub { template <class A> __device__ A operator()(A a, A b) const { return a - b; } };
struct Mul { template <class A> __device__ A operator()(A a, A b) const { return a * b; } };
struct Div { template <class A> __device__ A operator()(A a, A b) const { return a / b; } };
struct Pow { template <class A> __device__ A operator()(A a, A b) const { return d_pow(a, b); } };

struct Neg { template <class A> __device__ A operator()(A x) const { return -x; } };
struct Exp { template <class A> __device__ A operator()(A x) const { return d_exp(x); } };
struct Log { template <class A> __device__ A operator()(A x) const { return d_log(x); } };
struct Sqrt { template <class A> __device__ A operator()(A x) const { return d_sqrt(x); } };
struct Rsqrt { template <class A> __device__ A operator()(A x) const { return d_rsqrt(x); } };
struct Square { template <class A> __device__ A operator()(A x) const { return x * x; } };
struct Abs { template <class A> __device__ A operator()(A x) const { return x < A(0) ? -x : x; } };
struct Sign { template <class A> __device__ A operator()(A x) const { return A((x > A(0)) - (x < A(0))); } };
struct Relu { template <class A> __device__ A operator()(A x) const { return x > A(0) ? x : A(0); } };
struct Tanh { template <class A> __device__ A operator()(A x) const { return d_tanh(x); } };
struct Sigmoid { template <class A> __device__ A operator()(A x) const { return A(1) / (A(1) + d_exp(-x)); } };

// GELU, tanh approximation (as the CPU kernel).
template <class A> __device__ A gelu_f(A x) {
  const A k = A(0.7978845608028654);
  return A(0.5) * x * (A(1) + d_tanh(k * (x + A(0.044715) * x * x * x)));
}
template <class A> __device__ A gelu_d(A x) {
  const A k = A(0.7978845608028654);
  const A t = d_tanh(k * (x + A(0.044715) * x * x * x));
  return A(0.5) * (A(1) + t) + A(0.5) * x * (A(1) - t * t) * k * (A(1) + A(3 * 0.044715) * x * x);
}
struct Gelu { template <class A> __device__ A operator()(A x) const { return gelu_f(x); } };

struct Scale {
  double s;
  template <class A> __device__ A operator()(A x) const { return x * A(s); }
};
struct AddScalar {
  double s;
  template <class A> __device__ A operator()(A x) const { return x + A(s); }
};

// (g, y) or (g, x) backward helpers
struct ReluGrad { template <class A> __device__ A operator()(A g, A y) const { return y > A(0) ? g : A(0); } };
struct TanhGrad { template <class A> __device__ A operator()(A g, A y) const { return g * (A(1) - y * y); } };
struct SigmoidGrad { template <class A> __device__ A operator()(A g, A y) const { return g * y * (A(1) - y); } };
struct GeluGrad { template <class A> __device__ A operator()(A g, A x) const { return g * gelu_d(x); } };

// ---- kernels
template <class T, class F> __global__ void k_unary(const T* x, T* y, int64_t n, F f) {
  FT_GRID_LOOP(i, n) y[i] = st<T>(f(ld(x[i])));
}
template <class T, class F> __global__ void k_binary(const T* a, const T* b, T* y, int64_t n, F f) {
  FT_GRID_LOOP(i, n) y[i] = st<T>(f(ld(a[i]), ld(b[i])));
}
template <class T, class F> __global__ void k_binary_scalar(const T* a, const T* b, T* y, int64_t n, F f) {
  const Acc<T> bv = ld(b[0]);
  FT_GRID_LOOP(i, n) y[i] = st<T>(f(ld(a[i]), bv));
}
template <class T, class F> __global__ void k_binary_bcast(const T* a, const T* b, T* y, int64_t n, Index8 ix, F f) {
  FT_GRID_LOOP(i, n) {
    int64_t oa, ob;
    offsets(ix, i, oa, ob);
    y[i] = st<T>(f(ld(a[oa]), ld(b[ob])));
  }
}
template <class T> __global__ void k_bcast_copy(const T* x, T* y, int64_t n, Index8 ix) {
  FT_GRID_LOOP(i, n) {
    int64_t ox, unused;
    offsets(ix, i, ox, unused);
    y[i] = x[ox];
  }
}
template <class T> __global__ void k_fill(T* y, int64_t n, T v) {
  FT_GRID_LOOP(i, n) y[i] = v;
}

// Exact conversions through double (f16/bf16 round to nearest even; ints truncate).
template <class S> __device__ __forceinline__ double to_f64(S x) { return double(x); }
template <> __device__ __forceinline__ double to_f64(__half x) { return double(__half2float(x)); }
template <> __device__ __forceinline__ double to_f64(__nv_bfloat16 x) { return double(__bfloat162float(x)); }
template <class D> __device__ __forceinline__ D from_f64(double v) { return D(v); }
template <> __device__ __forceinline__ __half from_f64(double v) { return __double2half(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f64(double v) { return __double2bfloat16(v); }
template <class S, class D> __global__ void k_cast(const S* x, D* y, int64_t n) {
  FT_GRID_LOOP(i, n) y[i] = from_f64<D>(to_f64(x[i]));
}
// f32 -> f16/bf16 directly from float (the common mixed-precision path).
template <class D> __global__ void k_from_f32(const float* x, D* y, int64_t n) {
  FT_GRID_LOOP(i, n) y[i] = D(x[i]);
}

// ---- launchers
template <class T, class F> void unary(KernelCtx& c, F f) {
  const int64_t n = c.out(0).numel();
  if (n == 0) return;
  k_unary<T><<<grid_for(n), kThreads, 0, stream()>>>(dptr<T>(c.in(0)), dptr<T>(c.out(0)), n, f);
  FT_CUDA_LAUNCHED();
}

// out = f(in0, in1) elementwise, same shapes (backward helpers).
template <class T, class F> void binary_same(KernelCtx& c, F f) {
  const int64_t n = c.out(0).numel();
  if (n == 0) return;
  k_binary<T><<<grid_for(n), kThreads, 0, stream()>>>(dptr<T>(c.in(0)), dptr<T>(c.in(1)), dptr<T>(c.out(0)), n, f);
  FT_CUDA_LAUNCHED();
}

template <class T, class F> void binary_bcast(KernelCtx& c, F f) {
  const Tensor &A = c.in(0), &B = c.in(1);
  Tensor& Y = c.out(0);
  const int64_t n = Y.numel();
  if (n == 0) return;
  const T* a = dptr<T>(A);
  const T* b = dptr<T>(B);
  T* y = dptr<T>(Y);
  if (A.shape() == B.shape()) {
    k_binary<T><<<grid_for(n), kThreads, 0, stream()>>>(a, b, y, n, f);
  } else if (B.numel() == 1 && A.numel() == n) {
    k_binary_scalar<T><<<grid_for(n), kThreads, 0, stream()>>>(a, b, y, n, f);
  } else {
    Index8 ix = make_index(Y.shape(), aligned_strides(Y.shape(), A.shape()), aligned_strides(Y.shape(), B.shape()));
    k_binary_bcast<T><<<grid_for(n), kThreads, 0, stream()>>>(a, b, y, n, ix, f);
  }
  FT_CUDA_LAUNCHED();
}

template <class T> void add_n(KernelCtx& c) {
  const int64_t n = c.out(0).numel();
  if (n == 0) return;
  T* y = dptr<T>(c.out(0));
  k_binary<T><<<grid_for(n), kThreads, 0, stream()>>>(dptr<T>(c.in(0)), dptr<T>(c.in(1)), y, n, Add{});
  for (size_t k = 2; k < c.inputs.size(); ++k)
    k_binary<T><<<grid_for(n), kThreads, 0, stream()>>>(y, dptr<T>(c.in(int(k))), y, n, Add{});
  FT_CUDA_LAUNCHED();
}

template <class T> void broadcast_like(KernelCtx& c) {
  Tensor& Y = c.out(0);
  const int64_t n = Y.numel();
  if (n == 0) return;
  Index8 ix = make_index(Y.shape(), aligned_strides(Y.shape(), c.in(0).shape()));
  k_bcast_copy<T><<<grid_for(n), kThreads, 0, stream()>>>(dptr<T>(c.in(0)), dptr<T>(Y), n, ix);
  FT_CUDA_LAUNCHED();
}

template <class T> void fill(Tensor& y, double v) {
  const int64_t n = y.numel();
  if (n == 0) return;
  if (v == 0.0) {
    memset_device(y.raw(), 0, y.bytes(), stream());
    return;
  }
  k_fill<T><<<grid_for(n), kThreads, 0, stream()>>>(dptr<T>(y), n, T(v));
  FT_CUDA_LAUNCHED();
}

template <class S> void cast_from(const void* x, DType to, void* y, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  visit_dtype(to, [&](auto d) {
    using D = decltype(d);
    k_cast<S, D><<<grid_for(n), kThreads, 0, s>>>(static_cast<const S*>(x), static_cast<D*>(y), n);
  });
  FT_CUDA_LAUNCHED();
}

}  // namespace

void convert(const void* src, DType from, void* dst, DType to, int64_t n, Stream s) {
  cudaStream_t st = s ? s : stream();
  if (n == 0) return;
  if (from == DType::F32 && to == DType::F16) {
    k_from_f32<__half><<<grid_for(n), kThreads, 0, st>>>(static_cast<const float*>(src), static_cast<__half*>(dst), n);
  } else if (from == DType::F32 && to == DType::BF16) {
    k_from_f32<__nv_bfloat16><<<grid_for(n), kThreads, 0, st>>>(static_cast<const float*>(src),
                                                                 static_cast<__nv_bfloat16*>(dst), n);
  } else {
    visit_dtype(from, [&](auto t) { cast_from<decltype(t)>(src, to, dst, n, st); });
  }
  FT_CUDA_LAUNCHED();
}

void register_math_cuda() {
  reg_all_float("add", [](KernelCtx& c, auto t) { binary_bcast<decltype(t)>(c, Add{}); });
  reg_all_float("sub", [](KernelCtx& c, auto t) { binary_bcast<decltype(t)>(c, Sub{}); });
  reg_all_float("mul", [](KernelCtx& c, auto t) { binary_bcast<decltype(t)>(c, Mul{}); });
  reg_all_float("div", [](KernelCtx& c, auto t) { binary_bcast<decltype(t)>(c, Div{}); });
  reg_float("pow", [](KernelCtx& c, auto t) { binary_bcast<decltype(t)>(c, Pow{}); });
  reg_int("add", [](KernelCtx& c, auto t) { binary_bcast<decltype(t)>(c, Add{}); });
  reg_int("mul", [](KernelCtx& c, auto t) { binary_bcast<decltype(t)>(c, Mul{}); });
  reg_all_float("add_n", [](KernelCtx& c, auto t) { add_n<decltype(t)>(c); });

  reg_all_float("neg", [](KernelCtx& c, auto t) { unary<decltype(t)>(c, Neg{}); });
  reg_all_float("exp", [](KernelCtx& c, auto t) { unary<decltype(t)>(c, Exp{}); });
  reg_all_float("log", [](KernelCtx& c, auto t) { unary<decltype(t)>(c, Log{}); });
  reg_all_float("sqrt", [](KernelCtx& c, auto t) { unary<decltype(t)>(c, Sqrt{}); });
  reg_all_float("rsqrt", [](KernelCtx& c, auto t) { unary<decltype(t)>(c, Rsqrt{}); });
  reg_all_float("square", [](KernelCtx& c, auto t) { unary<decltype(t)>(c, Square{}); });
  reg_all_float("abs", [](KernelCtx& c, auto t) { unary<decltype(t)>(c, Abs{}); });
  reg_all_float("sign", [](KernelCtx& c, auto t) { unary<decltype(t)>(c, Sign{}); });
  reg_all_float("relu", [](KernelCtx& c, auto t) { unary<decltype(t)>(c, Relu{}); });
  reg_all_float("tanh", [](KernelCtx& c, auto t) { unary<decltype(t)>(c, Tanh{}); });
  reg_all_float("sigmoid", [](KernelCtx& c, auto t) { unary<decltype(t)>(c, Sigmoid{}); });
  reg_all_float("gelu", [](KernelCtx& c, auto t) { unary<decltype(t)>(c, Gelu{}); });
  reg_all_float("scale", [](KernelCtx& c, auto t) { unary<decltype(t)>(c, Scale{c.attrs().f("s")}); });
  reg_all_float("add_scalar", [](KernelCtx& c, auto t) { unary<decltype(t)>(c, AddScalar{c.attrs().f("s")}); });
  reg_all_float("relu_grad", [](KernelCtx& c, auto t) { binary_same<decltype(t)>(c, ReluGrad{}); });
  reg_all_float("tanh_grad", [](KernelCtx& c, auto t) { binary_same<decltype(t)>(c, TanhGrad{}); });
  reg_all_float("sigmoid_grad", [](KernelCtx& c, auto t) { binary_same<decltype(t)>(c, SigmoidGrad{}); });
  reg_all_float("gelu_grad", [](KernelCtx& c, auto t) { binary_same<decltype(t)>(c, GeluGrad{}); });
  reg_all_float("broadcast_like", [](KernelCtx& c, auto t) { broadcast_like<decltype(t)>(c); });

  auto fills = [](KernelCtx& c, auto t) {
    using T = decltype(t);
    fill<T>(c.out(0), c.node.op == "ones_like" ? 1.0 : 0.0);
  };
  auto copy = [](KernelCtx& c, auto) { copy_on_device(c.out(0).raw(), c.in(0).raw(), c.in(0).bytes(), stream()); };
  auto cast = [](KernelCtx& c, auto t) {
    cast_from<decltype(t)>(c.in(0).raw(), c.out(0).dtype(), c.out(0).raw(), c.in(0).numel(), stream());
  };
  for (const char* op : {"ones_like", "zeros_like"}) {
    reg_all_float(op, fills);
    reg_int(op, fills);
  }
  reg_all_float("stop_gradient", copy);
  reg_int("stop_gradient", copy);
  reg_all_float("cast", cast);
  reg_int("cast", cast);
}

}  // namespace cuda
}  // namespace ft
