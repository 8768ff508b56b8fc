// op_util.h — helpers shared by op definitions and CPU kernels: registration
// shorthands, broadcasting, axis normalization, Eigen maps.
#pragma once

#include <Eigen/Core>
#include <string>
#include <vector>

#include "core/core.h"

namespace ft {
namespace ops {

// ---- registration
OpDef& def(const std::string& name, int num_inputs, ShapeFn shape, GradFn grad = {});
// Registers the generic kernel body `f(ctx, T{})` for f32 and f64 on the CPU.
template <class F>
void cpu_float_kernel(const std::string& op, F f) {
  OpRegistry::get().add_kernel(op, "cpu", DType::F32, Kernel{[f](KernelCtx& c) { f(c, float{}); }, {}});
  OpRegistry::get().add_kernel(op, "cpu", DType::F64, Kernel{[f](KernelCtx& c) { f(c, double{}); }, {}});
}
template <class F>
void cpu_int_kernel(const std::string& op, F f) {
  OpRegistry::get().add_kernel(op, "cpu", DType::I32, Kernel{[f](KernelCtx& c) { f(c, int32_t{}); }, {}});
  OpRegistry::get().add_kernel(op, "cpu", DType::I64, Kernel{[f](KernelCtx& c) { f(c, int64_t{}); }, {}});
}

// Shape function: output 0 = input 0's shape and dtype.
void same_as_input0(ShapeCtx& c);

// The fused ops' (conv2d_bias_act, matmul_bias_act) attribute "act": checks that it
// is "relu" or "" (none); and the output's gradient g taken back through it
// (relu_grad(g, y) for "relu", else g).
void check_fused_act(ShapeCtx& c);
Value fused_act_grad(GradCtx& c);

// ---- shapes
// NumPy broadcast of two shapes; -1 (unknown) matches anything. Throws via c.fail.
Shape broadcast_shapes(const ShapeCtx& c, const Shape& a, const Shape& b);
int64_t norm_axis(int64_t axis, int64_t rank);  // throws on out of range
// Normalized, sorted, unique axes of a reduction from attr "axes"; none = all axes.
std::vector<int64_t> reduce_axes(const AttrMap& a, int64_t rank);
// Row-major strides of a shape.
std::vector<int64_t> strides_of(const Shape& s);

// Iterates the output of a broadcast binary op: calls f(out_i, a_i, b_i).
template <class F>
void broadcast_loop(const Shape& out, const Shape& a, const Shape& b, F f) {
  const int r = int(out.size());
  std::vector<int64_t> sa(size_t(r), 0), sb(size_t(r), 0);
  {
    auto as = strides_of(a), bs = strides_of(b);
    for (int i = 0; i < int(a.size()); ++i) {
      int o = r - int(a.size()) + i;
      sa[size_t(o)] = a[size_t(i)] == 1 ? 0 : as[size_t(i)];
    }
    for (int i = 0; i < int(b.size()); ++i) {
      int o = r - int(b.size()) + i;
      sb[size_t(o)] = b[size_t(i)] == 1 ? 0 : bs[size_t(i)];
    }
  }
  const int64_t n = numel(out);
  if (n == 0) return;
  if (r == 0) { f(0, 0, 0); return; }
  std::vector<int64_t> idx(size_t(r), 0);
  const int64_t inner = out[size_t(r - 1)], ia = sa[size_t(r - 1)], ib = sb[size_t(r - 1)];
  int64_t oa = 0, ob = 0;
  for (int64_t o = 0; o < n; o += inner) {
    for (int64_t j = 0; j < inner; ++j) f(o + j, oa + j * ia, ob + j * ib);
    for (int d = r - 2; d >= 0; --d) {
      if (++idx[size_t(d)] < out[size_t(d)]) {
        oa += sa[size_t(d)];
        ob += sb[size_t(d)];
        break;
      }
      oa -= sa[size_t(d)] * (out[size_t(d)] - 1);
      ob -= sb[size_t(d)] * (out[size_t(d)] - 1);
      idx[size_t(d)] = 0;
    }
  }
}

template <class T> using Vec = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T> using CVec = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T> using Mat = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
template <class T> using CMat = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

template <class T> Vec<T> vec(Tensor& t) { return Vec<T>(t.data<T>(), t.numel()); }
template <class T> CVec<T> cvec(const Tensor& t) { return CVec<T>(t.data<T>(), t.numel()); }

// Per-family registration (called by register_all).
void register_math();
void register_matmul();
void register_reduce();
void register_shape();
void register_nn();
void register_conv();
void register_math_cpu();
void register_matmul_cpu();
void register_reduce_cpu();
void register_shape_cpu();
void register_nn_cpu();
void register_conv_cpu();
void register_precision_cpu();  // after the others: half GEMM kernels wrap the f32 ones

}  // namespace ops
}  // namespace ft
