// kernel_util.cuh — internal to ops/cuda/*.cu: dtype mapping (f16 = __half,
// bf16 = __nv_bfloat16, computed in float), launch helpers (grid-stride loops on
// the compute stream), strided indexers up to rank 8, block reductions and the
// registration shorthands of the CUDA kernel families.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/core.h"
#include "ops/cuda/runtime.h"

namespace ft {
namespace ops {  // from ops/op_util.h, which pulls in Eigen (kept out of nvcc)
int64_t norm_axis(int64_t axis, int64_t rank);
std::vector<int64_t> strides_of(const Shape& s);
}  // namespace ops

namespace cuda {

// ---- types: Acc<T> is the type arithmetic happens in
template <class T> struct AccOf { using type = float; };
template <> struct AccOf<double> { using type = double; };
template <> struct AccOf<int32_t> { using type = int32_t; };
template <> struct AccOf<int64_t> { using type = int64_t; };
template <class T> using Acc = typename AccOf<T>::type;

template <class T> __device__ __forceinline__ Acc<T> ld(T x) { return static_cast<Acc<T>>(x); }
template <class T> __device__ __forceinline__ T st(Acc<T> x) { return T(x); }

__device__ __forceinline__ float d_exp(float x) { return expf(x); }
__device__ __forceinline__ double d_exp(double x) { return exp(x); }
__device__ __forceinline__ float d_log(float x) { return logf(x); }
__device__ __forceinline__ double d_log(double x) { return log(x); }
__device__ __forceinline__ float d_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double d_sqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float d_rsqrt(float x) { return rsqrtf(x); }
__device__ __forceinline__ double d_rsqrt(double x) { return rsqrt(x); }
__device__ __forceinline__ float d_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double d_tanh(double x) { return tanh(x); }
__device__ __forceinline__ float d_pow(float a, float b) { return powf(a, b); }
__device__ __forceinline__ double d_pow(double a, double b) { return pow(a, b); }

template <class A> __device__ __forceinline__ A neg_inf();
template <> __device__ __forceinline__ float neg_inf<float>() { return __int_as_float(int(0xff800000u)); }
template <> __device__ __forceinline__ double neg_inf<double>() {
  return __longlong_as_double((long long)0xfff0000000000000ull);
}

template <class T> T* dptr(Tensor& t) { return static_cast<T*>(t.raw()); }
template <class T> const T* dptr(const Tensor& t) { return static_cast<const T*>(t.raw()); }

// ---- launches
constexpr int kThreads = 256;
inline unsigned grid_for(int64_t n, int threads = kThreads) {
  int64_t b = (n + threads - 1) / threads;
  return unsigned(std::max<int64_t>(1, std::min<int64_t>(b, 1 << 20)));
}
inline cudaStream_t stream() { return compute_stream(); }

#define FT_GRID_LOOP(i, n) \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); i += int64_t(blockDim.x) * gridDim.x)

// ---- indexers: row-major shape with per-operand strides (0 = broadcast)
constexpr int kMaxRank = 8;
struct Index8 {
  int rank = 0;
  int64_t shape[kMaxRank] = {};
  int64_t s0[kMaxRank] = {};  // strides of operand 0
  int64_t s1[kMaxRank] = {};  // strides of operand 1
};

// Strides of `in` aligned right against `out`'s rank; broadcast dims (size 1) get 0.
inline std::vector<int64_t> aligned_strides(const Shape& out, const Shape& in) {
  std::vector<int64_t> s(out.size(), 0);
  auto st = ops::strides_of(in);
  const size_t off = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i) s[off + i] = in[i] == 1 ? 0 : st[i];
  return s;
}

inline Index8 make_index(const Shape& out, const std::vector<int64_t>& s0, const std::vector<int64_t>& s1 = {}) {
  if (out.size() > size_t(kMaxRank))
    throw Error("cuda: rank " + std::to_string(out.size()) + " exceeds the CUDA kernels' limit of 8");
  Index8 ix;
  ix.rank = int(out.size());
  for (size_t i = 0; i < out.size(); ++i) {
    ix.shape[i] = out[i];
    ix.s0[i] = i < s0.size() ? s0[i] : 0;
    ix.s1[i] = i < s1.size() ? s1[i] : 0;
  }
  return ix;
}

// Offsets of flat output index i in operands 0 and 1.
__device__ __forceinline__ void offsets(const Index8& ix, int64_t i, int64_t& o0, int64_t& o1) {
  o0 = 0;
  o1 = 0;
  for (int d = ix.rank - 1; d >= 0; --d) {
    const int64_t n = ix.shape[d];
    const int64_t k = i % n;
    i /= n;
    o0 += k * ix.s0[d];
    o1 += k * ix.s1[d];
  }
}

// ---- block reductions (blockDim.x a multiple of 32, <= 1024)
template <class A> __device__ __forceinline__ A warp_sum(A v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
template <class A> __device__ __forceinline__ A warp_max(A v) {
  for (int o = 16; o > 0; o >>= 1) v = max(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
// Every thread of the block gets the result. `sh` holds 32 values.
template <class A> __device__ __forceinline__ A block_sum(A v, A* sh) {
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  v = warp_sum(v);
  __syncthreads();
  if (lane == 0) sh[w] = v;
  __syncthreads();
  const int nw = (blockDim.x + 31) >> 5;
  A r = threadIdx.x < nw ? sh[threadIdx.x] : A(0);
  if (w == 0) r = warp_sum(r);
  if (threadIdx.x == 0) sh[0] = r;
  __syncthreads();
  return sh[0];
}
template <class A> __device__ __forceinline__ A block_max(A v, A* sh) {
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) sh[w] = v;
  __syncthreads();
  const int nw = (blockDim.x + 31) >> 5;
  A r = threadIdx.x < nw ? sh[threadIdx.x] : neg_inf<A>();
  if (w == 0) r = warp_max(r);
  if (threadIdx.x == 0) sh[0] = r;
  __syncthreads();
  return sh[0];
}

// ---- registration: f(ctx, T{}) for each dtype of the set
template <class T, class F> void add_kernel(const std::string& op, DType dt, F f) {
  OpRegistry::get().add_kernel(op, "cuda", dt, Kernel{[f](KernelCtx& c) { f(c, T{}); }, {}});
}
template <class F> void reg_float(const std::string& op, F f) {  // f32, f64
  add_kernel<float>(op, DType::F32, f);
  add_kernel<double>(op, DType::F64, f);
}
template <class F> void reg_all_float(const std::string& op, F f) {  // f32, f64, f16, bf16
  reg_float(op, f);
  add_kernel<__half>(op, DType::F16, f);
  add_kernel<__nv_bfloat16>(op, DType::BF16, f);
}
template <class F> void reg_int(const std::string& op, F f) {
  add_kernel<int32_t>(op, DType::I32, f);
  add_kernel<int64_t>(op, DType::I64, f);
}

// Calls f(T{}) with the C++ type of a dtype.
template <class F> void visit_dtype(DType dt, F f) {
  switch (dt) {
    case DType::F32: f(float{}); break;
    case DType::F64: f(double{}); break;
    case DType::F16: f(__half{}); break;
    case DType::BF16: f(__nv_bfloat16{}); break;
    case DType::I32: f(int32_t{}); break;
    case DType::I64: f(int64_t{}); break;
  }
}

}  // namespace cuda
}  // namespace ft
