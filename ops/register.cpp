// register.cpp — the one place op definitions and CPU kernels are registered.
// Explicit calls, no static initializers: a static library cannot drop them.
#include <algorithm>
#include <mutex>

#include "core/standin.h"
#include "ops/cpu/dnnl_conv.h"
#include "ops/cpu/dnnl_matmul.h"
#include "ops/op_util.h"
#include "ops/ops.h"

namespace ft {
namespace ops {

void register_all() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_math();
    register_matmul();
    register_reduce();
    register_shape();
    register_nn();
    register_conv();
    register_math_cpu();
    register_matmul_cpu();
    register_reduce_cpu();
    register_shape_cpu();
    register_nn_cpu();
    register_conv_cpu();
    register_precision_cpu();
    register_dnnl_bf16_matmul();  // replaces the emulated bf16 matmul where the CPU has AVX512_BF16
    register_dnnl_f32_matmul();   // f32 matmul (+ bias, ReLU): oneDNN or OpenBLAS, chosen per shape
    register_dnnl_conv();         // convolutions and pooling: oneDNN or the kernels above, chosen per shape
    register_standin_backend();   // device: standin mirrors the kernels above when it loads
  });
}

OpDef& def(const std::string& name, int num_inputs, ShapeFn shape, GradFn grad) {
  OpDef d;
  d.name = name;
  d.num_inputs = num_inputs;
  d.shape = std::move(shape);
  d.grad = std::move(grad);
  OpRegistry::get().add_op(d);
  return const_cast<OpDef&>(OpRegistry::get().at(name));
}

void same_as_input0(ShapeCtx& c) { c.set(0, c.in_shapes[0], c.in_dtypes[0]); }

Shape broadcast_shapes(const ShapeCtx& c, const Shape& a, const Shape& b) {
  size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da == db) out[i] = da;
    else if (da == 1) out[i] = db;
    else if (db == 1) out[i] = da;
    else if (da < 0) out[i] = db;
    else if (db < 0) out[i] = da;
    else c.fail("shapes " + shape_str(a) + " and " + shape_str(b) + " do not broadcast");
  }
  return out;
}

int64_t norm_axis(int64_t axis, int64_t rank) {
  int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank)
    throw Error("axis " + std::to_string(axis) + " out of range for rank " + std::to_string(rank));
  return a;
}

std::vector<int64_t> reduce_axes(const AttrMap& a, int64_t rank) {
  std::vector<int64_t> axes;
  if (a.has("axes")) for (int64_t x : a.ints("axes")) axes.push_back(norm_axis(x, rank));
  if (axes.empty()) for (int64_t i = 0; i < rank; ++i) axes.push_back(i);
  std::sort(axes.begin(), axes.end());
  axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
  return axes;
}

std::vector<int64_t> strides_of(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (int i = int(s.size()) - 2; i >= 0; --i) st[size_t(i)] = st[size_t(i) + 1] * s[size_t(i) + 1];
  return st;
}

}  // namespace ops
}  // namespace ft
