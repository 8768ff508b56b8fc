// ops_nn_test.cpp — softmax family, fused cross-entropy, mse, layer_norm, dropout:
// forward values against hand computation / reference loops, and gradient checks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "util/gradcheck.h"

using namespace ft;
using ft::testing::check_gradients;
using ft::testing::eval;
using ft::testing::eval1;
using ft::testing::rand64;

namespace {

std::vector<double> ref_softmax(const std::vector<double>& x) {
  double m = *std::max_element(x.begin(), x.end()), s = 0;
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) s += (y[i] = std::exp(x[i] - m));
  for (auto& v : y) v /= s;
  return y;
}

// The node's i-th output as a Value.
Value output(Value v, int i) { return Value(&v.graph(), v.node(), i); }

}  // namespace

TEST(Softmax, ForwardMatchesHandValues) {
  Graph g;
  auto x = g.constant(Tensor::from<double>({2, 3}, {1, 2, 3, 1000, 1000, 1000}));
  Tensor y = eval1(g, softmax(x));
  const double e1 = std::exp(1.0), e2 = std::exp(2.0), e3 = std::exp(3.0), s = e1 + e2 + e3;
  EXPECT_NEAR(y.at(0), e1 / s, 1e-12);
  EXPECT_NEAR(y.at(1), e2 / s, 1e-12);
  EXPECT_NEAR(y.at(2), e3 / s, 1e-12);
  for (int i = 3; i < 6; ++i) EXPECT_NEAR(y.at(i), 1.0 / 3, 1e-12);  // no overflow
}

TEST(Softmax, LogSoftmaxIsStable) {
  Graph g;
  auto x = g.constant(Tensor::from<float>({1, 3}, {1000.f, 0.f, -1000.f}));
  Tensor y = eval1(g, log_softmax(x));
  EXPECT_NEAR(y.at(0), 0.0, 1e-5);
  EXPECT_NEAR(y.at(1), -1000.0, 1e-2);
  EXPECT_TRUE(std::isfinite(y.at(2)));
}

TEST(Softmax, Gradients) {
  check_gradients([](Graph&, const std::vector<Value>& v) { return softmax(v[0]); }, {rand64({3, 5}, 1, -2, 2)});
  check_gradients([](Graph&, const std::vector<Value>& v) { return log_softmax(v[0]); },
                  {rand64({2, 2, 4}, 2, -2, 2)});
}

TEST(MaskedSoftmax, ForwardMatchesReferenceAndMaskedIsExactlyZero) {
  // x (B=2, H=2, T=3, T=3), mask (B, 1, 1, T); batch 1 masks everything in the last row... of keys
  Tensor xt = rand64({2, 2, 3, 3}, 3, -3, 3);
  Tensor mt = Tensor::from<double>({2, 1, 1, 3}, {1, 1, 0, 1, 0, 0});
  Graph g;
  Tensor y = eval1(g, masked_softmax(g.constant(xt), g.constant(mt)));
  for (int b = 0; b < 2; ++b)
    for (int r = 0; r < 6; ++r) {
      std::vector<double> keep;
      for (int j = 0; j < 3; ++j)
        if (mt.at(b * 3 + j) != 0) keep.push_back(xt.at((b * 6 + r) * 3 + j));
      auto p = ref_softmax(keep);
      size_t k = 0;
      for (int j = 0; j < 3; ++j) {
        double got = y.at((b * 6 + r) * 3 + j);
        if (mt.at(b * 3 + j) == 0) EXPECT_EQ(got, 0.0);
        else EXPECT_NEAR(got, p[k++], 1e-12);
      }
    }
}

TEST(MaskedSoftmax, FullyMaskedRowIsZerosNotNaN) {
  Graph g;
  auto x = g.constant(Tensor::from<float>({2, 3}, {1, 2, 3, 4, 5, 6}));
  auto m = g.constant(Tensor::from<float>({2, 3}, {0, 0, 0, 1, 0, 1}));
  Tensor y = eval1(g, masked_softmax(x, m));
  for (int j = 0; j < 3; ++j) EXPECT_EQ(y.at(j), 0.0);
  EXPECT_NEAR(y.at(3), 1 / (1 + std::exp(2.0)), 1e-6);
  EXPECT_EQ(y.at(4), 0.0);
}

TEST(MaskedSoftmax, Gradient) {
  Tensor mt = Tensor::from<double>({2, 1, 1, 3}, {1, 0, 1, 0, 0, 0});
  check_gradients([&](Graph& g, const std::vector<Value>& v) { return masked_softmax(v[0], g.constant(mt)); },
                  {rand64({2, 2, 3, 3}, 4, -2, 2)});
}

TEST(MaskedSoftmax, BadMaskIsBuildError) {
  Graph g;
  auto x = g.placeholder("x", {2, 4, 5});
  EXPECT_THROW(masked_softmax(x, g.placeholder("m", {2, 1, 3})), Error);
}

TEST(CrossEntropy, ForwardMatchesHandValuesAndSavesProbs) {
  for (DType lt : {DType::I32, DType::I64}) {
    Graph g;
    auto logits = g.constant(Tensor::from<double>({3, 3}, {1, 2, 3, 1, 1, 1, 5, 0, 0}));
    Tensor labels = lt == DType::I32 ? Tensor::from<int32_t>({3}, {2, 0, -1}) : Tensor::from<int64_t>({3}, {2, 0, -1});
    auto loss = sparse_softmax_cross_entropy(logits, g.constant(labels));
    auto out = eval(g, {loss, output(loss, 1)});
    const double lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
    EXPECT_NEAR(out[0].at(0), lse - 3, 1e-12);
    EXPECT_NEAR(out[0].at(1), std::log(3.0), 1e-12);
    EXPECT_EQ(out[0].at(2), 0.0);  // ignored label
    auto p = ref_softmax({1, 2, 3});
    for (int j = 0; j < 3; ++j) EXPECT_NEAR(out[1].at(j), p[size_t(j)], 1e-12);
  }
}

TEST(CrossEntropy, GradientIsProbsMinusOneHotAndIgnoresNegativeLabels) {
  Graph g;
  auto logits = g.variable("l", {2, 3}, init::zeros(), DType::F64);
  g.value(logits).copy_from(Tensor::from<double>({2, 3}, {1, 2, 3, 4, 5, 6}));
  auto loss = sum(sparse_softmax_cross_entropy(logits, g.constant(Tensor::from<int32_t>({2}, {1, -1}))));
  Tensor d = eval1(g, gradients(loss, {logits})[0]);
  auto p = ref_softmax({1, 2, 3});
  EXPECT_NEAR(d.at(0), p[0], 1e-12);
  EXPECT_NEAR(d.at(1), p[1] - 1, 1e-12);
  EXPECT_NEAR(d.at(2), p[2], 1e-12);
  for (int j = 3; j < 6; ++j) EXPECT_EQ(d.at(j), 0.0);
}

TEST(CrossEntropy, GradientCheck) {
  Tensor labels = Tensor::from<int64_t>({4}, {0, 3, -1, 2});
  check_gradients([](Graph&, const std::vector<Value>& v) { return sparse_softmax_cross_entropy(v[0], v[1]); },
                  {rand64({4, 5}, 5, -2, 2), labels});
}

TEST(CrossEntropy, LabelOutOfRangeIsRunTimeErrorNamingLabelAndC) {
  Graph g;
  auto logits = g.placeholder("logits", {-1, 3});
  auto labels = g.placeholder("labels", {-1}, DType::I32);
  auto loss = sparse_softmax_cross_entropy(logits, labels);
  Executor ex(g);
  try {
    ex.run({{logits, Tensor::zeros({2, 3}, DType::F32)}, {labels, Tensor::from<int32_t>({2}, {0, 5})}}, {loss});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("label 5"), std::string::npos) << m;
    EXPECT_NE(m.find("C = 3"), std::string::npos) << m;
  }
}

TEST(CrossEntropy, BadShapesAreBuildErrors) {
  Graph g;
  auto logits = g.placeholder("logits", {4, 3});
  EXPECT_THROW(sparse_softmax_cross_entropy(logits, g.placeholder("a", {5}, DType::I32)), Error);
  EXPECT_THROW(sparse_softmax_cross_entropy(logits, g.placeholder("b", {4}, DType::F32)), Error);
}

TEST(Mse, ForwardAndGradient) {
  Graph g;
  auto p = g.constant(Tensor::from<float>({2, 2}, {1, 2, 3, 4}));
  auto t = g.constant(Tensor::from<float>({2, 2}, {1, 0, 0, 0}));
  EXPECT_NEAR(eval1(g, mse(p, t)).at(0), (0 + 4 + 9 + 16) / 4.0, 1e-6);
  check_gradients([](Graph&, const std::vector<Value>& v) { return mse(v[0], v[1]); },
                  {rand64({3, 4}, 6), rand64({3, 4}, 7)});
  EXPECT_THROW(mse(p, g.placeholder("bad", {4})), Error);
}

TEST(LayerNorm, ForwardMatchesReferenceAndSavesStats) {
  Tensor xt = rand64({3, 5}, 8, -2, 2), gt = rand64({5}, 9), bt = rand64({5}, 10);
  Graph g;
  auto y = layer_norm(g.constant(xt), g.constant(gt), g.constant(bt), 1e-5);
  auto out = eval(g, {y, output(y, 1), output(y, 2)});
  for (int r = 0; r < 3; ++r) {
    double m = 0, v = 0;
    for (int j = 0; j < 5; ++j) m += xt.at(r * 5 + j) / 5;
    for (int j = 0; j < 5; ++j) v += (xt.at(r * 5 + j) - m) * (xt.at(r * 5 + j) - m) / 5;
    const double rs = 1 / std::sqrt(v + 1e-5);
    EXPECT_NEAR(out[1].at(r), m, 1e-12);
    EXPECT_NEAR(out[2].at(r), rs, 1e-12);
    for (int j = 0; j < 5; ++j)
      EXPECT_NEAR(out[0].at(r * 5 + j), (xt.at(r * 5 + j) - m) * rs * gt.at(j) + bt.at(j), 1e-12);
  }
  EXPECT_EQ(out[1].shape(), (Shape{3}));
}

TEST(LayerNorm, GradientsOfXGammaBeta) {
  check_gradients(
      [](Graph&, const std::vector<Value>& v) { return layer_norm(v[0], v[1], v[2], 1e-5); },
      {rand64({2, 3, 6}, 11, -2, 2), rand64({6}, 12, 0.5, 1.5), rand64({6}, 13)}, 1e-5);
}

TEST(LayerNorm, GammaShapeMismatchIsBuildError) {
  Graph g;
  auto x = g.placeholder("x", {-1, 8});
  EXPECT_THROW(layer_norm(x, g.placeholder("gm", {7}), g.placeholder("bt", {8})), Error);
}

TEST(Dropout, MaskRateAndScaleAndReproducibility) {
  const int64_t n = 200000;
  const double p = 0.3;
  Graph g;
  auto x = g.constant(Tensor::from<float>({n}, std::vector<float>(size_t(n), 1.f)));
  auto y = dropout(x, p, 42);
  Executor ex(g);
  RunOptions o;
  o.step = 5;
  Tensor a = ex.run({}, {y}, o)[0].clone();
  int64_t zeros = 0;
  for (int64_t i = 0; i < n; ++i) {
    float v = a.data<float>()[i];
    if (v == 0.f) ++zeros;
    else ASSERT_NEAR(v, 1 / (1 - p), 1e-6);
  }
  EXPECT_NEAR(double(zeros) / n, p, 0.01);
  Tensor b = ex.run({}, {y}, o)[0].clone();
  EXPECT_EQ(a.to_vector<float>(), b.to_vector<float>());  // same (seed, step): same mask
  o.step = 6;
  Tensor c = ex.run({}, {y}, o)[0].clone();
  EXPECT_NE(a.to_vector<float>(), c.to_vector<float>());  // a new step draws a new mask
  Tensor mask = ex.run({}, {output(y, 1)}, o)[0];
  EXPECT_EQ(mask.to_vector<float>(), c.to_vector<float>());  // x = 1: y equals the mask
}

// An output projection with a bias, h · Wᵀ + b, under the cross-entropy: the
// logits' gradient and the bias gradient are one step with two outputs, and
// where the projection's products compute in half (matmul attr "half") the
// gradient is written in half in that step too. Bits as the unfused steps, at 1
// and 3 threads, over several blocks of columns (1024) and groups of rows (4).
TEST(CrossEntropy, GradientAndBiasGradientAreOneStepBitIdentically) {
  for (int half : {-1, int(DType::BF16), int(DType::F16)}) {
    for (int threads : {1, 3}) {
      SCOPED_TRACE("half " + std::to_string(half) + ", threads " + std::to_string(threads));
      ThreadPool pool(threads);
      ft::testing::FusionPair r;
      for (bool fuse : {true, false}) {
        Graph g;
        const int64_t n = 7, d = 5, v = 4500;
        Value h = g.placeholder("h", {-1, d});
        Value w = g.constant(ft::testing::rand32({v, d}, 72, -1, 1));
        Value b = g.constant(ft::testing::rand32({v}, 73, -1, 1));
        AttrMap at{{"transpose_a", false}, {"transpose_b", true}};
        if (half >= 0) at.set("half", int64_t(half));
        Value logits = g.add1("matmul", {h, w}, at) + b;
        // rows in fours: a label two rows share, an ignored row, labels at block edges
        Value labels = g.constant(Tensor::from<int32_t>({n}, {3, -1, 3, 0, 2048, 2047, 4499}));
        Value loss = mean(sparse_softmax_cross_entropy(logits, labels));
        std::vector<Value> fetches = gradients(loss, {h, w, b});
        fetches.insert(fetches.begin(), loss);
        Executor ex(g, &pool);
        ex.set_fusion(fuse);
        const Executor::Feeds feeds = {{h, ft::testing::rand32({n, d}, 74, -2, 2)}};
        for (const Tensor& t : ex.run(feeds, fetches)) (fuse ? r.fused : r.plain).push_back(t.clone());
        (fuse ? r.fused_steps : r.plain_steps) = ex.stats(feeds, fetches).nodes;
        if (fuse) {  // the step is there, and the order lists its nodes in graph order
          RunOptions o;
          Profile prof;
          o.profile = &prof;
          ex.run(feeds, fetches, o);
          EXPECT_EQ(prof.by_op.count("sparse_softmax_cross_entropy_grad_bias"), 1u);
          EXPECT_EQ(prof.by_op.count("sum_to_like"), 0u);
          // the moved nodes' shapes: the bias gradient (v) and, in half, the cast (n, v)
          const auto shapes = ex.shapes(feeds, fetches);
          EXPECT_EQ(shapes.at(fetches[3].node()), (std::vector<Shape>{{v}}));
          const std::vector<int> order = ex.order(feeds, fetches);
          std::set<int> seen;
          for (int id : order) {
            for (const Output& in : g.node(id).inputs)
              EXPECT_TRUE(seen.count(in.node) || !std::count(order.begin(), order.end(), in.node)) << g.node(id).name;
            seen.insert(id);
          }
        }
      }
      // the bias sum merged into the gradient's step (and the cast, in half); the forward's
      // matmul and bias add are one step too
      EXPECT_EQ(r.fused_steps, r.plain_steps - (half >= 0 ? 2 : 1) - 1);
      ASSERT_NO_FATAL_FAILURE(ft::testing::expect_bit_identical(r));
    }
  }
}

// Where the logits' gradient is also read in f32 (here fetched), the two-output
// step writes it in f32 and the cast stays its own step; without a bias
// gradient to compute there is no such step.
TEST(CrossEntropy, GradientAndBiasFusionKeepsAnF32Reader) {
  for (bool with_bias_gradient : {true, false}) {
    SCOPED_TRACE(with_bias_gradient ? "bias gradient" : "no bias gradient");
    const ft::testing::FusionPair r = ft::testing::run_fused_and_plain([&](Graph& g, Executor::Feeds& feeds) {
      Value logits = g.placeholder("logits", {-1, 37});
      Value b = g.constant(ft::testing::rand32({37}, 75));
      Value labels = g.constant(Tensor::from<int32_t>({4}, {3, -1, 36, 0}));
      Value loss = mean(sparse_softmax_cross_entropy(logits + b, labels));
      std::vector<Value> wrt = {logits};
      if (with_bias_gradient) wrt.push_back(b);
      std::vector<Value> grads = gradients(loss, wrt);
      feeds = {{logits, ft::testing::rand32({4, 37}, 76, -4, 4)}};
      grads.push_back(cast(grads[0], DType::BF16));
      grads.push_back(loss);
      return grads;
    });
    EXPECT_EQ(r.fused_steps, r.plain_steps - (with_bias_gradient ? 1 : 0));
    ASSERT_NO_FATAL_FAILURE(ft::testing::expect_bit_identical(r));
  }
}

TEST(Dropout, EvalModeIsIdentity) {
  Graph g;
  Tensor xt = ft::testing::rand32({1000}, 14);
  auto y = dropout(g.constant(xt), 0.5, 1);
  Executor ex(g);
  RunOptions o;
  o.training = false;
  EXPECT_EQ(ex.run({}, {y}, o)[0].to_vector<float>(), xt.to_vector<float>());
}

TEST(Dropout, GradientWithFixedStep) {
  check_gradients([](Graph&, const std::vector<Value>& v) { return dropout(v[0], 0.4, 3); }, {rand64({4, 6}, 15)});
}

TEST(Dropout, BadRateIsBuildError) {
  Graph g;
  EXPECT_THROW(dropout(g.placeholder("x", {3}), 1.0, 0), Error);
}

// Mixed precision casts the logits' gradient to half for the output projection's
// products: the executor writes it in half as it computes it, one step fewer, the
// same bits as the cast of the f32 gradient (ignored labels included). On
// cuda there is no fused kernel, and the plan keeps both steps.
TEST(CrossEntropy, GradientCastToHalfIsOneStepBitIdentically) {
  for (DType h : {DType::BF16, DType::F16}) {
    SCOPED_TRACE(dtype_name(h));
    const ft::testing::FusionPair r = ft::testing::run_fused_and_plain([&](Graph& g, Executor::Feeds& feeds) {
      Value logits = g.placeholder("logits", {-1, 37});
      Value labels = g.constant(Tensor::from<int32_t>({5}, {3, -1, 36, 0, 17}));
      Value loss = mean(sparse_softmax_cross_entropy(logits, labels));
      Value dl = gradients(loss, {logits})[0];
      feeds = {{logits, ft::testing::rand32({5, 37}, 71, -4, 4)}};
      return std::vector<Value>{loss, cast(dl, h)};
    });
    EXPECT_EQ(r.fused_steps, r.plain_steps - 1);
    ASSERT_NO_FATAL_FAILURE(ft::testing::expect_bit_identical(r));
    EXPECT_EQ(r.fused[1].dtype(), h);
  }
}
