// ops_conv_test.cpp — conv2d (im2col + GEMM) and pooling: forward against naive
// loops and hand values, gradient checks, shape errors.
#include <gtest/gtest.h>

#include "ops/cpu/kernel_choice.h"
#include "util/gradcheck.h"

using namespace ft;
using ft::testing::check_gradients;
using ft::testing::eval1;
using ft::testing::rand64;
using ft::testing::FusionPair;
using ft::testing::expect_bit_identical;
using ft::testing::run_fused_and_plain;

namespace {

// Direct convolution, x (N, C, H, W), w (O, C, KH, KW) -> (N, O, OH, OW).
std::vector<double> naive_conv(const Tensor& x, const Tensor& w, int64_t s, int64_t p) {
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  const int64_t O = w.dim(0), KH = w.dim(2), KW = w.dim(3);
  const int64_t OH = (H + 2 * p - KH) / s + 1, OW = (W + 2 * p - KW) / s + 1;
  std::vector<double> y(size_t(N * O * OH * OW), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double acc = 0;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t kh = 0; kh < KH; ++kh)
              for (int64_t kw = 0; kw < KW; ++kw) {
                int64_t ih = oh * s - p + kh, iw = ow * s - p + kw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                acc += x.at(((n * C + c) * H + ih) * W + iw) * w.at(((o * C + c) * KH + kh) * KW + kw);
              }
          y[size_t(((n * O + o) * OH + oh) * OW + ow)] = acc;
        }
  return y;
}

struct ConvCase {
  Shape x, w;
  int64_t stride, padding;
};

}  // namespace

TEST(Conv2d, ForwardMatchesNaiveLoop) {
  const std::vector<ConvCase> cases = {
      {{2, 3, 5, 5}, {4, 3, 3, 3}, 1, 0}, {{2, 3, 5, 5}, {4, 3, 3, 3}, 2, 1}, {{3, 2, 7, 6}, {5, 2, 3, 2}, 2, 2},
      {{2, 4, 3, 3}, {3, 4, 1, 1}, 1, 0}, {{1, 1, 4, 4}, {1, 1, 4, 4}, 1, 0}, {{7, 2, 6, 6}, {3, 2, 3, 3}, 3, 1},
      {{3, 2, 33, 33}, {3, 2, 1, 1}, 1, 0}, {{3, 1, 34, 34}, {2, 1, 3, 3}, 1, 0}};  // last two: one sample per GEMM
  for (const auto& cs : cases) {
    Tensor xt = rand64(cs.x, 1), wt = rand64(cs.w, 2);
    Graph g;
    Tensor y = eval1(g, conv2d(g.constant(xt), g.constant(wt), cs.stride, cs.padding));
    auto ref = naive_conv(xt, wt, cs.stride, cs.padding);
    ASSERT_EQ(y.numel(), int64_t(ref.size())) << shape_str(cs.x) << " s" << cs.stride;
    for (size_t i = 0; i < ref.size(); ++i)
      ASSERT_NEAR(y.at(int64_t(i)), ref[i], 1e-12) << shape_str(cs.x) << " s" << cs.stride << " p" << cs.padding;
  }
}

TEST(Conv2d, HandValues) {
  // 1x1x3x3 input 1..9, 2x2 filter of ones, stride 1: window sums.
  Graph g;
  auto x = g.constant(Tensor::from<float>({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9}));
  auto w = g.constant(Tensor::from<float>({1, 1, 2, 2}, {1, 1, 1, 1}));
  EXPECT_EQ(eval1(g, conv2d(x, w)).to_vector<float>(), (std::vector<float>{12, 16, 24, 28}));
  // padding 1, stride 2: corners see one 2x2 block each of the zero-padded input.
  EXPECT_EQ(eval1(g, conv2d(x, w, 2, 1)).to_vector<float>(), (std::vector<float>{1, 5, 11, 28}));
}

TEST(Conv2d, F32ManyThreadsMatchesNaive) {
  Tensor x64 = rand64({9, 3, 12, 12}, 3), w64 = rand64({8, 3, 3, 3}, 4);
  Tensor x32 = Tensor::empty(x64.shape(), DType::F32), w32 = Tensor::empty(w64.shape(), DType::F32);
  for (int64_t i = 0; i < x64.numel(); ++i) x32.data<float>()[i] = float(x64.at(i));
  for (int64_t i = 0; i < w64.numel(); ++i) w32.data<float>()[i] = float(w64.at(i));
  ThreadPool pool(3);
  Graph g;
  auto x = g.variable("x", x32.shape(), init::zeros());
  auto w = g.variable("w", w32.shape(), init::zeros());
  g.value(x).copy_from(x32);
  g.value(w).copy_from(w32);
  auto y = conv2d(x, w, 1, 1);
  auto grads = gradients(sum(y * y), {x, w});
  Executor ex(g, &pool);
  auto first = ex.run({}, {y, grads[0], grads[1]});
  std::vector<Tensor> a;
  for (auto& t : first) a.push_back(t.clone());
  auto ref = naive_conv(x32, w32, 1, 1);
  for (size_t i = 0; i < ref.size(); ++i) ASSERT_NEAR(a[0].at(int64_t(i)), ref[i], 1e-4);
  for (int rep = 0; rep < 3; ++rep) {  // same thread count: bit-identical gradients
    auto b = ex.run({}, {y, grads[0], grads[1]});
    EXPECT_EQ(a[1].to_vector<float>(), b[1].to_vector<float>());
    EXPECT_EQ(a[2].to_vector<float>(), b[2].to_vector<float>());
  }
}

TEST(Conv2d, GradientsStride2Padding1) {
  check_gradients([](Graph&, const std::vector<Value>& v) { return conv2d(v[0], v[1], 2, 1); },
                  {rand64({2, 3, 5, 5}, 5), rand64({4, 3, 3, 3}, 6)});
}

TEST(Conv2d, GradientsStride1NoPaddingAndPointwise) {
  check_gradients([](Graph&, const std::vector<Value>& v) { return conv2d(v[0], v[1], 1, 0); },
                  {rand64({2, 2, 4, 5}, 7), rand64({3, 2, 2, 3}, 8)});
  check_gradients([](Graph&, const std::vector<Value>& v) { return conv2d(v[0], v[1]); },
                  {rand64({2, 3, 3, 3}, 9), rand64({2, 3, 1, 1}, 10)});
  // large planes: one sample per GEMM (pointwise reads x directly)
  check_gradients([](Graph&, const std::vector<Value>& v) { return conv2d(v[0], v[1]); },
                  {rand64({2, 1, 33, 33}, 16), rand64({2, 1, 1, 1}, 17)});
  check_gradients([](Graph&, const std::vector<Value>& v) { return conv2d(v[0], v[1], 1, 1); },
                  {rand64({2, 1, 32, 32}, 18), rand64({2, 1, 3, 3}, 19)});
}

TEST(Conv2d, ChannelMismatchIsBuildError) {
  Graph g;
  auto x = g.placeholder("x", {-1, 3, 28, 28});
  auto w = g.variable("w", {8, 4, 3, 3}, init::zeros());
  try {
    conv2d(x, w);
    FAIL() << "expected a shape error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("conv2d"), std::string::npos) << m;
    EXPECT_NE(m.find("channel"), std::string::npos) << m;
  }
  EXPECT_THROW(conv2d(x, g.variable("w5", {8, 3, 30, 30}, init::zeros())), Error);  // window > input
  EXPECT_THROW(conv2d(g.placeholder("x3", {3, 28, 28}), w), Error);                   // rank
}

TEST(Conv2d, UnknownBatchShape) {
  Graph g;
  auto x = g.placeholder("x", {-1, 1, 28, 28});
  auto y = conv2d(x, g.variable("w", {32, 1, 3, 3}, init::zeros()), 2, 1);
  EXPECT_EQ(y.shape(), (Shape{-1, 32, 14, 14}));
}

TEST(MaxPool2d, HandValuesAndArgmax) {
  Graph g;
  std::vector<float> v(16);
  for (int i = 0; i < 16; ++i) v[size_t(i)] = float((i * 7) % 16);  // 0 7 14 5 / 12 3 10 1 / 8 15 6 13 / 4 11 2 9
  auto y = max_pool2d(g.constant(Tensor::from<float>({1, 1, 4, 4}, v)), 2);
  EXPECT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
  auto out = ft::testing::eval(g, {y, Value(&g, y.node(), 1)});
  EXPECT_EQ(out[0].to_vector<float>(), (std::vector<float>{12, 14, 15, 13}));
  EXPECT_EQ(out[1].to_vector<int32_t>(), (std::vector<int32_t>{4, 2, 9, 11}));
  // the general path (k 3) agrees: one window over the top-left 3x3 block
  auto y3 = max_pool2d(g.constant(Tensor::from<float>({1, 1, 4, 4}, v)), 3);
  auto out3 = ft::testing::eval(g, {y3, Value(&g, y3.node(), 1)});
  EXPECT_EQ(out3[0].to_vector<float>(), (std::vector<float>{15}));
  EXPECT_EQ(out3[1].to_vector<int32_t>(), (std::vector<int32_t>{9}));
}

TEST(MaxPool2d, Gradients) {
  check_gradients([](Graph&, const std::vector<Value>& v) { return max_pool2d(v[0], 2); },
                  {rand64({2, 3, 4, 6}, 11)});
  check_gradients([](Graph&, const std::vector<Value>& v) { return max_pool2d(v[0], 2); },
                  {rand64({2, 1, 5, 7}, 20)});  // odd sizes: the last row/column is dropped
  // overlapping windows (k 3, stride 2) and a ragged edge
  check_gradients([](Graph&, const std::vector<Value>& v) { return max_pool2d(v[0], 3, 2); },
                  {rand64({1, 2, 7, 6}, 12)});
}

TEST(AvgPool2d, HandValuesAndGradients) {
  Graph g;
  auto x = g.constant(Tensor::from<float>({1, 1, 2, 4}, {1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(eval1(g, avg_pool2d(x, 2)).to_vector<float>(), (std::vector<float>{3.5f, 5.5f}));
  check_gradients([](Graph&, const std::vector<Value>& v) { return avg_pool2d(v[0], 2); },
                  {rand64({2, 2, 4, 4}, 13)});
  check_gradients([](Graph&, const std::vector<Value>& v) { return avg_pool2d(v[0], 3, 2); },
                  {rand64({1, 2, 7, 5}, 14)});
}

TEST(Pool2d, BadShapesAreBuildErrors) {
  Graph g;
  EXPECT_THROW(max_pool2d(g.placeholder("a", {1, 1, 2, 2}), 3), Error);
  EXPECT_THROW(avg_pool2d(g.placeholder("b", {4, 4}), 2), Error);
}

TEST(Conv2d, SmallCnnTrainsDownhill) {
  // conv -> relu -> maxpool -> dense -> cross-entropy; a few SGD steps lower the loss.
  Graph g(3);
  auto x = g.constant(ft::testing::rand32({8, 1, 8, 8}, 15));
  auto labels = g.constant(Tensor::from<int32_t>({8}, {0, 1, 2, 3, 0, 1, 2, 3}));
  auto w1 = g.variable("w1", {4, 1, 3, 3}, init::he());
  auto w2 = g.variable("w2", {4 * 3 * 3, 4}, init::glorot());
  auto h = max_pool2d(relu(conv2d(x, w1)), 2);
  auto loss = mean(sparse_softmax_cross_entropy(matmul(reshape(h, {8, 36}), w2), labels));
  auto grads = gradients(loss, {w1, w2});
  Executor ex(g);
  double first = 0, last = 0;
  for (int step = 0; step < 30; ++step) {
    std::vector<Value> fetch = {loss, grads[0], grads[1]};
    auto out = ex.run({}, fetch);
    if (step == 0) first = out[0].at(0);
    last = out[0].at(0);
    for (int k = 0; k < 2; ++k) {
      Tensor& wv = g.value(k == 0 ? w1 : w2);
      for (int64_t i = 0; i < wv.numel(); ++i) wv.data<float>()[i] -= 0.5f * float(out[size_t(k) + 1].at(i));
    }
  }
  EXPECT_LT(last, first * 0.8);
}

// ---- conv2d_bias_act and the executor's fusion of conv2d -> add(bias) -> relu

TEST(Conv2dBiasAct, Gradients) {
  for (const char* act : {"relu", ""}) {
    SCOPED_TRACE(std::string("act '") + act + "'");
    check_gradients([&](Graph&, const std::vector<Value>& v) { return conv2d_bias_act(v[0], v[1], v[2], act, 2, 1); },
                    {rand64({2, 3, 5, 5}, 21), rand64({4, 3, 3, 3}, 22), rand64({4, 1, 1}, 23)});
    check_gradients([&](Graph&, const std::vector<Value>& v) { return conv2d_bias_act(v[0], v[1], v[2], act); },
                    {rand64({2, 2, 4, 5}, 24), rand64({3, 2, 2, 3}, 25), rand64({1, 3, 1, 1}, 26)});
  }
}

TEST(Conv2dBiasAct, ForwardIsConvPlusBiasThenRelu) {
  Tensor x = rand64({2, 3, 6, 5}, 31), w = rand64({4, 3, 3, 3}, 32), b = rand64({4, 1, 1}, 33);
  Graph g;
  Tensor y = eval1(g, conv2d_bias_act(g.constant(x), g.constant(w), g.constant(b), "relu", 1, 1));
  const std::vector<double> want = naive_conv(x, w, 1, 1);
  ASSERT_EQ(y.shape(), (Shape{2, 4, 6, 5}));
  for (int64_t i = 0; i < y.numel(); ++i)
    EXPECT_NEAR(y.at(i), std::max(0.0, want[size_t(i)] + b.at((i / 30) % 4)), 1e-12) << i;
}

TEST(Conv2dBiasAct, BadBiasOrActIsBuildError) {
  Graph g;
  auto x = g.placeholder("x", {-1, 3, 8, 8});
  auto w = g.variable("w", {4, 3, 3, 3}, init::zeros());
  try {
    conv2d_bias_act(x, w, g.variable("b", {4}, init::zeros()), "relu");
    FAIL() << "expected a shape error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bias must be (O, 1, 1) or (1, O, 1, 1) with O = 4, got [4]"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(conv2d_bias_act(x, w, g.variable("b5", {5, 1, 1}, init::zeros()), "relu"), Error);
  EXPECT_THROW(conv2d_bias_act(x, w, g.variable("b4", {4, 1, 1}, init::zeros()), "gelu"), Error);
}

namespace {

// relu(conv2d(x, w) + b) (or without the relu) and the gradients of sum(y * r)
// for x, w, b, with the executor's fusion on and off. `fetch_conv` fetches the
// convolution's output too (it may not be fused then).
FusionPair conv_block(bool relu, bool fetch_conv, DType dt) {
  return run_fused_and_plain([&](Graph& g, Executor::Feeds&) {
    auto cst = [&](const Shape& s, uint64_t seed) {
      Value v = g.constant(rand64(s, seed));
      return dt == DType::F64 ? v : cast(v, dt);
    };
    Value x = cst({3, 2, 7, 6}, 41), w = cst({5, 2, 3, 3}, 42), b = cst({5, 1, 1}, 43);
    Value c = conv2d(x, w, 1, 1);
    Value y = c + b;
    if (relu) y = ft::relu(y);
    std::vector<Value> gr = gradients(sum(y * cst({3, 5, 7, 6}, 44)), {x, w, b});
    std::vector<Value> fetches = {y, gr[0], gr[1], gr[2]};
    if (fetch_conv) fetches.push_back(c);
    return fetches;
  });
}

}  // namespace

// The fused plan computes exactly what the unfused one does (the same convolution,
// then the bias and the ReLU in the same order), in two fewer steps.
TEST(Conv2dBiasAct, ExecutorFusesConvBiasReluBitIdentically) {
  for (DType dt : {DType::F64, DType::F32})
    for (bool relu : {true, false}) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + (relu ? " relu" : " bias only"));
      ops::force_kernel_choice("im2col,unfused");  // the same convolution kernel both ways
      const FusionPair r = conv_block(relu, false, dt);
      ops::force_kernel_choice("");
      EXPECT_EQ(r.fused_steps, r.plain_steps - (relu ? 2 : 1));
      ASSERT_NO_FATAL_FAILURE(expect_bit_identical(r));
    }
}

TEST(Conv2dBiasAct, ExecutorDoesNotFuseAConvOutputReadElsewhere) {
  const FusionPair r = conv_block(true, true, DType::F64);
  EXPECT_EQ(r.fused_steps, r.plain_steps);
  expect_bit_identical(r);
}

// relu -> max_pool2d in training: the backward's relu_grad(max_pool2d_grad(..), y)
// runs as one max_pool2d_grad_relu step, with the same gradient bit for bit.
TEST(MaxPool2dGradRelu, ExecutorFusesThePoolGradientAndTheReluMask) {
  for (int64_t stride : {2, 1}) {  // stride 1: overlapping windows add up
    SCOPED_TRACE("stride " + std::to_string(stride));
    const FusionPair r = run_fused_and_plain([&](Graph& g, Executor::Feeds&) {
      Value x = g.constant(rand64({2, 3, 7, 7}, 71));  // 7: a row and a column no window covers at stride 2
      Value p = max_pool2d(ft::relu(x), 2, stride);
      return std::vector<Value>{gradients(sum(p * g.constant(rand64(p.shape(), 72))), {x})[0]};
    });
    EXPECT_EQ(r.fused_steps, r.plain_steps - 1);
    ASSERT_NO_FATAL_FAILURE(expect_bit_identical(r));
    int zeros = 0;
    for (int64_t i = 0; i < r.fused[0].numel(); ++i) zeros += r.fused[0].at(i) == 0;
    EXPECT_GT(zeros, 0);
  }
}
