// reduce.cpp — reductions over axes (sum, mean, max) and their gradients.
#include <algorithm>

#include "ops/op_util.h"
#include "ops/ops.h"

namespace ft {
namespace ops {
namespace {

void reduce_shape(ShapeCtx& c) {
  const Shape& x = c.in_shapes[0];
  std::vector<int64_t> axes;
  try {
    axes = reduce_axes(c.attrs(), int64_t(x.size()));
  } catch (const Error& e) {
    c.fail(e.what());
  }
  bool keep = c.attrs().b("keepdims", false);
  Shape out;
  for (int64_t i = 0; i < int64_t(x.size()); ++i) {
    bool red = std::binary_search(axes.begin(), axes.end(), i);
    if (!red) out.push_back(x[size_t(i)]);
    else if (keep) out.push_back(1);
  }
  c.set(0, out, c.in_dtypes[0]);
}

// reduce_grad(g, x[, y]): spreads g back over x's shape (attrs as the forward op,
// plus "mode": sum | mean | max).
void reduce_grad_shape(ShapeCtx& c) { c.set(0, c.in_shapes[1], c.in_dtypes[0]); }

std::vector<Value> grad_of(GradCtx& c, const char* mode) {
  AttrMap a = c.attrs();
  a.set("mode", std::string(mode));
  std::vector<Value> in = {c.grads[0], c.inputs[0]};
  if (std::string(mode) == "max") in.push_back(c.outputs[0]);
  return {c.g.add1("reduce_grad", in, a)};
}

}  // namespace

void register_reduce() {
  def("reduce_sum", 1, reduce_shape, [](GradCtx& c) { return grad_of(c, "sum"); });
  def("reduce_mean", 1, reduce_shape, [](GradCtx& c) { return grad_of(c, "mean"); });
  def("reduce_max", 1, reduce_shape, [](GradCtx& c) { return grad_of(c, "max"); });
  def("reduce_grad", -1, reduce_grad_shape);
}

}  // namespace ops

namespace {
Value reduce(const char* op, Value x, std::vector<int64_t> axes, bool keepdims) {
  ops::register_all();
  return x.graph().add1(op, {x}, {{"axes", axes}, {"keepdims", keepdims}});
}
}  // namespace

Value reduce_sum(Value x, std::vector<int64_t> axes, bool keepdims) { return reduce("reduce_sum", x, axes, keepdims); }
Value reduce_mean(Value x, std::vector<int64_t> axes, bool keepdims) { return reduce("reduce_mean", x, axes, keepdims); }
Value reduce_max(Value x, std::vector<int64_t> axes, bool keepdims) { return reduce("reduce_max", x, axes, keepdims); }
Value sum(Value x) { return reduce_sum(x); }
Value mean(Value x) { return reduce_mean(x); }

}  // namespace ft
