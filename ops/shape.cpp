// shape.cpp — shape op definitions: reshape (a view), ...
#include "ops/op_util.h"
#include "ops/ops.h"

namespace ft {
namespace ops {
namespace {

// Resolves one -1 in `target` against the input's element count (unknown stays -1).
Shape resolve_reshape(const ShapeCtx& c, const Shape& in, Shape target) {
  int unknown = -1;
  int64_t known = 1;
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == -1) {
      if (unknown >= 0) c.fail("reshape target " + shape_str(target) + " has more than one -1");
      unknown = int(i);
    } else if (target[i] < 0) {
      c.fail("reshape target " + shape_str(target) + " has a negative dim");
    } else {
      known *= target[i];
    }
  }
  int64_t n = numel(in);
  if (n < 0) return target;  // input size unknown until run time
  if (unknown >= 0) {
    if (known == 0 || n % known != 0)
      c.fail("cannot reshape " + std::to_string(n) + " elements to " + shape_str(target));
    target[size_t(unknown)] = n / known;
  } else if (known != n) {
    c.fail("cannot reshape " + std::to_string(n) + " elements to " + shape_str(target));
  }
  return target;
}

}  // namespace

void register_shape() {
  def("reshape", 1,
      [](ShapeCtx& c) { c.set(0, resolve_reshape(c, c.in_shapes[0], c.attrs().ints("shape")), c.in_dtypes[0]); },
      [](GradCtx& c) -> std::vector<Value> { return {reshape_like(c.grads[0], c.inputs[0])}; })
      .alias_input0 = true;
  def("reshape_like", 2,
      [](ShapeCtx& c) {
        int64_t a = numel(c.in_shapes[0]), b = numel(c.in_shapes[1]);
        if (a >= 0 && b >= 0 && a != b)
          c.fail("cannot reshape " + shape_str(c.in_shapes[0]) + " like " + shape_str(c.in_shapes[1]));
        c.set(0, c.in_shapes[1], c.in_dtypes[0]);
      },
      [](GradCtx& c) -> std::vector<Value> { return {reshape_like(c.grads[0], c.inputs[0]), Value()}; })
      .alias_input0 = true;
}

}  // namespace ops

Value reshape(Value x, Shape shape) {
  ops::register_all();
  return x.graph().add1("reshape", {x}, {{"shape", shape}});
}

Value reshape_like(Value x, Value like) {
  ops::register_all();
  return x.graph().add1("reshape_like", {x, like});
}

}  // namespace ft
