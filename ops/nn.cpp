// nn.cpp — neural-network op definitions: softmax family, fused sparse softmax
// cross-entropy, mse, layer_norm and dropout (shapes, gradient rules, builders).
// Hidden outputs (saved probabilities, statistics, masks) are outputs 1.. of a node.
#include "ops/op_util.h"
#include "ops/ops.h"

namespace ft {
namespace ops {
namespace {

void need_float(const ShapeCtx& c, int i) {
  if (!is_float(c.in_dtypes[size_t(i)]))
    c.fail(std::string("input ") + std::to_string(i) + " must be floating point, got " +
           dtype_name(c.in_dtypes[size_t(i)]));
}

void need_rank_at_least(const ShapeCtx& c, int i, size_t r) {
  if (c.in_shapes[size_t(i)].size() < r)
    c.fail("input " + std::to_string(i) + " needs rank >= " + std::to_string(r));
}

// Two dims agree unless both are known and differ.
bool dims_agree(int64_t a, int64_t b) { return a < 0 || b < 0 || a == b; }

bool shapes_agree(const Shape& a, const Shape& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!dims_agree(a[i], b[i])) return false;
  return true;
}

void last_axis_shape(ShapeCtx& c) {
  need_float(c, 0);
  need_rank_at_least(c, 0, 1);
  same_as_input0(c);
}

// softmax_grad(g, y) = y * (g - sum(g * y)) over the last axis.
std::vector<Value> softmax_like_grad(GradCtx& c, size_t n_inputs) {
  std::vector<Value> out(n_inputs);
  out[0] = c.g.add1("softmax_grad", {c.grads[0], c.outputs[0]});
  return out;
}

void masked_softmax_shape(ShapeCtx& c) {
  need_float(c, 0);
  need_rank_at_least(c, 0, 1);
  if (c.in_dtypes[1] != c.in_dtypes[0]) c.fail("mask dtype must equal x's dtype");
  const Shape& x = c.in_shapes[0];
  const Shape& m = c.in_shapes[1];
  if (m.size() > x.size()) c.fail("mask has higher rank than x");
  Shape b = broadcast_shapes(c, x, m);
  if (!shapes_agree(b, x)) c.fail("mask must broadcast to x's shape " + shape_str(x));
  same_as_input0(c);
}

void sce_shape(ShapeCtx& c) {
  const Shape& l = c.in_shapes[0];
  const Shape& y = c.in_shapes[1];
  need_float(c, 0);
  if (l.size() != 2) c.fail("logits must be (N, C)");
  if (y.size() != 1) c.fail("labels must be (N)");
  if (c.in_dtypes[1] != DType::I32 && c.in_dtypes[1] != DType::I64)
    c.fail(std::string("labels must be int32 or int64, got ") + dtype_name(c.in_dtypes[1]));
  if (!dims_agree(l[0], y[0])) c.fail("logits and labels differ in N");
  c.set(0, {l[0] >= 0 ? l[0] : y[0]}, c.in_dtypes[0]);  // loss (N)
  c.set(1, l, c.in_dtypes[0]);                          // probs (N, C)
}

void mse_shape(ShapeCtx& c) {
  need_float(c, 0);
  if (c.in_dtypes[0] != c.in_dtypes[1]) c.fail("pred and target differ in dtype");
  if (!shapes_agree(c.in_shapes[0], c.in_shapes[1])) c.fail("pred and target differ in shape");
  c.set(0, {}, c.in_dtypes[0]);
}

void layer_norm_shape(ShapeCtx& c) {
  need_float(c, 0);
  need_rank_at_least(c, 0, 1);
  const Shape& x = c.in_shapes[0];
  const int64_t C = x.back();
  for (int i = 1; i <= 2; ++i) {
    if (c.in_dtypes[size_t(i)] != c.in_dtypes[0]) c.fail("gamma/beta dtype must equal x's dtype");
    const Shape& p = c.in_shapes[size_t(i)];
    if (p.size() != 1 || !dims_agree(p[0], C))
      c.fail(std::string(i == 1 ? "gamma" : "beta") + " must be (" + std::to_string(C) + ")");
  }
  Shape rows(x.begin(), x.end() - 1);
  c.set(0, x, c.in_dtypes[0]);     // y
  c.set(1, rows, c.in_dtypes[0]);  // mean
  c.set(2, rows, c.in_dtypes[0]);  // rstd
}

void dropout_shape(ShapeCtx& c) {
  need_float(c, 0);
  double p = c.attrs().f("p");
  if (!(p >= 0.0 && p < 1.0)) c.fail("dropout rate p must be in [0, 1), got " + std::to_string(p));
  c.set(0, c.in_shapes[0], c.in_dtypes[0]);  // y
  c.set(1, c.in_shapes[0], c.in_dtypes[0]);  // mask: 0 or 1/(1-p)
}

}  // namespace

void register_nn() {
  def("softmax", 1, last_axis_shape, [](GradCtx& c) { return softmax_like_grad(c, 1); });
  def("log_softmax", 1, last_axis_shape, [](GradCtx& c) -> std::vector<Value> {
    return {c.g.add1("log_softmax_grad", {c.grads[0], c.outputs[0]})};
  });
  def("masked_softmax", 2, masked_softmax_shape, [](GradCtx& c) { return softmax_like_grad(c, 2); });
  def("softmax_grad", 2, same_as_input0);      // (g, y)
  def("log_softmax_grad", 2, same_as_input0);  // (g, y)

  def("sparse_softmax_cross_entropy", 2, sce_shape, [](GradCtx& c) -> std::vector<Value> {
    if (!c.grads[0].defined()) return {Value(), Value()};
    return {c.g.add1("sparse_softmax_cross_entropy_grad", {c.grads[0], c.outputs[1], c.inputs[1]}), Value()};
  });
  // (g (N), probs (N, C), labels (N)) -> (probs - onehot(labels)) * g
  def("sparse_softmax_cross_entropy_grad", 3, [](ShapeCtx& c) { c.set(0, c.in_shapes[1], c.in_dtypes[0]); });
  // cast(sparse_softmax_cross_entropy_grad(..), to) as one step, the gradient written
  // in f16/bf16 as it is computed (the f32 gradient never stored). Backward-only; the
  // executor forms it (core/executor.cpp, "fusion") where mixed precision casts the
  // logits' gradient for the output projection's products.
  def("sparse_softmax_cross_entropy_grad_cast", 3, [](ShapeCtx& c) {
    const DType to = DType(c.attrs().i("to"));
    if (c.in_dtypes[0] != DType::F32 || (to != DType::F16 && to != DType::BF16))
      c.fail("needs an f32 gradient and to = f16 or bf16");
    c.set(0, c.in_shapes[1], to);
  });

  // sparse_softmax_cross_entropy_grad together with the bias gradient of the
  // logits' projection, sum_to_like(dx, bias (C)): (g, probs (N, C), labels) ->
  // dx (N, C) in `to` (f32, f16 or bf16; f32 when absent), db (C) f32, the sum of
  // the f32 rows in row order. Backward-only; the executor forms it (core/executor.cpp,
  // "fusion"), so the f32 gradient is read once while it is in cache.
  def("sparse_softmax_cross_entropy_grad_bias", 3, [](ShapeCtx& c) {
    const DType to = DType(c.attrs().i("to", int64_t(DType::F32)));
    if (c.in_dtypes[0] != DType::F32 || c.in_shapes[1].size() != 2 ||
        (to != DType::F32 && to != DType::F16 && to != DType::BF16))
      c.fail("needs an f32 gradient, probs (N, C) and to = f32, f16 or bf16");
    c.set(0, c.in_shapes[1], to);
    c.set(1, Shape{c.in_shapes[1][1]}, DType::F32);
  });

  def("mse", 2, mse_shape, [](GradCtx& c) -> std::vector<Value> {
    auto d = c.g.add("mse_grad", {c.grads[0], c.inputs[0], c.inputs[1]});
    return {d[0], d[1]};
  });
  // (g (), pred, target) -> d pred, d target
  def("mse_grad", 3, [](ShapeCtx& c) {
    c.set(0, c.in_shapes[1], c.in_dtypes[1]);
    c.set(1, c.in_shapes[2], c.in_dtypes[2]);
  });

  def("layer_norm", 3, layer_norm_shape, [](GradCtx& c) -> std::vector<Value> {
    if (!c.grads[0].defined()) return {Value(), Value(), Value()};
    auto d = c.g.add("layer_norm_grad", {c.grads[0], c.inputs[0], c.inputs[1], c.outputs[1], c.outputs[2]});
    return {d[0], d[1], d[2]};
  });
  // (g, x, gamma, mean, rstd) -> dx, dgamma, dbeta
  def("layer_norm_grad", 5, [](ShapeCtx& c) {
    c.set(0, c.in_shapes[1], c.in_dtypes[1]);
    c.set(1, c.in_shapes[2], c.in_dtypes[2]);
    c.set(2, c.in_shapes[2], c.in_dtypes[2]);
  });

  def("dropout", 1, dropout_shape, [](GradCtx& c) -> std::vector<Value> {
    if (!c.grads[0].defined()) return {Value()};
    return {mul(c.grads[0], c.outputs[1])};
  });
}

}  // namespace ops

namespace {
Value nn1(const char* op, const std::vector<Value>& in, const AttrMap& attrs = {}) {
  ops::register_all();
  return in.at(0).graph().add1(op, in, attrs);
}
}  // namespace

Value softmax(Value x) { return nn1("softmax", {x}); }
Value log_softmax(Value x) { return nn1("log_softmax", {x}); }
Value masked_softmax(Value x, Value mask) { return nn1("masked_softmax", {x, mask}); }
Value sparse_softmax_cross_entropy(Value logits, Value labels) {
  return nn1("sparse_softmax_cross_entropy", {logits, labels});
}
Value mse(Value pred, Value target) { return nn1("mse", {pred, target}); }
Value layer_norm(Value x, Value gamma, Value beta, double eps) {
  return nn1("layer_norm", {x, gamma, beta}, {{"eps", eps}});
}
Value dropout(Value x, double p, int64_t seed) { return nn1("dropout", {x}, {{"p", p}, {"seed", seed}}); }

}  // namespace ft
