// ops_math_test.cpp — elementwise, matmul and reduction ops: forward values
// computed by hand and finite-difference gradient checks, with broadcasting,
// every matmul transpose combination, batched and rank>2 x weights, and
// reductions over one, several and all axes, with and without keepdims.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "ops/cpu/dnnl_conv.h"
#include "ops/cpu/kernel_choice.h"
#include "util/gradcheck.h"

using namespace ft;
using ft::testing::check_gradients;
using ft::testing::eval1;
using ft::testing::rand32;
using ft::testing::rand64;

namespace {

using Vals = std::vector<Value>;

Value C32(Graph& g, const Shape& s, const std::vector<float>& v) { return g.constant(Tensor::from<float>(s, v)); }

void expect_near(const Tensor& t, const std::vector<double>& want, double tol = 1e-5) {
  ASSERT_EQ(t.numel(), int64_t(want.size()));
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(t.at(int64_t(i)), want[i], tol) << "element " << i;
}

// Reference GEMM on (M, K) x (K, N) f32 data, row-major.
std::vector<float> naive_mm(const float* a, const float* b, int64_t m, int64_t k, int64_t n) {
  std::vector<float> c(static_cast<size_t>(m * n), 0.f);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t p = 0; p < k; ++p) s += double(a[i * k + p]) * b[p * n + j];
      c[size_t(i * n + j)] = float(s);
    }
  return c;
}

Tensor transposed2d(const Tensor& t) {  // (R, C) f32 -> (C, R)
  const int64_t r = t.dim(0), c = t.dim(1);
  Tensor o = Tensor::empty({c, r}, DType::F32);
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < c; ++j) o.data<float>()[j * r + i] = t.data<float>()[i * c + j];
  return o;
}

}  // namespace

// ---- binary ops and broadcasting

TEST(Binary, SameShape) {
  Graph g;
  auto a = C32(g, {2, 2}, {1, 2, 3, 4});
  auto b = C32(g, {2, 2}, {5, 6, 7, 8});
  expect_near(eval1(g, a + b), {6, 8, 10, 12});
  expect_near(eval1(g, a - b), {-4, -4, -4, -4});
  expect_near(eval1(g, a * b), {5, 12, 21, 32});
  expect_near(eval1(g, b / a), {5, 3, 7.0 / 3, 2});
  expect_near(eval1(g, pow(a, C32(g, {2, 2}, {2, 0.5, 0, 3}))), {1, std::sqrt(2.0), 1, 64});
}

TEST(Binary, Broadcasting) {
  Graph g;
  auto nc = C32(g, {2, 3}, {1, 2, 3, 4, 5, 6});
  auto c = C32(g, {3}, {10, 20, 30});
  auto n1 = C32(g, {2, 1}, {1, 2});
  auto c1 = C32(g, {1, 3}, {3, 4, 5});
  auto s = g.scalar(2.0);
  expect_near(eval1(g, nc + c), {11, 22, 33, 14, 25, 36});   // (N,C)+(C)
  expect_near(eval1(g, c - nc), {9, 18, 27, 6, 15, 24});      // (C)-(N,C)
  Tensor outer = eval1(g, n1 * c1);                            // (N,1)*(1,C)
  EXPECT_EQ(outer.shape(), (Shape{2, 3}));
  expect_near(outer, {3, 4, 5, 6, 8, 10});
  expect_near(eval1(g, nc / s), {0.5, 1, 1.5, 2, 2.5, 3});    // tensor op scalar
  expect_near(eval1(g, s - nc), {1, 0, -1, -2, -3, -4});      // scalar op tensor
  expect_near(eval1(g, pow(nc, s)), {1, 4, 9, 16, 25, 36});
  Tensor r3 = eval1(g, C32(g, {2, 1, 1}, {1, -1}) * C32(g, {1, 2, 1}, {2, 3}) + c);  // (2,2,3)
  EXPECT_EQ(r3.shape(), (Shape{2, 2, 3}));
  expect_near(r3, {12, 22, 32, 13, 23, 33, 8, 18, 28, 7, 17, 27});
}

TEST(Binary, IntegerAddMul) {
  Graph g;
  auto a = g.constant(Tensor::from<int32_t>({3}, {1, 2, 3}));
  auto b = g.constant(Tensor::from<int32_t>({3}, {4, 5, 6}));
  EXPECT_EQ(eval1(g, a + b).to_vector<int32_t>(), (std::vector<int32_t>{5, 7, 9}));
  EXPECT_EQ(eval1(g, a * b).to_vector<int32_t>(), (std::vector<int32_t>{4, 10, 18}));
}

TEST(Binary, ShapeAndDtypeErrors) {
  Graph g;
  auto a = g.placeholder("a", {2, 3});
  EXPECT_THROW(a + g.placeholder("b", {4}), Error);
  EXPECT_THROW(a + g.placeholder("c", {2, 3}, DType::F64), Error);
  EXPECT_EQ((a + g.placeholder("d", {-1, 1})).shape(), (Shape{2, 3}));
}

TEST(Binary, Gradients) {
  auto f2 = [](Value (*op)(Value, Value)) {
    return [op](Graph&, const Vals& v) { return op(v[0], v[1]); };
  };
  for (auto op : {&ft::add, &ft::sub, &ft::mul, &ft::div}) {
    SCOPED_TRACE("binary op");
    check_gradients(f2(op), {rand64({2, 3}, 1), rand64({2, 3}, 2, 0.5, 1.5)});  // same shape
    check_gradients(f2(op), {rand64({4, 3}, 3), rand64({3}, 4, 0.5, 1.5)});     // (N,C) op (C)
    check_gradients(f2(op), {rand64({3}, 13, 0.5, 1.5), rand64({4, 3}, 14, 0.5, 1.5)});  // (C) op (N,C)
    check_gradients(f2(op), {rand64({4, 1}, 5), rand64({1, 3}, 6, 0.5, 1.5)});   // (N,1) op (1,C)
    check_gradients(f2(op), {rand64({2, 3}, 7), rand64({}, 8, 0.5, 1.5)});       // tensor op scalar
    check_gradients(f2(op), {rand64({}, 9, 0.5, 1.5), rand64({2, 3}, 10, 0.5, 1.5)});  // scalar op tensor
    check_gradients(f2(op), {rand64({2, 1, 3}, 11), rand64({4, 1}, 12, 0.5, 1.5)});    // both broadcast
  }
  check_gradients(f2(&ft::pow), {rand64({2, 3}, 1, 0.5, 2.0), rand64({2, 3}, 2, -1.5, 1.5)});
  check_gradients(f2(&ft::pow), {rand64({4, 3}, 3, 0.5, 2.0), rand64({3}, 4, -1.5, 1.5)});
  check_gradients(f2(&ft::pow), {rand64({4, 1}, 5, 0.5, 2.0), rand64({}, 6, 1.0, 3.0)});
}

TEST(AddN, ForwardAndGradient) {
  Graph g;
  auto a = C32(g, {3}, {1, 2, 3});
  auto b = C32(g, {3}, {10, 20, 30});
  expect_near(eval1(g, add_n({a, b, a})), {12, 24, 36});
  check_gradients([](Graph&, const Vals& v) { return add_n({v[0], v[1], v[0] * v[2]}); },
                  {rand64({2, 3}, 1), rand64({2, 3}, 2), rand64({2, 3}, 3)});
  EXPECT_THROW(add_n({a, C32(g, {2}, {1, 2})}), Error);
}

// ---- unary ops

TEST(Unary, Forward) {
  Graph g;
  auto x = C32(g, {4}, {-2, -0.5, 0.5, 3});
  auto p = C32(g, {3}, {0.25, 1, 4});
  expect_near(eval1(g, neg(x)), {2, 0.5, -0.5, -3});
  expect_near(eval1(g, exp(x)), {std::exp(-2.0), std::exp(-0.5), std::exp(0.5), std::exp(3.0)}, 1e-4);
  expect_near(eval1(g, log(p)), {std::log(0.25), 0, std::log(4.0)});
  expect_near(eval1(g, sqrt(p)), {0.5, 1, 2});
  expect_near(eval1(g, rsqrt(p)), {2, 1, 0.5});
  expect_near(eval1(g, square(x)), {4, 0.25, 0.25, 9});
  expect_near(eval1(g, abs(x)), {2, 0.5, 0.5, 3});
  expect_near(eval1(g, relu(x)), {0, 0, 0.5, 3});
  expect_near(eval1(g, tanh(x)), {std::tanh(-2.0), std::tanh(-0.5), std::tanh(0.5), std::tanh(3.0)});
  expect_near(eval1(g, sigmoid(x)), {1 / (1 + std::exp(2.0)), 1 / (1 + std::exp(0.5)), 1 / (1 + std::exp(-0.5)),
                                     1 / (1 + std::exp(-3.0))});
  // GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
  auto gx = C32(g, {4}, {-1, 0, 1, 2});
  expect_near(eval1(g, gelu(gx)), {-0.1588080, 0, 0.8411920, 1.9545977});
  expect_near(eval1(g, scale(x, -2.0)), {4, 1, -1, -6});
  expect_near(eval1(g, x * 3.0), {-6, -1.5, 1.5, 9});
  expect_near(eval1(g, add_scalar(x, 1.5)), {-0.5, 1, 2, 4.5});
  expect_near(eval1(g, x + 1.0), {-1, 0.5, 1.5, 4});
}

TEST(Unary, Gradients) {
  using U = Value (*)(Value);
  auto f1 = [](U op) { return [op](Graph&, const Vals& v) { return op(v[0]); }; };
  const Shape s = {3, 4};
  for (U op : {U(&ft::neg), U(&ft::exp), U(&ft::square), U(&ft::abs), U(&ft::relu), U(&ft::gelu), U(&ft::tanh),
               U(&ft::sigmoid)}) {
    check_gradients(f1(op), {rand64(s, 1, -2.0, 2.0)});
  }
  for (U op : {U(&ft::log), U(&ft::sqrt), U(&ft::rsqrt)}) check_gradients(f1(op), {rand64(s, 2, 0.3, 2.0)});
  check_gradients([](Graph&, const Vals& v) { return scale(v[0], -1.7); }, {rand64(s, 3)});
  check_gradients([](Graph&, const Vals& v) { return add_scalar(v[0], 0.3); }, {rand64(s, 4)});
  check_gradients([](Graph&, const Vals& v) { return gelu(v[0]) * v[0]; }, {rand64(s, 5, -4.0, 4.0)});
}

TEST(Cast, ValuesAndGradient) {
  Graph g;
  auto x = C32(g, {3}, {1.7f, -2.2f, 3.0f});
  Tensor i = eval1(g, cast(x, DType::I32));
  EXPECT_EQ(i.dtype(), DType::I32);
  EXPECT_EQ(i.to_vector<int32_t>(), (std::vector<int32_t>{1, -2, 3}));
  Tensor d = eval1(g, cast(cast(x, DType::I64), DType::F64));
  EXPECT_EQ(d.to_vector<double>(), (std::vector<double>{1, -2, 3}));
  // f64 -> f32 -> loss: the gradient comes back as f64.
  auto w = g.variable("w", {2}, init::constant(0.5), DType::F64);
  auto gw = gradients(sum(cast(w, DType::F32) * 3.0), {w})[0];
  Tensor gt = eval1(g, gw);
  EXPECT_EQ(gt.dtype(), DType::F64);
  EXPECT_EQ(gt.to_vector<double>(), (std::vector<double>{3, 3}));
  check_gradients([](Graph&, const Vals& v) { return cast(v[0], DType::F64) * v[0]; }, {rand64({4}, 1)});
}

// A bias gradient, (rows, C) -> (C): the pool splits the columns, and each
// column is still its rows added in order, so the bits are a plain loop's at
// any thread count.
TEST(SumToLike, BiasGradientIsRowOrderSumAtAnyThreadCount) {
  const int64_t rows = 300, cols = 1000;
  Tensor gt = rand32({rows, cols}, 21, -1, 1);
  std::vector<float> want(size_t(cols), 0.f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) want[size_t(j)] += gt.data<float>()[r * cols + j];
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    Graph g;
    auto y = sum_to_like(g.constant(gt), g.constant(Tensor::zeros({cols}, DType::F32)));
    Executor ex(g, &pool);
    EXPECT_EQ(ex.run({}, {y})[0].to_vector<float>(), want) << threads << " threads";
  }
}

TEST(SumToLike, ReducesBroadcastDims) {
  Graph g;
  auto gr = C32(g, {2, 3}, {1, 2, 3, 4, 5, 6});
  expect_near(eval1(g, sum_to_like(gr, C32(g, {3}, {0, 0, 0}))), {5, 7, 9});
  expect_near(eval1(g, sum_to_like(gr, C32(g, {2, 1}, {0, 0}))), {6, 15});
  expect_near(eval1(g, sum_to_like(gr, C32(g, {1, 3}, {0, 0, 0}))), {5, 7, 9});
  expect_near(eval1(g, sum_to_like(gr, g.scalar(0.0))), {21});
  Tensor b = eval1(g, broadcast_like(C32(g, {2, 1}, {1, 2}), gr));
  EXPECT_EQ(b.shape(), (Shape{2, 3}));
  expect_near(b, {1, 1, 1, 2, 2, 2});
  expect_near(eval1(g, broadcast_like(C32(g, {3}, {7, 8, 9}), gr)), {7, 8, 9, 7, 8, 9});
  check_gradients([](Graph&, const Vals& v) { return sum_to_like(v[0], v[1]); }, {rand64({4, 3}, 1), rand64({3}, 2)});
  check_gradients([](Graph&, const Vals& v) { return sum_to_like(v[0], v[1]); },
                  {rand64({2, 4, 3}, 3), rand64({4, 1}, 4)});
  check_gradients([](Graph&, const Vals& v) { return broadcast_like(v[0], v[1]); },
                  {rand64({1, 3}, 5), rand64({4, 3}, 6)});
  check_gradients([](Graph&, const Vals& v) { return broadcast_like(v[0], v[1]); },
                  {rand64({2, 1, 1}, 7), rand64({2, 3, 2}, 8)});
}

// ---- matmul

TEST(Matmul, AllTransposeFlags) {
  Graph g;
  Tensor a = Tensor::from<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor b = Tensor::from<float>({3, 2}, {7, 8, 9, 10, 11, 12});
  auto A = g.constant(a), B = g.constant(b);
  auto At = g.constant(transposed2d(a)), Bt = g.constant(transposed2d(b));
  const std::vector<double> want = {58, 64, 139, 154};
  expect_near(eval1(g, matmul(A, B)), want);
  expect_near(eval1(g, matmul(A, Bt, false, true)), want);
  expect_near(eval1(g, matmul(At, B, true, false)), want);
  expect_near(eval1(g, matmul(At, Bt, true, true)), want);
  EXPECT_EQ(matmul(At, Bt, true, true).shape(), (Shape{2, 2}));
}

TEST(Matmul, BatchedAndWeights) {
  Graph g;
  // (B=2, M=2, K=2) x (2, K=2, N=1): batch 0 uses identity-ish values by hand.
  auto a = C32(g, {2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  auto b = C32(g, {2, 2, 1}, {1, 1, 2, -1});
  Tensor y = eval1(g, matmul(a, b));
  EXPECT_EQ(y.shape(), (Shape{2, 2, 1}));
  expect_near(y, {3, 7, 4, 6});
  expect_near(eval1(g, matmul(a, b, true, false)), {4, 6, 3, 4});  // a^T per batch
  // (B=2, T=2, K=2) x weights (K=2, N=3)
  auto w = C32(g, {2, 3}, {1, 0, 1, 0, 1, 1});
  Tensor z = eval1(g, matmul(a, w));
  EXPECT_EQ(z.shape(), (Shape{2, 2, 3}));
  expect_near(z, {1, 2, 3, 3, 4, 7, 5, 6, 11, 7, 8, 15});
  auto wt = C32(g, {3, 2}, {1, 0, 0, 1, 1, 1});
  expect_near(eval1(g, matmul(a, wt, false, true)), {1, 2, 3, 3, 4, 7, 5, 6, 11, 7, 8, 15});
}

TEST(Matmul, LargeMatchesReferenceOnThreads) {
  // Big enough that rows are split across the pool, with and without transposes.
  ThreadPool pool(3);
  const int64_t m = 301, k = 70, n = 53;
  Tensor a = rand32({m, k}, 1), b = rand32({k, n}, 2);
  std::vector<float> want = naive_mm(a.data<float>(), b.data<float>(), m, k, n);
  Graph g;
  auto A = g.constant(a), B = g.constant(b), At = g.constant(transposed2d(a)), Bt = g.constant(transposed2d(b));
  Executor ex(g, &pool);
  auto outs = ex.run({}, {matmul(A, B), matmul(At, B, true, false), matmul(A, Bt, false, true),
                          matmul(At, Bt, true, true), matmul(reshape(A, {7, 43, k}), B)});
  for (size_t o = 0; o < outs.size(); ++o) {
    ASSERT_EQ(outs[o].numel(), m * n);
    for (int64_t i = 0; i < m * n; ++i) ASSERT_NEAR(outs[o].data<float>()[i], want[size_t(i)], 1e-4) << o << ":" << i;
  }
}

// Each f32 GEMM kernel, forced, against the double-precision reference: plain,
// transposed, rows split over 3 threads, batched, and matmul_bias_act's bias and
// ReLU epilogue. Unforced, the choice is made per shape and listed.
TEST(Matmul, EveryF32KernelMatchesTheReference) {
  ThreadPool pool(3);
  const int64_t m = 301, k = 70, n = 53;
  Tensor a = rand32({m, k}, 1), b = rand32({k, n}, 2), bias = rand32({n}, 3);
  std::vector<float> want = naive_mm(a.data<float>(), b.data<float>(), m, k, n);
  std::vector<std::string> impls = {"openblas", ""};
  if (ops::dnnl_conv_available()) impls.insert(impls.begin(), "onednn");
  for (const std::string& impl : impls) {
    SCOPED_TRACE(impl.empty() ? "chosen" : impl);
    ops::force_kernel_choice(impl);
    Graph g;
    auto A = g.constant(a), B = g.constant(b), At = g.constant(transposed2d(a)), Bt = g.constant(transposed2d(b));
    auto Bias = g.constant(bias);
    Value batched_b = reshape(concat({B, B, B, B, B, B, B}, 0), {7, k, n});  // a batch of (43, k) x (k, n)
    Executor ex(g, &pool);
    auto outs = ex.run({}, {matmul(A, B), matmul(At, B, true, false), matmul(A, Bt, false, true),
                            matmul(At, Bt, true, true), matmul(reshape(A, {7, 43, k}), B),
                            matmul(reshape(A, {7, 43, k}), batched_b), matmul_bias_act(A, B, Bias, ""),
                            matmul_bias_act(At, Bt, Bias, "relu", true, true)});
    for (size_t o = 0; o < outs.size(); ++o) {
      ASSERT_EQ(outs[o].numel(), m * n);
      for (int64_t i = 0; i < m * n; ++i) {
        double w = want[size_t(i)];
        if (o >= 6) w += bias.data<float>()[i % n];
        if (o == 7) w = std::max(w, 0.0);
        ASSERT_NEAR(outs[o].data<float>()[i], w, 1e-4) << o << ":" << i;
      }
    }
    // No inner dimension: zeros, then the bias and ReLU.
    Graph z;
    Tensor e = Tensor::zeros({4, 0}, DType::F32), f = Tensor::zeros({0, 3}, DType::F32);
    Tensor zb = Tensor::from<float>({3}, {-1, 0.5f, 2});
    Executor zx(z, &pool);
    Tensor zo = zx.run({}, {matmul_bias_act(z.constant(e), z.constant(f), z.constant(zb), "relu")})[0];
    for (int64_t i = 0; i < 12; ++i) EXPECT_EQ(zo.data<float>()[i], std::max(zb.data<float>()[i % 3], 0.f)) << i;
  }
  ops::force_kernel_choice("");
  bool listed = false;
  for (const std::string& line : ops::kernel_choices())
    listed = listed || line.rfind("matmul f32 m301 n53 k70 ta0 tb0 x1", 0) == 0;
  if (ops::dnnl_conv_available()) EXPECT_TRUE(listed) << "the choice for the plain product is listed";
  else EXPECT_FALSE(listed) << "one kernel: no choice to list";
}

// The f32 GEMM kernel is chosen by the shape, alike in every process: oneDNN, but
// OpenBLAS for a thin result (under 16 rows or columns), a product under 2^19
// multiply-adds and an inner dimension over 32 times the larger outer one. A preset choice (a resumed run's, from its
// checkpoint) comes first; a preset naming no candidate falls back to the rule.
TEST(Matmul, F32KernelChoiceByShapeAndPreset) {
  if (!ops::dnnl_conv_available()) GTEST_SKIP() << "this build has no oneDNN (libdnnl-dev): one f32 GEMM kernel, no choice";
  ThreadPool pool(1);
  auto key = [](int64_t m, int64_t n, int64_t k) {
    return "matmul f32 m" + std::to_string(m) + " n" + std::to_string(n) + " k" + std::to_string(k) +
           " ta0 tb0 x1, 1 thread(s)";
  };
  ops::preset_kernel_choices({{key(9, 11, 13), "onednn"}, {key(9, 11, 14), "no-such-kernel"}});
  struct Case {
    int64_t m, n, k;
    const char* want;
    const char* how;
  };
  const std::vector<Case> cases = {{32, 32, 1024, "onednn", "by shape"},   {32, 32, 1025, "openblas", "by shape"},
                                   {15, 64, 1024, "openblas", "by shape"},  {64, 15, 1024, "openblas", "by shape"},
                                   {64, 64, 128, "onednn", "by shape"},     {64, 64, 127, "openblas", "by shape"},
                                   {9, 11, 13, "onednn", "as before the resume"}, {9, 11, 14, "openblas", "by shape"}};
  Graph g;
  std::vector<Value> fetch;
  for (const Case& c : cases)
    fetch.push_back(matmul(g.constant(rand32({c.m, c.k}, 1)), g.constant(rand32({c.k, c.n}, 2))));
  Executor ex(g, &pool);
  ex.run({}, fetch);
  const auto winners = ops::kernel_choice_winners();
  const auto lines = ops::kernel_choices();
  for (const Case& c : cases) {
    const std::string k = key(c.m, c.n, c.k);
    ASSERT_TRUE(winners.count(k)) << k;
    EXPECT_EQ(winners.at(k), c.want) << k;
    EXPECT_EQ(std::count(lines.begin(), lines.end(), k + ": -> " + c.want + " (" + c.how + ")"), 1) << k;
  }
}

TEST(Matmul, ShapeErrors) {
  Graph g;
  auto a = g.placeholder("a", {2, 3});
  EXPECT_THROW(matmul(a, g.placeholder("b", {2, 3})), Error);
  EXPECT_NO_THROW(matmul(a, g.placeholder("c", {2, 3}), false, true));
  EXPECT_THROW(matmul(g.placeholder("d", {2, 2, 3}), g.placeholder("e", {3, 3, 2})), Error);  // batch differs
  EXPECT_THROW(matmul(g.placeholder("f", {3}), g.placeholder("h", {3, 2})), Error);          // rank 1
}

TEST(Matmul, Gradients) {
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      SCOPED_TRACE("ta=" + std::to_string(ta) + " tb=" + std::to_string(tb));
      auto f = [ta, tb](Graph&, const Vals& v) { return matmul(v[0], v[1], ta, tb); };
      check_gradients(f, {rand64(ta ? Shape{4, 3} : Shape{3, 4}, 1), rand64(tb ? Shape{2, 4} : Shape{4, 2}, 2)});
      check_gradients(f, {rand64(ta ? Shape{2, 4, 3} : Shape{2, 3, 4}, 3),
                          rand64(tb ? Shape{2, 5, 4} : Shape{2, 4, 5}, 4)});
    }
  for (int tb = 0; tb < 2; ++tb) {
    SCOPED_TRACE("weights, tb=" + std::to_string(tb));
    auto f = [tb](Graph&, const Vals& v) { return matmul(v[0], v[1], false, tb); };
    check_gradients(f, {rand64({2, 3, 4}, 5), rand64(tb ? Shape{5, 4} : Shape{4, 5}, 6)});
  }
}

// ---- reductions

TEST(Reduce, SingleAxes) {
  Graph g;
  auto x = C32(g, {2, 3}, {1, 2, 3, 4, 5, 6});
  expect_near(eval1(g, reduce_sum(x, {0})), {5, 7, 9});
  expect_near(eval1(g, reduce_sum(x, {-1})), {6, 15});
  expect_near(eval1(g, reduce_mean(x, {0})), {2.5, 3.5, 4.5});
  expect_near(eval1(g, reduce_mean(x, {1})), {2, 5});
  expect_near(eval1(g, reduce_max(x, {0})), {4, 5, 6});
  expect_near(eval1(g, reduce_max(C32(g, {2, 3}, {-1, -5, -2, 7, 0, 3}), {1})), {-1, 7});
  Tensor k = eval1(g, reduce_sum(x, {1}, true));
  EXPECT_EQ(k.shape(), (Shape{2, 1}));
  expect_near(k, {6, 15});
}

TEST(Reduce, SeveralAndAllAxes) {
  Graph g;
  std::vector<float> v(12);
  for (int i = 0; i < 12; ++i) v[size_t(i)] = float(i);  // x[i][j][k] = 6i + 2j + k
  auto x = C32(g, {2, 3, 2}, v);
  expect_near(eval1(g, reduce_sum(x, {0, 2})), {14, 22, 30});  // not contiguous
  expect_near(eval1(g, reduce_sum(x, {2, 1})), {15, 51});      // contiguous, unsorted
  expect_near(eval1(g, reduce_mean(x, {0, -1})), {3.5, 5.5, 7.5});
  expect_near(eval1(g, reduce_max(x, {0, 1})), {10, 11});
  Tensor km = eval1(g, reduce_max(x, {0, 2}, true));
  EXPECT_EQ(km.shape(), (Shape{1, 3, 1}));
  expect_near(km, {7, 9, 11});
  Tensor all = eval1(g, reduce_sum(x));
  EXPECT_EQ(all.shape(), Shape{});
  expect_near(all, {66});
  expect_near(eval1(g, mean(x)), {5.5});
  expect_near(eval1(g, sum(x)), {66});
  expect_near(eval1(g, reduce_max(x)), {11});
  Tensor ak = eval1(g, reduce_mean(x, {}, true));
  EXPECT_EQ(ak.shape(), (Shape{1, 1, 1}));
  expect_near(ak, {5.5});
  EXPECT_THROW(reduce_sum(x, {3}), Error);
  EXPECT_EQ(reduce_sum(g.placeholder("p", {-1, 4}), {1}).shape(), (Shape{-1}));
}

TEST(Reduce, Gradients) {
  using R = Value (*)(Value, std::vector<int64_t>, bool);
  for (R op : {R(&ft::reduce_sum), R(&ft::reduce_mean), R(&ft::reduce_max)}) {
    for (bool keep : {false, true}) {
      for (const auto& axes : std::vector<std::vector<int64_t>>{{0}, {1}, {-1}, {0, 2}, {1, 2}, {}}) {
        SCOPED_TRACE("keepdims=" + std::to_string(keep) + " axes=" + std::to_string(axes.size()));
        check_gradients([op, keep, axes](Graph&, const Vals& v) { return op(v[0], axes, keep); },
                        {rand64({2, 3, 4}, 1)});
      }
    }
  }
  check_gradients([](Graph&, const Vals& v) { return mean(v[0] * v[0]) + sum(v[0]); }, {rand64({3, 2}, 2)});
}

TEST(Gradients, UnknownBatchDimFedAtRunTime) {
  // y = x w + b with x (?, 3): the bias gradient sums over a batch only known at run time.
  Graph g;
  auto x = g.placeholder("x", {-1, 3}, DType::F64);
  auto w = g.variable("w", {3, 2}, init::zeros(), DType::F64);
  auto b = g.variable("b", {2}, init::zeros(), DType::F64);
  g.value(b).data<double>()[0] = 1;
  g.value(b).data<double>()[1] = 2;
  auto y = matmul(x, w) + b;
  auto gr = gradients(sum(y * y), {w, b});
  Executor ex(g);
  for (int64_t n : {3, 1}) {
    Tensor xt = Tensor::from<double>({n, 3}, std::vector<double>(size_t(n * 3), 1.0));
    auto out = ex.run({{x, xt}}, gr);
    const double N = double(n);
    EXPECT_EQ(out[1].to_vector<double>(), (std::vector<double>{2 * N, 4 * N}));  // 2 y summed over rows
    EXPECT_EQ(out[0].to_vector<double>(), (std::vector<double>{2 * N, 4 * N, 2 * N, 4 * N, 2 * N, 4 * N}));
  }
}

// ---- matmul_bias_act and the executor's fusion of matmul -> add(bias) -> relu

TEST(MatmulBiasAct, Gradients) {
  for (const char* act : {"relu", ""}) {
    SCOPED_TRACE(std::string("act '") + act + "'");
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        const Shape a = ta ? Shape{4, 3} : Shape{3, 4}, b = tb ? Shape{5, 4} : Shape{4, 5};
        check_gradients([&](Graph&, const Vals& v) { return matmul_bias_act(v[0], v[1], v[2], act, ta, tb); },
                        {rand64(a, 51), rand64(b, 52), rand64({5}, 53)});
      }
    // (.., M, K) x (K, N): the bias over the last dim of every row
    check_gradients([&](Graph&, const Vals& v) { return matmul_bias_act(v[0], v[1], v[2], act); },
                    {rand64({2, 3, 4}, 54), rand64({4, 5}, 55), rand64({5}, 56)});
  }
  Graph g;
  EXPECT_THROW(matmul_bias_act(g.constant(rand64({3, 4}, 1)), g.constant(rand64({4, 5}, 2)),
                               g.constant(rand64({1, 5}, 3)), "relu"),
               Error);  // the bias must be (N)
}

namespace {

// An MLP block y = relu(x w + b) (or without the relu) and the gradients of
// sum(y * r) for x, w, b, with the executor's fusion on and off; x is fed.
// `fetch_product` fetches x w too (then it may not be fused).
ft::testing::FusionPair dense_block(bool relu, bool fetch_product, DType dt, int64_t rows = 5, int64_t in = 6,
                                    int64_t out = 7) {
  return ft::testing::run_fused_and_plain([&](Graph& g, Executor::Feeds& feeds) {
    auto cst = [&](const Shape& s, uint64_t seed) {
      Value v = g.constant(rand64(s, seed));
      return dt == DType::F64 ? v : cast(v, dt);
    };
    Value x = g.placeholder("x", {-1, in}, dt), w = cst({in, out}, 62), b = cst({out}, 63);
    Value p = matmul(x, w);
    Value y = p + b;
    if (relu) y = ft::relu(y);
    std::vector<Value> gr = gradients(sum(y * cst({rows, out}, 64)), {x, w, b});
    std::vector<Value> fetches = {y, gr[0], gr[1], gr[2]};
    if (fetch_product) fetches.push_back(p);
    feeds = {{x, dt == DType::F64 ? rand64({rows, in}, 61) : rand32({rows, in}, 61)}};
    return fetches;
  });
}

}  // namespace

// The fused step runs the same GEMM, then the bias and the ReLU in the same order:
// the results are bit-identical, in fewer steps. A product read elsewhere stays.
TEST(MatmulBiasAct, ExecutorFusesMatmulBiasReluBitIdentically) {
  for (const std::string impl : {"", "onednn", "openblas"})
  for (DType dt : {DType::F64, DType::F32})
    for (bool relu : {true, false})
      for (bool fetch_product : {false, true}) {
        SCOPED_TRACE(std::string(dtype_name(dt)) + (relu ? " relu" : " bias only") +
                     (fetch_product ? ", product fetched" : "") + ", kernel " + (impl.empty() ? "chosen" : impl));
        ops::force_kernel_choice(impl);
        const ft::testing::FusionPair r = dense_block(relu, fetch_product, dt);
        // a product of many row blocks and column tiles, with a long inner dimension
        const ft::testing::FusionPair big = dense_block(relu, fetch_product, dt, 300, 200, 130);
        ops::force_kernel_choice("");
        EXPECT_EQ(r.fused_steps, r.plain_steps - (fetch_product ? 0 : relu ? 2 : 1));
        ASSERT_NO_FATAL_FAILURE(ft::testing::expect_bit_identical(r));
        ASSERT_NO_FATAL_FAILURE(ft::testing::expect_bit_identical(big));
      }
}
