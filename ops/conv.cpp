// conv.cpp — convolution and pooling op definitions (NCHW; weights (O, C, KH, KW)):
// shapes, gradient rules, builders. Backward ops take the forward input as their
// last input for its run-time shape.
#include "ops/op_util.h"
#include "ops/ops.h"

namespace ft {
namespace ops {
namespace {

// Output extent of a window sweep; -1 stays unknown.
int64_t out_extent(const ShapeCtx& c, int64_t in, int64_t k, int64_t stride, int64_t pad, const char* what) {
  if (in < 0) return -1;
  int64_t span = in + 2 * pad - k;
  if (span < 0)
    c.fail(std::string(what) + " " + std::to_string(in) + " (padding " + std::to_string(pad) +
           ") is smaller than the window " + std::to_string(k));
  return span / stride + 1;
}

void conv_shape(ShapeCtx& c) {
  const Shape& x = c.in_shapes[0];
  const Shape& w = c.in_shapes[1];
  if (!is_float(c.in_dtypes[0])) c.fail("conv2d needs floating point input");
  if (c.in_dtypes[0] != c.in_dtypes[1]) c.fail("input and filter differ in dtype");
  if (x.size() != 4) c.fail("input must be (N, C, H, W)");
  if (w.size() != 4) c.fail("filter must be (O, C, KH, KW)");
  if (x[1] >= 0 && w[1] >= 0 && x[1] != w[1])
    c.fail("channel mismatch: input has " + std::to_string(x[1]) + " channels, filter expects " +
           std::to_string(w[1]));
  const int64_t s = c.attrs().i("stride"), p = c.attrs().i("padding");
  if (s < 1) c.fail("stride must be >= 1");
  if (p < 0) c.fail("padding must be >= 0");
  if (w[2] < 1 || w[3] < 1) c.fail("filter size must be known and >= 1");
  c.set(0, {x[0], w[0], out_extent(c, x[2], w[2], s, p, "height"), out_extent(c, x[3], w[3], s, p, "width")},
        c.in_dtypes[0]);
}

void pool_shape(ShapeCtx& c, bool with_argmax) {
  const Shape& x = c.in_shapes[0];
  if (!is_float(c.in_dtypes[0])) c.fail("pooling needs floating point input");
  if (x.size() != 4) c.fail("input must be (N, C, H, W)");
  const int64_t k = c.attrs().i("k"), s = c.attrs().i("stride");
  if (k < 1) c.fail("window must be >= 1");
  if (s < 1) c.fail("stride must be >= 1");
  Shape y = {x[0], x[1], out_extent(c, x[2], k, s, 0, "height"), out_extent(c, x[3], k, s, 0, "width")};
  c.set(0, y, c.in_dtypes[0]);
  if (with_argmax) c.set(1, y, DType::I32);  // flat index of the max within its (H, W) plane
}

// Output = the shape of the last input (the forward tensor whose gradient this is).
void like_last_input(ShapeCtx& c) {
  c.set(0, c.in_shapes.back(), c.in_dtypes[0]);
}

AttrMap conv_attrs(const AttrMap& a) { return {{"stride", a.i("stride")}, {"padding", a.i("padding")}}; }
AttrMap pool_attrs(const AttrMap& a) { return {{"k", a.i("k")}, {"stride", a.i("stride")}}; }

}  // namespace

void register_conv() {
  def("conv2d", 2, conv_shape, [](GradCtx& c) -> std::vector<Value> {
    Value g = c.grads[0], x = c.inputs[0], w = c.inputs[1];
    AttrMap a = conv_attrs(c.attrs());
    return {c.g.add1("conv2d_grad_input", {g, w, x}, a), c.g.add1("conv2d_grad_filter", {g, x, w}, a)};
  });
  // conv2d_bias_act (x, w, b) = act(conv2d(x, w) + b), b (O, 1, 1) or (1, O, 1, 1),
  // act "relu" or "" (none). The executor forms it from conv2d -> add -> relu where
  // nothing else reads the intermediates (core/executor.cpp, "fusion").
  def("conv2d_bias_act", 3,
      [](ShapeCtx& c) {
        conv_shape(c);
        const Shape& b = c.in_shapes[2];
        const int64_t o = c.in_shapes[1][0];
        if (c.in_dtypes[2] != c.in_dtypes[0]) c.fail("bias and input differ in dtype");
        const bool chan = (b.size() == 3 && b[1] == 1 && b[2] == 1) || (b.size() == 4 && b[0] == 1 && b[2] == 1 && b[3] == 1);
        if (!chan || (o >= 0 && b[b.size() - 3] != o))
          c.fail("bias must be (O, 1, 1) or (1, O, 1, 1) with O = " + std::to_string(o) + ", got " + shape_str(b));
        check_fused_act(c);
      },
      [](GradCtx& c) -> std::vector<Value> {
        Value g = fused_act_grad(c), x = c.inputs[0], w = c.inputs[1], b = c.inputs[2];
        AttrMap a = conv_attrs(c.attrs());
        return {c.g.add1("conv2d_grad_input", {g, w, x}, a), c.g.add1("conv2d_grad_filter", {g, x, w}, a),
                sum_to_like(g, b)};
      });
  def("conv2d_grad_input", 3, like_last_input);   // (g, w, x) -> dx
  def("conv2d_grad_filter", 3, like_last_input);  // (g, x, w) -> dw

  def("max_pool2d", 1, [](ShapeCtx& c) { pool_shape(c, true); }, [](GradCtx& c) -> std::vector<Value> {
    if (!c.grads[0].defined()) return {Value()};
    return {c.g.add1("max_pool2d_grad", {c.grads[0], c.outputs[1], c.inputs[0]}, pool_attrs(c.attrs()))};
  });
  def("max_pool2d_grad", 3, like_last_input);  // (g, argmax, x) -> dx
  // relu_grad(max_pool2d_grad(g, argmax, y), y) for a max pool of a ReLU's output y,
  // pooled = max_pool2d(y)'s output: each output's gradient goes to the input it
  // took where that input is > 0. The input it took is the pooled value, so the mask
  // reads `pooled`, not y (a quarter of the bytes for 2x2 windows); y gives the
  // shape. A backward-only op the executor forms (core/executor.cpp, "fusion").
  def("max_pool2d_grad_relu", 4, [](ShapeCtx& c) {  // (g, argmax, y, pooled) -> dy
    if (c.in_shapes[3] != c.in_shapes[0]) c.fail("pooled must have the gradient's shape");
    c.set(0, c.in_shapes[2], c.in_dtypes[2]);
  });
  def("avg_pool2d", 1, [](ShapeCtx& c) { pool_shape(c, false); }, [](GradCtx& c) -> std::vector<Value> {
    return {c.g.add1("avg_pool2d_grad", {c.grads[0], c.inputs[0]}, pool_attrs(c.attrs()))};
  });
  def("avg_pool2d_grad", 2, like_last_input);  // (g, x) -> dx
}

}  // namespace ops

Value conv2d(Value x, Value w, int64_t stride, int64_t padding) {
  ops::register_all();
  return x.graph().add1("conv2d", {x, w}, {{"stride", stride}, {"padding", padding}});
}

Value conv2d_bias_act(Value x, Value w, Value b, const std::string& act, int64_t stride, int64_t padding) {
  ops::register_all();
  return x.graph().add1("conv2d_bias_act", {x, w, b}, {{"stride", stride}, {"padding", padding}, {"act", act}});
}

Value max_pool2d(Value x, int64_t k, int64_t stride) {
  ops::register_all();
  return x.graph().add1("max_pool2d", {x}, {{"k", k}, {"stride", stride < 0 ? k : stride}});
}

Value avg_pool2d(Value x, int64_t k, int64_t stride) {
  ops::register_all();
  return x.graph().add1("avg_pool2d", {x}, {{"k", k}, {"stride", stride < 0 ? k : stride}});
}

}  // namespace ft
