// math.cpp — elementwise op definitions: shape rules, gradient rules, builders.
#include "ops/op_util.h"
#include "ops/ops.h"

namespace ft {
namespace ops {
namespace {

void binary_shape(ShapeCtx& c) {
  if (c.in_dtypes[0] != c.in_dtypes[1])
    c.fail(std::string("dtypes differ: ") + dtype_name(c.in_dtypes[0]) + " vs " + dtype_name(c.in_dtypes[1]));
  c.set(0, broadcast_shapes(c, c.in_shapes[0], c.in_shapes[1]), c.in_dtypes[0]);
}

void unary(const std::string& name, GradFn grad) { def(name, 1, same_as_input0, std::move(grad)); }

Value X(GradCtx& c, int i = 0) { return c.inputs[size_t(i)]; }
Value Y(GradCtx& c) { return c.outputs[0]; }
Value G(GradCtx& c) { return c.grads[0]; }

// The gradient of a broadcast sum's input x: g itself when the output has x's
// shape at run time (the same symbolic shape, and every unknown dim of x meets a 1
// or nothing in the other input), else g summed down to x's shape. So y = x + b
// with a bias b leaves x's gradient as g, with no copy and no read of x (which
// lets the executor fuse a bias into the op that produces x).
Value grad_to(Value g, Value x, Value other) {
  const Shape& xs = x.shape();
  const Shape& os = other.shape();
  bool same = g.shape() == xs && os.size() <= xs.size();
  for (size_t i = 0; same && i < xs.size(); ++i) {
    if (xs[i] >= 0) continue;
    const int64_t j = int64_t(i) - int64_t(xs.size() - os.size());
    same = j < 0 || os[size_t(j)] == 1;
  }
  return same ? g : sum_to_like(g, x);
}

}  // namespace

void check_fused_act(ShapeCtx& c) {
  const std::string act = c.attrs().s("act");
  if (act != "" && act != "relu") c.fail("act must be \"relu\" or \"\", got \"" + act + "\"");
}

Value fused_act_grad(GradCtx& c) {
  return c.attrs().s("act") == "relu" ? c.g.add1("relu_grad", {G(c), Y(c)}) : G(c);
}

void register_math() {
  def("add", 2, binary_shape, [](GradCtx& c) -> std::vector<Value> {
    return {grad_to(G(c), X(c, 0), X(c, 1)), grad_to(G(c), X(c, 1), X(c, 0))};
  });
  def("sub", 2, binary_shape, [](GradCtx& c) -> std::vector<Value> {
    return {grad_to(G(c), X(c, 0), X(c, 1)), grad_to(neg(G(c)), X(c, 1), X(c, 0))};
  });
  def("mul", 2, binary_shape, [](GradCtx& c) -> std::vector<Value> {
    return {sum_to_like(G(c) * X(c, 1), X(c, 0)), sum_to_like(G(c) * X(c, 0), X(c, 1))};
  });
  def("div", 2, binary_shape, [](GradCtx& c) -> std::vector<Value> {
    Value ga = G(c) / X(c, 1);
    return {sum_to_like(ga, X(c, 0)), sum_to_like(neg(ga * Y(c)), X(c, 1))};
  });
  def("pow", 2, binary_shape, [](GradCtx& c) -> std::vector<Value> {
    // d/da a^b = b a^(b-1) = b y / a ; d/db = y log a
    Value a = X(c, 0), b = X(c, 1), y = Y(c);
    return {sum_to_like(G(c) * b * y / a, a), sum_to_like(G(c) * y * log(a), b)};
  });
  def("add_n", -1,
      [](ShapeCtx& c) {
        if (c.in_shapes.empty()) c.fail("add_n needs at least one input");
        Shape s = c.in_shapes[0];
        for (size_t i = 1; i < c.in_shapes.size(); ++i) {
          if (c.in_shapes[i].size() != s.size()) c.fail("add_n inputs differ in rank");
          for (size_t d = 0; d < s.size(); ++d) {
            int64_t x = c.in_shapes[i][d];
            if (s[d] < 0) s[d] = x;
            else if (x >= 0 && x != s[d]) c.fail("add_n inputs differ in shape");
          }
        }
        c.set(0, s, c.in_dtypes[0]);
      },
      [](GradCtx& c) { return std::vector<Value>(c.inputs.size(), G(c)); });

  unary("neg", [](GradCtx& c) -> std::vector<Value> { return {neg(G(c))}; });
  unary("exp", [](GradCtx& c) -> std::vector<Value> { return {G(c) * Y(c)}; });
  unary("log", [](GradCtx& c) -> std::vector<Value> { return {G(c) / X(c)}; });
  unary("sqrt", [](GradCtx& c) -> std::vector<Value> { return {scale(G(c) / Y(c), 0.5)}; });
  unary("rsqrt", [](GradCtx& c) -> std::vector<Value> {
    Value y = Y(c);
    return {scale(G(c) * y * y * y, -0.5)};
  });
  unary("square", [](GradCtx& c) -> std::vector<Value> { return {scale(G(c) * X(c), 2.0)}; });
  unary("sign", [](GradCtx&) -> std::vector<Value> { return {Value()}; });
  unary("abs", [](GradCtx& c) -> std::vector<Value> { return {G(c) * c.g.add1("sign", {X(c)})}; });
  unary("relu", [](GradCtx& c) -> std::vector<Value> { return {c.g.add1("relu_grad", {G(c), Y(c)})}; });
  unary("gelu", [](GradCtx& c) -> std::vector<Value> { return {c.g.add1("gelu_grad", {G(c), X(c)})}; });
  unary("tanh", [](GradCtx& c) -> std::vector<Value> { return {c.g.add1("tanh_grad", {G(c), Y(c)})}; });
  unary("sigmoid", [](GradCtx& c) -> std::vector<Value> { return {c.g.add1("sigmoid_grad", {G(c), Y(c)})}; });
  // Backward helpers (g, y) or (g, x); differentiable where a second-order user needs them is out of scope.
  for (const char* n : {"relu_grad", "gelu_grad", "tanh_grad", "sigmoid_grad"}) def(n, 2, same_as_input0);

  def("cast", 1,
      [](ShapeCtx& c) { c.set(0, c.in_shapes[0], static_cast<DType>(c.attrs().i("to"))); },
      [](GradCtx& c) -> std::vector<Value> {
        if (!is_float(c.inputs[0].dtype())) return {Value()};
        return {cast(G(c), c.inputs[0].dtype())};
      });
  auto none = [](GradCtx& c) { return std::vector<Value>(c.inputs.size(), Value()); };
  unary("ones_like", none);
  unary("zeros_like", none);
  unary("stop_gradient", none);
  unary("scale", [](GradCtx& c) -> std::vector<Value> { return {scale(G(c), c.attrs().f("s"))}; });
  unary("add_scalar", [](GradCtx& c) -> std::vector<Value> { return {G(c)}; });
  def("sum_to_like", 2,
      [](ShapeCtx& c) { c.set(0, c.in_shapes[1], c.in_dtypes[0]); },
      [](GradCtx& c) -> std::vector<Value> { return {broadcast_like(G(c), X(c, 0)), Value()}; });
  def("broadcast_like", 2,
      [](ShapeCtx& c) {
        broadcast_shapes(c, c.in_shapes[0], c.in_shapes[1]);
        c.set(0, c.in_shapes[1], c.in_dtypes[0]);
      },
      [](GradCtx& c) -> std::vector<Value> { return {sum_to_like(G(c), X(c, 0)), Value()}; });
}

}  // namespace ops

namespace {
Value b2(const char* op, Value a, Value b) {
  ops::register_all();
  return a.graph().add1(op, {a, b});
}
Value u1(const char* op, Value x, AttrMap attrs = {}) {
  ops::register_all();
  return x.graph().add1(op, {x}, attrs);
}
}  // namespace

Value add(Value a, Value b) { return b2("add", a, b); }
Value sub(Value a, Value b) { return b2("sub", a, b); }
Value mul(Value a, Value b) { return b2("mul", a, b); }
Value div(Value a, Value b) { return b2("div", a, b); }
Value pow(Value a, Value b) { return b2("pow", a, b); }
Value add_n(const std::vector<Value>& xs) {
  ops::register_all();
  FT_CHECK(!xs.empty(), "add_n of nothing");
  if (xs.size() == 1) return xs[0];
  return xs[0].graph().add1("add_n", xs);
}
Value neg(Value x) { return u1("neg", x); }
Value exp(Value x) { return u1("exp", x); }
Value log(Value x) { return u1("log", x); }
Value sqrt(Value x) { return u1("sqrt", x); }
Value rsqrt(Value x) { return u1("rsqrt", x); }
Value square(Value x) { return u1("square", x); }
Value abs(Value x) { return u1("abs", x); }
Value relu(Value x) { return u1("relu", x); }
Value gelu(Value x) { return u1("gelu", x); }
Value tanh(Value x) { return u1("tanh", x); }
Value sigmoid(Value x) { return u1("sigmoid", x); }
Value cast(Value x, DType to) { return u1("cast", x, {{"to", int64_t(to)}}); }
Value ones_like(Value x) { return u1("ones_like", x); }
Value zeros_like(Value x) { return u1("zeros_like", x); }
Value stop_gradient(Value x) { return u1("stop_gradient", x); }
Value scale(Value x, double s) { return u1("scale", x, {{"s", s}}); }
Value add_scalar(Value x, double s) { return u1("add_scalar", x, {{"s", s}}); }
Value sum_to_like(Value g, Value x) {
  if (g.shape() == x.shape() && fully_defined(x.shape())) return g;
  return b2("sum_to_like", g, x);
}
Value broadcast_like(Value g, Value x) { return b2("broadcast_like", g, x); }

Value operator+(Value a, Value b) { return add(a, b); }
Value operator-(Value a, Value b) { return sub(a, b); }
Value operator*(Value a, Value b) { return mul(a, b); }
Value operator/(Value a, Value b) { return div(a, b); }
Value operator-(Value a) { return neg(a); }
Value operator*(Value a, double s) { return scale(a, s); }
Value operator*(double s, Value a) { return scale(a, s); }
Value operator+(Value a, double s) { return add_scalar(a, s); }

}  // namespace ft
