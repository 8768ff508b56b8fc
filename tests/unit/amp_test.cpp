// amp_test.cpp — mixed precision on the CPU: the cast op's gradient, the f16/bf16
// kernels of the GEMM-class ops against f32, and the autocast graph pass.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "ops/autocast.h"
#include "ops/cpu/dnnl_matmul.h"
#include "ops/ops.h"
#include "ops/precision.h"
#include "util/gradcheck.h"

using namespace ft;
using ft::testing::check_gradients;
using ft::testing::eval1;
using ft::testing::rand32;
using ft::testing::rand64;

namespace {

const DType kHalves[] = {DType::F16, DType::BF16};

// f64 tensor of values k/den, |k| <= kmax (exact in f16 and bf16 for small kmax).
Tensor grid64(const Shape& s, uint64_t seed, int kmax, int den) {
  Tensor t = Tensor::empty(s, DType::F64);
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (int64_t i = 0; i < t.numel(); ++i) {
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    const int k = int((x * 2685821657736338717ull) >> 33) % (2 * kmax + 1) - kmax;
    t.data<double>()[i] = double(k) / den;
  }
  return t;
}

// Relative (to the largest |ref|) max difference.
double max_rel_diff(const Tensor& a, const Tensor& ref) {
  double m = 0, scale = 1e-30;
  for (int64_t i = 0; i < ref.numel(); ++i) scale = std::max(scale, std::abs(ref.at(i)));
  for (int64_t i = 0; i < ref.numel(); ++i) m = std::max(m, std::abs(a.at(i) - ref.at(i)));
  return m / scale;
}

// Rounds an f32 tensor through `half` and back (the inputs a half kernel sees).
Tensor through(const Tensor& x, DType half) { return precision::convert(precision::convert(x, half), DType::F32); }

}  // namespace

// ---- cast

TEST(Cast, GradientIsTheIdentityInTheSourceDtype) {
  // f64 -> f32 -> f64 rounds by ~1e-8 relative: central differences stay accurate.
  check_gradients([](Graph&, const std::vector<Value>& v) { return square(cast(cast(v[0], DType::F32), DType::F64)); },
                  {ft::testing::rand64({3, 4}, 1)}, 1e-4, 1e-3);
  // Through f16 / bf16: inputs k/16 and steps of 1/16 stay on the half grid, so
  // the finite differences of the rounded function are exact; the symbolic side
  // rounds the incoming gradient to the half dtype (half an ulp: 2^-11, 2^-8).
  for (DType h : kHalves) {
    SCOPED_TRACE(dtype_name(h));
    check_gradients([h](Graph&, const std::vector<Value>& v) { return square(cast(cast(v[0], h), DType::F64)); },
                    {grid64({2, 5}, 2, 16, 16)}, h == DType::F16 ? 5e-4 : 4e-3, 1.0 / 16);
  }
}

TEST(Cast, RoundsToNearestEvenAndBack) {
  Graph g;
  Tensor x = Tensor::from<float>({5}, {1.f, 1.f + std::ldexp(1.f, -11), 65520.f, -3.3f, 1e-6f});
  Value c = g.constant(x);
  for (DType h : kHalves) {
    Tensor r = eval1(g, cast(cast(c, h), DType::F32));
    Tensor want = through(x, h);
    for (int64_t i = 0; i < 5; ++i) EXPECT_EQ(r.data<float>()[i], want.data<float>()[i]) << dtype_name(h) << " " << i;
  }
  Tensor r = eval1(g, cast(cast(c, DType::F16), DType::F32));
  EXPECT_TRUE(std::isinf(r.data<float>()[2]));  // 65520 overflows f16
  Tensor d = eval1(g, cast(cast(c, DType::BF16), DType::F64));  // half -> f64
  EXPECT_EQ(d.data<double>()[0], 1.0);
}

// ---- f16 / bf16 kernels of the GEMM-class ops

namespace {
struct GemmCase {
  std::string name;
  std::vector<Shape> shapes;
  std::function<Value(const std::vector<Value>&)> f;
};

std::vector<GemmCase> gemm_cases() {
  return {
      {"matmul", {{7, 33}, {33, 9}}, [](const std::vector<Value>& v) { return matmul(v[0], v[1]); }},
      {"matmul_ta", {{33, 7}, {33, 9}}, [](const std::vector<Value>& v) { return matmul(v[0], v[1], true); }},
      {"matmul_tb", {{7, 33}, {9, 33}}, [](const std::vector<Value>& v) { return matmul(v[0], v[1], false, true); }},
      {"matmul_rank3_x_weights", {{2, 5, 33}, {33, 9}}, [](const std::vector<Value>& v) { return matmul(v[0], v[1]); }},
      {"batched_matmul", {{3, 5, 17}, {3, 17, 6}}, [](const std::vector<Value>& v) { return matmul(v[0], v[1]); }},
      {"conv2d", {{2, 3, 9, 9}, {4, 3, 3, 3}}, [](const std::vector<Value>& v) { return conv2d(v[0], v[1], 1, 1); }},
      {"conv2d_grad_input", {{2, 4, 5, 5}, {4, 3, 3, 3}, {2, 3, 9, 9}},
       [](const std::vector<Value>& v) {
         return v[0].graph().add1("conv2d_grad_input", v, {{"stride", int64_t(2)}, {"padding", int64_t(1)}});
       }},
      {"conv2d_grad_filter", {{2, 4, 5, 5}, {2, 3, 9, 9}, {4, 3, 3, 3}},
       [](const std::vector<Value>& v) {
         return v[0].graph().add1("conv2d_grad_filter", v, {{"stride", int64_t(2)}, {"padding", int64_t(1)}});
       }},
  };
}
}  // namespace

// The half kernel equals the f32 kernel on the half-rounded inputs, rounded once
// (bit for bit), and is within the dtype's tolerance of f32 on the raw inputs.
TEST(HalfKernels, GemmClassOpsMatchF32) {
  for (const GemmCase& tc : gemm_cases()) {
    for (DType h : kHalves) {
      SCOPED_TRACE(tc.name + " " + dtype_name(h));
      std::vector<Tensor> raw;
      for (size_t i = 0; i < tc.shapes.size(); ++i) raw.push_back(rand32(tc.shapes[i], 100 + i));
      Graph g;
      std::vector<Value> f32_in, rounded_in, half_in;
      for (const Tensor& t : raw) {
        f32_in.push_back(g.constant(t));
        rounded_in.push_back(g.constant(through(t, h)));
        half_in.push_back(cast(g.constant(t), h));
      }
      Value half_out = tc.f(half_in);
      ASSERT_EQ(half_out.dtype(), h);
      Tensor got = eval1(g, cast(half_out, DType::F32));
      Tensor on_rounded = eval1(g, tc.f(rounded_in));
      Tensor want = through(on_rounded, h);
      ASSERT_EQ(got.shape(), want.shape());
      for (int64_t i = 0; i < got.numel(); ++i)
        ASSERT_EQ(got.data<float>()[i], want.data<float>()[i]) << "element " << i;
      // Against f32 on the raw inputs: input and output rounding of the dtype.
      const double tol = h == DType::F16 ? 4e-3 : 3e-2;
      EXPECT_LT(max_rel_diff(got, eval1(g, tc.f(f32_in))), tol);
    }
  }
}

// The native bf16 matmul (oneDNN) on shapes its blocking does not divide, with each
// transpose and a batch: within bf16's rounding of f32 on the same inputs.
TEST(HalfKernels, NativeBf16MatmulMatchesF32) {
  if (!ops::native_bf16_matmul_available())
    GTEST_SKIP() << "no native bf16 matmul here (needs oneDNN at build time and AVX512_BF16)";
  struct Case {
    Shape a, b;
    bool ta, tb;
  };
  for (const Case& k : {Case{{300, 257}, {257, 129}, false, false}, Case{{257, 300}, {257, 129}, true, false},
                        Case{{300, 257}, {129, 257}, false, true}, Case{{4, 65, 33}, {4, 33, 70}, false, false},
                        Case{{2, 3, 130, 31}, {31, 17}, false, false}}) {
    SCOPED_TRACE(shape_str(k.a) + " x " + shape_str(k.b));
    Graph g;
    Value a = g.constant(rand32(k.a, 7)), b = g.constant(rand32(k.b, 8));
    Value ra = cast(cast(a, DType::BF16), DType::F32), rb = cast(cast(b, DType::BF16), DType::F32);
    Tensor got = eval1(g, cast(matmul(cast(a, DType::BF16), cast(b, DType::BF16), k.ta, k.tb), DType::F32));
    Tensor want = eval1(g, matmul(ra, rb, k.ta, k.tb));  // f32 on the same bf16 inputs
    EXPECT_LT(max_rel_diff(got, want), 1e-2);
  }
}

namespace {
// A matmul on f32 tensors that computes in `half` (attr "half", autocast's cpu form).
Value matmul_in(DType half, Value a, Value b, bool ta = false, bool tb = false) {
  return a.graph().add1("matmul", {a, b}, {{"transpose_a", ta}, {"transpose_b", tb}, {"half", int64_t(half)}});
}
bool same_bits(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), a.bytes()) == 0;
}
}  // namespace

// attr "half" gives the numbers of cast -> half matmul -> cast exactly: every
// transpose, a batch, rank-4 x rank-2, shapes the blocking does not divide, a result
// wide enough to go in chunks of rows and panels of columns, with and without the
// fused bias and ReLU, on 1 and 3 threads (row blocks split differently).
TEST(HalfKernels, HalfAttrMatmulIsTheCastChainBitForBit) {
  struct Case {
    Shape a, b;
    bool ta, tb;
  };
  for (int threads : {1, 3}) {
    ThreadPool pool(threads);
    for (DType h : kHalves) {
      for (const Case& k : {Case{{300, 257}, {257, 129}, false, false}, Case{{257, 300}, {257, 129}, true, false},
                            Case{{300, 257}, {129, 257}, false, true}, Case{{257, 300}, {129, 257}, true, true},
                            Case{{4, 65, 33}, {4, 33, 70}, false, false}, Case{{2, 3, 130, 31}, {31, 17}, false, false},
                            Case{{5, 0}, {0, 7}, false, false},
                            // a wide result: chunks of rows and panels of columns
                            Case{{600, 64}, {64, 2500}, false, false}, Case{{64, 600}, {2500, 64}, true, true}}) {
        SCOPED_TRACE(std::string(dtype_name(h)) + " " + shape_str(k.a) + " x " + shape_str(k.b) + ", " +
                     std::to_string(threads) + " threads");
        Graph g;
        Value a = g.constant(rand32(k.a, 7)), b = g.constant(rand32(k.b, 8));
        Value chain = cast(matmul(cast(a, h), cast(b, h), k.ta, k.tb), DType::F32);
        Value in_kernel = matmul_in(h, a, b, k.ta, k.tb);
        std::vector<Value> fetch = {chain, in_kernel};
        const int64_t n = in_kernel.shape().back();
        if (k.b.size() == 2) {  // the fused epilogue: bias and ReLU after the rounding
          Value bias = g.constant(rand32({n}, 9));
          fetch.push_back(relu(chain + bias));
          fetch.push_back(g.add1("matmul_bias_act", {a, b, bias},
                                 {{"transpose_a", k.ta}, {"transpose_b", k.tb}, {"act", std::string("relu")},
                                  {"half", int64_t(h)}}));
        }
        // Operands that come in half already: read as they are.
        const size_t mixed = fetch.size();
        fetch.push_back(matmul_in(h, cast(a, h), b, k.ta, k.tb));
        fetch.push_back(matmul_in(h, a, cast(b, h), k.ta, k.tb));
        fetch.push_back(matmul_in(h, cast(a, h), cast(b, h), k.ta, k.tb));
        Executor ex(g, &pool);
        auto out = ex.run({}, fetch);
        EXPECT_EQ(out[1].dtype(), DType::F32);
        EXPECT_TRUE(same_bits(out[0], out[1]));
        if (mixed == 4) EXPECT_TRUE(same_bits(out[2], out[3]));
        for (size_t i = mixed; i < out.size(); ++i) EXPECT_TRUE(same_bits(out[0], out[i])) << "mixed " << i - mixed;
      }
    }
  }
}

TEST(HalfKernels, HalfAttrNeedsF32OperandsAndAHalfDtype) {
  Graph g;
  Value a64 = g.constant(rand64({2, 2}, 1));
  EXPECT_THROW(matmul_in(DType::BF16, a64, a64), Error);
  Value a = g.constant(rand32({2, 2}, 1));
  EXPECT_THROW(matmul_in(DType::BF16, a, cast(a, DType::F16)), Error);  // the other half dtype
  try {
    matmul_in(DType::F64, a, a);
    FAIL() << "attr half = f64 was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("attr half must be f16 or bf16"), std::string::npos) << e.what();
  }
}

// Finite differences through half-precision GEMMs (forward and backward in half):
// inputs on a grid that f16/bf16 hold exactly, so only the incoming gradient's
// rounding separates symbolic from numeric.
TEST(HalfKernels, GradientsThroughHalfMatmulAndConv) {
  for (DType h : kHalves) {
    SCOPED_TRACE(dtype_name(h));
    const double tol = h == DType::F16 ? 2e-3 : 1.6e-2;
    auto in_half = [h](Value x) { return cast(x, h); };
    check_gradients([&](Graph&, const std::vector<Value>& v) {
      return cast(matmul(in_half(v[0]), in_half(v[1])), DType::F64);
    }, {grid64({3, 3}, 5, 4, 4), grid64({3, 4}, 6, 4, 4)}, tol, 0.25);
    check_gradients([&](Graph&, const std::vector<Value>& v) {
      return cast(matmul(in_half(v[0]), in_half(v[1])), DType::F64);
    }, {grid64({2, 2, 3}, 7, 4, 4), grid64({2, 3, 2}, 8, 4, 4)}, tol, 0.25);
    check_gradients([&](Graph&, const std::vector<Value>& v) {
      return cast(conv2d(in_half(v[0]), in_half(v[1]), 1, 1), DType::F64);
    }, {grid64({1, 2, 4, 4}, 9, 4, 4), grid64({2, 2, 3, 3}, 10, 4, 4)}, tol, 0.25);
    // attr "half" on f32 tensors, its gradient products in half too; each transpose.
    auto f32 = [](Value x) { return cast(x, DType::F32); };
    for (int t = 0; t < 4; ++t) {
      const bool ta = t & 1, tb = t & 2;
      check_gradients([&](Graph&, const std::vector<Value>& v) {
        return cast(matmul_in(h, f32(v[0]), f32(v[1]), ta, tb), DType::F64);
      }, {grid64(ta ? Shape{4, 3} : Shape{3, 4}, 11, 4, 4), grid64(tb ? Shape{2, 4} : Shape{4, 2}, 12, 4, 4)}, tol,
         0.25);
    }
    check_gradients([&](Graph&, const std::vector<Value>& v) {
      return cast(matmul_in(h, f32(v[0]), f32(v[1])), DType::F64);
    }, {grid64({2, 3, 4}, 13, 4, 4), grid64({4, 2}, 14, 4, 4)}, tol, 0.25);
  }
}

// ---- the autocast pass

namespace {
struct Mlp {
  Value x, y, loss;
};
Mlp build_mlp(Graph& g) {
  Mlp m;
  m.x = g.placeholder("x", {-1, 20});
  m.y = g.placeholder("y", {-1}, DType::I32);
  Value w1 = g.variable("fc1/w", {20, 16}, init::glorot());
  Value b1 = g.variable("fc1/b", {16}, init::constant(0.1));
  Value w2 = g.variable("fc2/w", {16, 5}, init::glorot());
  Value h = relu(matmul(m.x, w1) + b1);
  m.loss = mean(sparse_softmax_cross_entropy(matmul(h, w2), m.y));
  return m;
}
Executor::Feeds mlp_feeds(const Mlp& m) {
  Tensor x = rand32({8, 20}, 3);
  Tensor y = Tensor::from<int32_t>({8}, {0, 1, 2, 3, 4, 0, 1, 2});
  return {{m.x, x}, {m.y, y}};
}
}  // namespace

TEST(Autocast, RunsGemmsInHalfAndTheRestInF32) {
  for (DType h : kHalves) {
    SCOPED_TRACE(dtype_name(h));
    Graph src(7), dst(7);
    Mlp m = build_mlp(src);
    Autocast ac(src, dst, h);
    EXPECT_EQ(ac.rewritten(), 2);
    // Names, variables (shared storage: the f32 master weights) and dtypes.
    EXPECT_EQ(dst.find("fc1/w").dtype(), DType::F32);
    EXPECT_EQ(dst.value("fc1/w").raw(), src.value("fc1/w").raw());
    EXPECT_EQ(dst.trainable().size(), 3u);
    int half_gemms = 0, casts = 0;
    for (int id = 0; id < dst.num_nodes(); ++id) {
      const Node& n = dst.node(id);
      casts += n.op == "cast";
      if (n.op == "matmul") {
        EXPECT_EQ(n.out_dtypes[0], h) << n.name;
        ++half_gemms;
      }
      // Every op other than the GEMMs and casts reads f32 (or int labels).
      if (n.op != "matmul" && n.op != "cast") {
        for (const Output& o : n.inputs) EXPECT_NE(dst.node(o.node).out_dtypes[size_t(o.index)], h) << n.name;
      }
    }
    EXPECT_EQ(half_gemms, 2);
    EXPECT_EQ(casts, 6);  // 2 inputs + 1 output per GEMM
    // Training graph: f32 gradients for the master weights, backward GEMMs in half.
    Value loss = ac(m.loss);
    EXPECT_EQ(loss.dtype(), DType::F32);
    auto params = dst.trainable();
    auto grads = gradients(loss, params);
    int half_bwd = 0;
    for (int id = 0; id < dst.num_nodes(); ++id)
      half_bwd += dst.node(id).op == "matmul" && dst.node(id).out_dtypes[0] == h && dst.node(id).name.rfind("grad/", 0) == 0;
    EXPECT_EQ(half_bwd, 4);  // dW1, dW2, dh, and d(x) (built by matmul's rule, pruned at run time)
    for (const Value& gv : grads) EXPECT_EQ(gv.dtype(), DType::F32);
    // Same loss and gradients as f32, within the dtype's precision.
    auto ref_grads = gradients(m.loss, src.trainable());
    Executor::Feeds fs = mlp_feeds(m), fd = {{ac(m.x), fs[0].second}, {ac(m.y), fs[1].second}};
    std::vector<Value> fetch_s = {m.loss}, fetch_d = {loss};
    fetch_s.insert(fetch_s.end(), ref_grads.begin(), ref_grads.end());
    fetch_d.insert(fetch_d.end(), grads.begin(), grads.end());
    auto ref = ft::testing::eval(src, fetch_s, fs);
    auto got = ft::testing::eval(dst, fetch_d, fd);
    const double tol = h == DType::F16 ? 5e-3 : 4e-2;
    for (size_t i = 0; i < ref.size(); ++i) EXPECT_LT(max_rel_diff(got[i], ref[i]), tol) << "fetch " << i;
    EXPECT_NE(got[1].data<float>()[0], ref[1].data<float>()[0]);  // it did compute in half
  }
}

// The in-kernel form (the trainer's on the cpu): no casts, matmuls on f32 with attr
// "half", and the cast form's loss and gradients bit for bit, fused or not.
TEST(Autocast, InKernelFormIsTheCastFormBitForBit) {
  for (DType h : kHalves) {
    SCOPED_TRACE(dtype_name(h));
    Graph src(7), casts(7), ink(7);
    Mlp m = build_mlp(src);
    Autocast ac(src, casts, h), ak(src, ink, h, /*in_kernel=*/true);
    EXPECT_EQ(ak.rewritten(), 2);
    Value loss_c = ac(m.loss), loss_k = ak(m.loss);
    auto grads_c = gradients(loss_c, casts.trainable());
    auto grads_k = gradients(loss_k, ink.trainable());
    int half_matmuls = 0, grad_casts = 0;
    for (int id = 0; id < ink.num_nodes(); ++id) {
      const Node& n = ink.node(id);
      if (n.op == "cast") {  // only the incoming gradient of each matmul, cast once for its two products
        EXPECT_EQ(n.out_dtypes[0], h) << n.name;
        EXPECT_EQ(n.name.rfind("grad/", 0), 0u) << n.name;
        ++grad_casts;
      }
      if (n.op == "matmul") {
        EXPECT_EQ(n.attrs.i("half"), int64_t(h)) << n.name;
        EXPECT_EQ(n.out_dtypes[0], DType::F32) << n.name;
        ++half_matmuls;
      }
    }
    EXPECT_EQ(half_matmuls, 6);  // 2 forward, 4 in the gradient
    EXPECT_EQ(grad_casts, 2);
    Executor::Feeds fs = mlp_feeds(m);
    std::vector<Value> fc = {loss_c}, fk = {loss_k};
    fc.insert(fc.end(), grads_c.begin(), grads_c.end());
    fk.insert(fk.end(), grads_k.begin(), grads_k.end());
    auto want = ft::testing::eval(casts, fc, {{ac(m.x), fs[0].second}, {ac(m.y), fs[1].second}});
    for (bool fuse : {true, false}) {
      Executor ex(ink);
      ex.set_fusion(fuse);
      auto got = ex.run({{ak(m.x), fs[0].second}, {ak(m.y), fs[1].second}}, fk);
      for (size_t i = 0; i < want.size(); ++i) EXPECT_TRUE(same_bits(got[i], want[i])) << "fetch " << i << " fuse " << fuse;
    }
  }
}

TEST(Autocast, KeepsNonF32GemmsAndRejectsBadUse) {
  Graph src, dst;
  Value a = src.variable("a", {2, 2}, init::ones(), DType::F64);
  matmul(a, a);
  Autocast ac(src, dst, DType::BF16);
  EXPECT_EQ(ac.rewritten(), 0);  // f64 stays f64
  Graph dst2;
  EXPECT_THROW(Autocast(src, dst2, DType::F32), Error);
  EXPECT_THROW(Autocast(src, dst, DType::F16), Error);  // dst not empty
  Graph other;
  Value o = other.scalar(1.0);
  EXPECT_THROW(ac(o), Error);
}
