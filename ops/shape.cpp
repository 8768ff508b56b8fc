// shape.cpp — shape op definitions: reshape (a view), transpose, concat, split,
// slice, gather (embedding lookup), one_hot, argmax; their shape rules (dims may
// be -1 = unknown until run time) and gradient rules, and the builders.
#include <algorithm>

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

// norm_axis with the error reported through the node (op name and shapes).
int64_t axis_of(const ShapeCtx& c, int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank)
    c.fail("axis " + std::to_string(axis) + " out of range for rank " + std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

// Merges two dims that must agree; -1 (unknown) yields to a known value.
int64_t merge_dim(const ShapeCtx& c, int64_t a, int64_t b, const std::string& what) {
  if (a < 0) return b;
  if (b < 0 || a == b) return a;
  c.fail(what + ": " + std::to_string(a) + " vs " + std::to_string(b));
}

// "[0, -1, 2]" (shape_str would print -1 as "?").
std::string list_str(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

bool is_int(DType t) { return t == DType::I32 || t == DType::I64; }

// ---- transpose: output dim i = input dim perm[i]
void transpose_shape(ShapeCtx& c) {
  const Shape& x = c.in_shapes[0];
  const auto& perm = c.attrs().ints("perm");
  const int64_t r = int64_t(x.size());
  if (int64_t(perm.size()) != r)
    c.fail("perm " + list_str(perm) + " has " + std::to_string(perm.size()) + " entries for rank " + std::to_string(r));
  std::vector<char> seen(size_t(r), 0);
  Shape out;
  for (int64_t p : perm) {
    if (p < -r || p >= r) c.fail("perm " + list_str(perm) + " names axis " + std::to_string(p) + " out of range");
    int64_t a = p < 0 ? p + r : p;
    if (seen[size_t(a)]) c.fail("perm " + list_str(perm) + " repeats axis " + std::to_string(a));
    seen[size_t(a)] = 1;
    out.push_back(x[size_t(a)]);
  }
  c.set(0, out, c.in_dtypes[0]);
}

std::vector<Value> transpose_grad(GradCtx& c) {
  const auto& perm = c.attrs().ints("perm");
  const int64_t r = int64_t(perm.size());
  std::vector<int64_t> inv(perm.size());
  for (int64_t i = 0; i < r; ++i) inv[size_t(perm[size_t(i)] < 0 ? perm[size_t(i)] + r : perm[size_t(i)])] = i;
  return {transpose(c.grads[0], inv)};
}

// ---- concat(xs..., axis)
void concat_shape(ShapeCtx& c) {
  if (c.num_inputs() == 0) c.fail("concat needs at least one input");
  const Shape& x0 = c.in_shapes[0];
  const int64_t r = int64_t(x0.size());
  if (r == 0) c.fail("concat of scalars");
  const int64_t axis = axis_of(c, c.attrs().i("axis"), r);
  Shape out = x0;
  for (int i = 1; i < c.num_inputs(); ++i) {
    const Shape& xi = c.in_shapes[size_t(i)];
    if (c.in_dtypes[size_t(i)] != c.in_dtypes[0])
      c.fail(std::string("input ") + std::to_string(i) + " is " + dtype_name(c.in_dtypes[size_t(i)]) + ", input 0 is " +
             dtype_name(c.in_dtypes[0]));
    if (int64_t(xi.size()) != r) c.fail("input " + std::to_string(i) + " differs in rank");
    for (int64_t d = 0; d < r; ++d) {
      if (d == axis) {
        out[size_t(d)] = (out[size_t(d)] < 0 || xi[size_t(d)] < 0) ? -1 : out[size_t(d)] + xi[size_t(d)];
      } else {
        out[size_t(d)] = merge_dim(c, out[size_t(d)], xi[size_t(d)],
                                   "input " + std::to_string(i) + " differs in dim " + std::to_string(d));
      }
    }
  }
  c.set(0, out, c.in_dtypes[0]);
}

// ---- split(x, sizes, axis): sizes may hold one -1 (the rest)
void split_shape(ShapeCtx& c) {
  const Shape& x = c.in_shapes[0];
  const int64_t axis = axis_of(c, c.attrs().i("axis"), int64_t(x.size()));
  std::vector<int64_t> sizes = c.attrs().ints("sizes");
  if (sizes.empty()) c.fail("split into no pieces");
  int rest = -1;
  int64_t known = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (sizes[i] == -1) {
      if (rest >= 0) c.fail("split sizes " + list_str(sizes) + " have more than one -1");
      rest = int(i);
    } else if (sizes[i] < 0) {
      c.fail("split sizes " + list_str(sizes) + " have a negative size");
    } else {
      known += sizes[i];
    }
  }
  const int64_t d = x[size_t(axis)];
  if (d >= 0) {
    if (rest >= 0) {
      if (known > d) c.fail("split sizes " + list_str(sizes) + " exceed dim " + std::to_string(d));
      sizes[size_t(rest)] = d - known;
    } else if (known != d) {
      c.fail("split sizes " + list_str(sizes) + " sum to " + std::to_string(known) + ", dim " + std::to_string(axis) +
             " is " + std::to_string(d));
    }
  }
  for (size_t i = 0; i < sizes.size(); ++i) {
    Shape s = x;
    s[size_t(axis)] = sizes[i];
    c.set(int(i), s, c.in_dtypes[0]);
  }
}

// split_like(x, like_0, ..., like_n-1; axis): output i is x's piece with like_i's size on axis.
void split_like_shape(ShapeCtx& c) {
  const Shape& x = c.in_shapes[0];
  const int64_t axis = axis_of(c, c.attrs().i("axis"), int64_t(x.size()));
  int64_t total = 0;
  for (int i = 1; i < c.num_inputs(); ++i) {
    const Shape& l = c.in_shapes[size_t(i)];
    if (l.size() != x.size()) c.fail("input " + std::to_string(i) + " differs in rank");
    Shape s = x;
    s[size_t(axis)] = l[size_t(axis)];
    total = (total < 0 || s[size_t(axis)] < 0) ? -1 : total + s[size_t(axis)];
    c.set(i - 1, s, c.in_dtypes[0]);
  }
  if (total >= 0 && x[size_t(axis)] >= 0 && total != x[size_t(axis)])
    c.fail("pieces sum to " + std::to_string(total) + " on axis " + std::to_string(axis));
}

// Gradient of a multi-output split: concat of the output grads, zeros where none flows.
std::vector<Value> split_grad(GradCtx& c) {
  std::vector<Value> gs;
  for (size_t i = 0; i < c.grads.size(); ++i)
    gs.push_back(c.grads[i].defined() ? c.grads[i] : zeros_like(c.outputs[i]));
  std::vector<Value> out(c.inputs.size());
  out[0] = concat(gs, c.attrs().i("axis"));
  return out;
}

// ---- slice(x; begin, size): size -1 = to the end
void slice_shape(ShapeCtx& c) {
  const Shape& x = c.in_shapes[0];
  const auto& begin = c.attrs().ints("begin");
  const auto& size = c.attrs().ints("size");
  if (begin.size() != x.size() || size.size() != x.size())
    c.fail("slice begin " + list_str(begin) + " and size " + list_str(size) + " need one entry per dim of rank " +
           std::to_string(x.size()));
  Shape out(x.size());
  for (size_t d = 0; d < x.size(); ++d) {
    if (begin[d] < 0) c.fail("slice begin " + list_str(begin) + " is negative in dim " + std::to_string(d));
    if (size[d] < -1) c.fail("slice size " + list_str(size) + " is invalid in dim " + std::to_string(d));
    if (x[d] >= 0) {
      int64_t s = size[d] == -1 ? x[d] - begin[d] : size[d];
      if (begin[d] > x[d] || s < 0 || begin[d] + s > x[d])
        c.fail("slice begin " + list_str(begin) + " size " + list_str(size) + " exceeds dim " + std::to_string(d) +
               " (" + std::to_string(x[d]) + ")");
      out[d] = s;
    } else {
      out[d] = size[d];
    }
  }
  c.set(0, out, c.in_dtypes[0]);
}

// ---- gather(params (V, D...), indices int (I...)) -> (I..., D...)
void gather_shape(ShapeCtx& c) {
  const Shape &p = c.in_shapes[0], &idx = c.in_shapes[1];
  if (p.empty()) c.fail("gather params must have rank >= 1");
  if (!is_int(c.in_dtypes[1]))
    c.fail(std::string("gather indices must be i32 or i64, got ") + dtype_name(c.in_dtypes[1]));
  Shape out = idx;
  out.insert(out.end(), p.begin() + 1, p.end());
  c.set(0, out, c.in_dtypes[0]);
}

// gather_grad(g (I..., D...), indices (I...), params (V, D...)) -> (V, D...): rows of g summed at their indices.
void gather_grad_shape(ShapeCtx& c) { c.set(0, c.in_shapes[2], c.in_dtypes[0]); }

// ---- one_hot(indices int (N...); depth) -> f32 (N..., depth)
void one_hot_shape(ShapeCtx& c) {
  if (!is_int(c.in_dtypes[0]))
    c.fail(std::string("one_hot indices must be i32 or i64, got ") + dtype_name(c.in_dtypes[0]));
  const int64_t depth = c.attrs().i("depth");
  if (depth <= 0) c.fail("one_hot depth must be positive, got " + std::to_string(depth));
  Shape out = c.in_shapes[0];
  out.push_back(depth);
  c.set(0, out, DType::F32);
}

// ---- argmax(x; axis) -> i64 with the axis removed
void argmax_shape(ShapeCtx& c) {
  const Shape& x = c.in_shapes[0];
  const int64_t axis = axis_of(c, c.attrs().i("axis"), int64_t(x.size()));
  Shape out = x;
  out.erase(out.begin() + axis);
  c.set(0, out, DType::I64);
}

std::vector<Value> no_grad(GradCtx& c) { return std::vector<Value>(c.inputs.size(), Value()); }

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
  def("transpose", 1, transpose_shape, transpose_grad);
  def("concat", -1, concat_shape, [](GradCtx& c) {
    std::vector<Value> in = {c.grads[0]};
    in.insert(in.end(), c.inputs.begin(), c.inputs.end());
    if (c.inputs.size() == 1) return std::vector<Value>{c.grads[0]};
    return c.g.add("split_like", in, {{"axis", c.attrs().i("axis")}});
  });
  def("split", 1, split_shape, split_grad);
  def("split_like", -1, split_like_shape, split_grad);
  def("slice", 1, slice_shape, [](GradCtx& c) -> std::vector<Value> {
    return {c.g.add1("slice_grad", {c.grads[0], c.inputs[0]}, c.attrs())};
  });
  // slice_grad(g, x; begin, size): g placed into zeros of x's shape.
  def("slice_grad", 2, [](ShapeCtx& c) { c.set(0, c.in_shapes[1], c.in_dtypes[0]); });
  def("gather", 2, gather_shape, [](GradCtx& c) -> std::vector<Value> {
    return {c.g.add1("gather_grad", {c.grads[0], c.inputs[1], c.inputs[0]}), Value()};
  });
  def("gather_grad", 3, gather_grad_shape);
  def("one_hot", 1, one_hot_shape, no_grad);
  def("argmax", 1, argmax_shape, no_grad);
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

Value transpose(Value x, std::vector<int64_t> perm) {
  ops::register_all();
  return x.graph().add1("transpose", {x}, {{"perm", perm}});
}

Value concat(const std::vector<Value>& xs, int64_t axis) {
  ops::register_all();
  FT_CHECK(!xs.empty(), "concat of nothing");
  return xs[0].graph().add1("concat", xs, {{"axis", axis}});
}

std::vector<Value> split(Value x, std::vector<int64_t> sizes, int64_t axis) {
  ops::register_all();
  return x.graph().add("split", {x}, {{"sizes", sizes}, {"axis", axis}});
}

Value slice(Value x, std::vector<int64_t> begin, std::vector<int64_t> size) {
  ops::register_all();
  return x.graph().add1("slice", {x}, {{"begin", begin}, {"size", size}});
}

Value gather(Value params, Value indices) {
  ops::register_all();
  return params.graph().add1("gather", {params, indices});
}

Value one_hot(Value indices, int64_t depth) {
  ops::register_all();
  return indices.graph().add1("one_hot", {indices}, {{"depth", depth}});
}

Value argmax(Value x, int64_t axis) {
  ops::register_all();
  return x.graph().add1("argmax", {x}, {{"axis", axis}});
}

}  // namespace ft
