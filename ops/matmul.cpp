// matmul.cpp — matmul definition: shapes (plain, batched, rank>2 x weights) and gradient.
#include "ops/op_util.h"
#include "ops/ops.h"

namespace ft {
namespace ops {
namespace {

void matmul_shape(ShapeCtx& c) {
  const Shape &a = c.in_shapes[0], &b = c.in_shapes[1];
  const bool ta = c.attrs().b("transpose_a", false), tb = c.attrs().b("transpose_b", false);
  if (a.size() < 2 || b.size() < 2) c.fail("matmul needs rank >= 2 operands");
  // attr half: computed in that precision with an f32 result; each operand is f32
  // or already in half.
  const bool half = c.attrs().has("half");
  if (half) {
    const int64_t h = c.attrs().i("half");
    if (h != int64_t(DType::F16) && h != int64_t(DType::BF16))
      c.fail("attr half must be f16 or bf16 (" + std::to_string(int64_t(DType::F16)) + " or " +
             std::to_string(int64_t(DType::BF16)) + "), got " + std::to_string(h));
    for (DType t : {c.in_dtypes[0], c.in_dtypes[1]})
      if (t != DType::F32 && t != DType(h))
        c.fail(std::string("attr half needs f32 or ") + dtype_name(DType(h)) + " operands, got " + dtype_name(t));
  } else if (c.in_dtypes[0] != c.in_dtypes[1]) {
    c.fail("matmul operands differ in dtype");
  }
  if (b.size() > 2 && b.size() != a.size()) c.fail("batched matmul needs equal ranks");
  if (b.size() == 2 && a.size() > 2 && ta) c.fail("transpose_a is not supported for rank>2 x rank-2 matmul");
  int64_t m = ta ? a[a.size() - 1] : a[a.size() - 2];
  int64_t ka = ta ? a[a.size() - 2] : a[a.size() - 1];
  int64_t kb = tb ? b[b.size() - 1] : b[b.size() - 2];
  int64_t n = tb ? b[b.size() - 2] : b[b.size() - 1];
  if (ka >= 0 && kb >= 0 && ka != kb)
    c.fail("inner dimensions differ: " + std::to_string(ka) + " vs " + std::to_string(kb));
  Shape out(a.begin(), a.end() - 2);
  if (b.size() > 2)
    for (size_t i = 0; i + 2 < a.size(); ++i)
      if (a[i] >= 0 && b[i] >= 0 && a[i] != b[i]) c.fail("batch dimensions differ");
  out.push_back(m);
  out.push_back(n);
  c.set(0, out, half ? DType::F32 : c.in_dtypes[0]);
}

// The gradient's products compute in the forward's precision (attr "half"); the
// incoming gradient, which both read, is rounded to half once (a cast), not by each.
std::vector<Value> matmul_grad(GradCtx& c) {
  Value a = c.inputs[0], b = c.inputs[1], g = c.grads[0];
  const bool ta = c.attrs().b("transpose_a", false), tb = c.attrs().b("transpose_b", false);
  const int64_t half = c.attrs().i("half", -1);
  if (half >= 0) g = cast(g, DType(half));
  auto matmul = [half](Value x, Value y, bool tx = false, bool ty = false) {
    AttrMap at{{"transpose_a", tx}, {"transpose_b", ty}};
    if (half >= 0) at.set("half", half);
    return x.graph().add1("matmul", {x, y}, at);
  };
  if (b.rank() == 2 && a.rank() > 2) {
    // (.., M, K) x (K, N): dA keeps the batch shape; dB sums over it (as 2-D products).
    Value da = tb ? matmul(g, b) : matmul(g, b, false, true);
    int64_t k = a.shape().back(), n = g.shape().back();
    Value a2 = reshape(a, {-1, k}), g2 = reshape(g, {-1, n});
    Value db = tb ? matmul(g2, a2, true, false) : matmul(a2, g2, true, false);
    return {da, db};
  }
  Value da, db;
  if (!ta && !tb) { da = matmul(g, b, false, true); db = matmul(a, g, true, false); }
  else if (!ta && tb) { da = matmul(g, b); db = matmul(g, a, true, false); }
  else if (ta && !tb) { da = matmul(b, g, false, true); db = matmul(a, g); }
  else { da = matmul(b, g, true, true); db = matmul(g, a, true, true); }
  return {da, db};
}

}  // namespace

void register_matmul() {
  def("matmul", 2, matmul_shape, matmul_grad);
  // matmul_bias_act (a, b, bias) = act(matmul(a, b) + bias), bias (N), act "relu" or
  // "" (none). The executor forms it from matmul -> add -> relu where nothing else
  // reads the intermediates (core/executor.cpp, "fusion").
  def("matmul_bias_act", 3,
      [](ShapeCtx& c) {
        matmul_shape(c);
        const Shape& bias = c.in_shapes[2];
        const int64_t n = c.out_shapes[0].back();
        if (c.in_dtypes[2] != c.out_dtypes[0]) c.fail("bias and result differ in dtype");
        if (bias.size() != 1 || (n >= 0 && bias[0] != n))
          c.fail("bias must be (N) with N = " + std::to_string(n) + ", got " + shape_str(bias));
        check_fused_act(c);
      },
      [](GradCtx& c) -> std::vector<Value> {
        const Value g = fused_act_grad(c);
        GradCtx mm{c.g, c.node, {c.inputs[0], c.inputs[1]}, {}, {g}};
        std::vector<Value> d = matmul_grad(mm);
        d.push_back(sum_to_like(g, c.inputs[2]));
        return d;
      });
}

}  // namespace ops

Value matmul(Value a, Value b, bool transpose_a, bool transpose_b) {
  ops::register_all();
  return a.graph().add1("matmul", {a, b}, {{"transpose_a", transpose_a}, {"transpose_b", transpose_b}});
}

Value matmul_bias_act(Value a, Value b, Value bias, const std::string& act, bool transpose_a, bool transpose_b) {
  ops::register_all();
  return a.graph().add1("matmul_bias_act", {a, b, bias},
                        {{"transpose_a", transpose_a}, {"transpose_b", transpose_b}, {"act", act}});
}

}  // namespace ft
