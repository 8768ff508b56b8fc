// ops_conv_dnnl_test.cpp — conv2d and its gradients through oneDNN (plain and blocked
// layouts) against the im2col + GEMM kernel on the same inputs: strides, padding,
// odd shapes, batch 1, several threads; bf16 against the emulated kernel; the
// per-shape choice is recorded.
#include <gtest/gtest.h>

#include <cmath>

#include "ops/cpu/dnnl_conv.h"
#include "ops/cpu/dnnl_matmul.h"
#include "ops/cpu/kernel_choice.h"
#include "util/gradcheck.h"

using namespace ft;
using ft::testing::rand32;

namespace {

struct Case {
  Shape x, w;
  int64_t stride, padding;
};

const std::vector<Case> kCases = {
    {{2, 3, 5, 5}, {4, 3, 3, 3}, 1, 0},      {{2, 3, 5, 5}, {4, 3, 3, 3}, 2, 1},
    {{3, 2, 7, 6}, {5, 2, 3, 2}, 2, 2},      {{2, 4, 3, 3}, {3, 4, 1, 1}, 1, 0},  // pointwise
    {{1, 1, 4, 4}, {1, 1, 4, 4}, 1, 0},      {{7, 2, 6, 6}, {3, 2, 3, 3}, 3, 1},  // stride leaves a row
    {{1, 5, 11, 13}, {7, 5, 3, 3}, 1, 1},    {{1, 1, 28, 28}, {32, 1, 3, 3}, 1, 0},  // batch 1, the CNN's conv1
    {{5, 32, 13, 13}, {64, 32, 3, 3}, 1, 0}, {{3, 17, 9, 10}, {19, 17, 5, 5}, 2, 2},
    {{260, 3, 6, 6}, {4, 3, 3, 3}, 1, 1},  // more than 128 samples: three chunks, of 86 and 87
};

double max_rel_diff(const Tensor& a, const Tensor& b) {
  double scale = 1e-6, d = 0;
  for (int64_t i = 0; i < a.numel(); ++i) scale = std::max(scale, std::fabs(b.at(i)));
  for (int64_t i = 0; i < a.numel(); ++i) d = std::max(d, std::fabs(a.at(i) - b.at(i)));
  return d / scale;
}

// y, dx, dw of sum(conv2d(x, w) * r) on `threads` threads with the implementation `impl`.
std::vector<Tensor> run_conv(const Case& c, DType dtype, const std::string& impl, int threads) {
  ops::force_kernel_choice(impl);
  Graph g;
  Value x = g.constant(rand32(c.x, 1)), w = g.constant(rand32(c.w, 2));
  Value xh = dtype == DType::F32 ? x : cast(x, dtype), wh = dtype == DType::F32 ? w : cast(w, dtype);
  Value y = conv2d(xh, wh, c.stride, c.padding);
  Value r = g.constant(rand32(y.shape(), 3));
  Value loss = sum(cast(y, DType::F32) * r);
  std::vector<Value> gr = gradients(loss, {xh, wh});
  ThreadPool pool(threads);
  Executor ex(g, &pool);
  std::vector<Tensor> out;
  for (const Tensor& t : ex.run({}, {cast(y, DType::F32), cast(gr[0], DType::F32), cast(gr[1], DType::F32)}))
    out.push_back(t.clone());
  ops::force_kernel_choice("");
  return out;
}

}  // namespace

TEST(DnnlConv, F32MatchesIm2col) {
  if (!ops::dnnl_conv_available()) GTEST_SKIP() << "this build has no oneDNN (libdnnl-dev)";
  for (const Case& c : kCases)
    for (int threads : {1, 3}) {
      SCOPED_TRACE(shape_str(c.x) + " w " + shape_str(c.w) + " s" + std::to_string(c.stride) + " p" +
                   std::to_string(c.padding) + " threads " + std::to_string(threads));
      const std::vector<Tensor> want = run_conv(c, DType::F32, "im2col", threads);
      for (const char* impl : {"onednn", "onednn-blocked"}) {
        SCOPED_TRACE(impl);
        const std::vector<Tensor> got = run_conv(c, DType::F32, impl, threads);
        for (size_t i = 0; i < 3; ++i) {
          ASSERT_EQ(got[i].shape(), want[i].shape()) << "output " << i;
          EXPECT_LT(max_rel_diff(got[i], want[i]), 1e-5) << "output " << i << " (y, dx, dw)";
        }
      }
    }
}

// bf16 operands with f32 accumulation against the emulated kernel (f32 im2col on the
// same bf16 inputs, rounded): within bf16's rounding.
TEST(DnnlConv, Bf16MatchesEmulated) {
  if (!ops::dnnl_conv_available() || !ops::native_bf16_matmul_available())
    GTEST_SKIP() << "no native bf16 convolution here (needs oneDNN at build time and AVX512_BF16)";
  for (const Case& c : kCases) {
    SCOPED_TRACE(shape_str(c.x) + " w " + shape_str(c.w) + " s" + std::to_string(c.stride) + " p" +
                 std::to_string(c.padding));
    const std::vector<Tensor> want = run_conv(c, DType::BF16, "emulated", 2);
    for (const char* impl : {"onednn", "onednn-blocked"}) {
      SCOPED_TRACE(impl);
      const std::vector<Tensor> got = run_conv(c, DType::BF16, impl, 2);
      for (size_t i = 0; i < 3; ++i)
        EXPECT_LT(max_rel_diff(got[i], want[i]), 1.6e-2) << "output " << i << " (y, dx, dw)";
    }
  }
}

// Without a forced implementation the first call measures and records its choice.
TEST(DnnlConv, ChoiceIsMeasuredAndRecorded) {
  if (!ops::dnnl_conv_available()) GTEST_SKIP() << "this build has no oneDNN (libdnnl-dev)";
  const Case c{{3, 6, 10, 10}, {8, 6, 3, 3}, 1, 1};
  const std::vector<Tensor> measured = run_conv(c, DType::F32, "", 1);
  const std::vector<Tensor> want = run_conv(c, DType::F32, "im2col", 1);
  for (size_t i = 0; i < 3; ++i) EXPECT_LT(max_rel_diff(measured[i], want[i]), 1e-5);
  int found = 0;
  for (const std::string& line : ops::kernel_choices())
    if (line.find("x(3,6,10,10) w(8,6,3,3) s1 p1, 1 thread(s)") != std::string::npos) {
      ++found;
      EXPECT_NE(line.find("im2col"), std::string::npos) << line;
      EXPECT_NE(line.find("onednn"), std::string::npos) << line;
      EXPECT_NE(line.find(" -> "), std::string::npos) << line;
    }
  EXPECT_EQ(found, 3) << "conv2d, conv2d_grad_input and conv2d_grad_filter each choose once";
}

namespace {

// Pooling outputs with `impl`: y (and dx of sum(y * r)); for max pooling also the
// argmax, checked to point at an input equal to its output.
std::vector<Tensor> run_pool(bool is_max, const Shape& xs, int64_t k, int64_t s, const std::string& impl, int threads) {
  ops::force_kernel_choice(impl);
  Graph g;
  Tensor xt = rand32(xs, 4);
  if (is_max)  // ties, as after a ReLU
    for (int64_t i = 0; i < xt.numel(); i += 3) xt.data<float>()[i] = 0.f;
  Value x = g.constant(xt);
  Value y = is_max ? max_pool2d(x, k, s) : avg_pool2d(x, k, s);
  Value r = g.constant(rand32(y.shape(), 5));
  std::vector<Value> gr = gradients(sum(y * r), {x});
  ThreadPool pool(threads);
  Executor ex(g, &pool);
  std::vector<Value> fetch = {y, gr[0]};
  if (is_max) fetch.push_back(Value(&g, y.node(), 1));
  std::vector<Tensor> out;
  for (const Tensor& t : ex.run({}, fetch)) out.push_back(t.clone());
  ops::force_kernel_choice("");
  if (is_max) {
    const int64_t plane = xs[2] * xs[3], oplane = out[0].dim(2) * out[0].dim(3);
    for (int64_t i = 0; i < out[0].numel(); ++i)
      EXPECT_EQ(xt.data<float>()[(i / oplane) * plane + out[2].data<int32_t>()[i]], out[0].data<float>()[i]) << i;
  }
  return out;
}

}  // namespace

TEST(DnnlPool, MatchesDirect) {
  if (!ops::dnnl_conv_available()) GTEST_SKIP() << "this build has no oneDNN (libdnnl-dev)";
  struct P {
    Shape x;
    int64_t k, s;
  };
  for (bool is_max : {true, false})
    for (const P& p : {P{{2, 3, 4, 6}, 2, 2}, P{{2, 1, 5, 7}, 2, 2}, P{{1, 2, 7, 6}, 3, 2}, P{{3, 4, 26, 26}, 2, 2},
                       P{{1, 2, 9, 9}, 3, 3}, P{{2, 2, 8, 8}, 4, 1}, P{{260, 2, 4, 4}, 2, 2}})
      for (int threads : {1, 3}) {
        SCOPED_TRACE(std::string(is_max ? "max " : "avg ") + shape_str(p.x) + " k" + std::to_string(p.k) + " s" +
                     std::to_string(p.s) + " threads " + std::to_string(threads));
        const std::vector<Tensor> want = run_pool(is_max, p.x, p.k, p.s, "direct", threads);
        const std::vector<Tensor> got = run_pool(is_max, p.x, p.k, p.s, "onednn", threads);
        // max: the same values (ties may pick another input of the same value);
        // avg: the same sums in another order, divided rather than multiplied by 1/k^2
        if (is_max) {
          EXPECT_EQ(got[0].to_vector<float>(), want[0].to_vector<float>()) << "y";
        } else {
          EXPECT_LT(max_rel_diff(got[0], want[0]), 1e-6) << "y";
          EXPECT_LT(max_rel_diff(got[1], want[1]), 1e-6) << "dx";
        }
      }
}

// conv2d_bias_act through oneDNN with the bias and ReLU fused as post-ops (plain and
// blocked layouts), against the unfused kernel (im2col, then the bias and ReLU), on
// the forward and the gradients that read its output (relu_grad reads y).
TEST(DnnlConv, FusedBiasReluMatchesUnfused) {
  if (!ops::dnnl_conv_available()) GTEST_SKIP() << "this build has no oneDNN (libdnnl-dev)";
  auto run = [](const Case& c, const std::string& act, const std::string& impl, int threads) {
    ops::force_kernel_choice(impl);
    Graph g;
    Value x = g.constant(rand32(c.x, 1)), w = g.constant(rand32(c.w, 2)), b = g.constant(rand32({c.w[0], 1, 1}, 4));
    Value y = conv2d_bias_act(x, w, b, act, c.stride, c.padding);
    Value loss = sum(y * g.constant(rand32(y.shape(), 3)));
    std::vector<Value> gr = gradients(loss, {x, w, b});
    ThreadPool pool(threads);
    Executor ex(g, &pool);
    std::vector<Tensor> out;
    for (const Tensor& t : ex.run({}, {y, gr[0], gr[1], gr[2]})) out.push_back(t.clone());
    ops::force_kernel_choice("");
    return out;
  };
  for (const Case& c : kCases)
    for (const char* act : {"relu", ""})
      for (int threads : {1, 3}) {
        SCOPED_TRACE(shape_str(c.x) + " w " + shape_str(c.w) + " s" + std::to_string(c.stride) + " p" +
                     std::to_string(c.padding) + " act '" + act + "' threads " + std::to_string(threads));
        const std::vector<Tensor> want = run(c, act, "im2col,unfused", threads);
        for (const char* impl : {"onednn", "onednn-blocked"}) {
          SCOPED_TRACE(impl);
          const std::vector<Tensor> got = run(c, act, impl, threads);
          for (size_t i = 0; i < want.size(); ++i) {
            ASSERT_EQ(got[i].shape(), want[i].shape()) << "output " << i;
            EXPECT_LT(max_rel_diff(got[i], want[i]), 1e-5) << "output " << i << " (y, dx, dw, db)";
          }
        }
      }
}
