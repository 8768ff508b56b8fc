// nn_test.cpp — Keras-style layers: shapes, variable names, forward values,
// the model zoo, and a small Sequential trained with optim::SGD.
#include <gtest/gtest.h>

#include <cmath>

#include "nn/nn.h"
#include "optim/optim.h"
#include "util/gradcheck.h"

using namespace ft;
using ft::testing::eval1;

namespace {
std::vector<std::string> names(const std::vector<Value>& vs) {
  std::vector<std::string> n;
  for (const auto& v : vs) n.push_back(v.name());
  return n;
}
}  // namespace

TEST(NN, DenseShapesAndVariables) {
  Graph g;
  auto x = g.placeholder("x", {-1, 784});
  nn::Dense d(10, "relu");
  Value y = d(g, x);
  EXPECT_EQ(y.shape(), (Shape{-1, 10}));
  EXPECT_EQ(d.name(), "dense_1");
  ASSERT_EQ(g.trainable().size(), 2u);
  EXPECT_EQ(g.value("dense_1/w").shape(), (Shape{784, 10}));
  EXPECT_EQ(g.value("dense_1/b").shape(), (Shape{10}));
  EXPECT_EQ(names(d.variables()), (std::vector<std::string>{"dense_1/w", "dense_1/b"}));
}

TEST(NN, DenseForwardValue) {
  Graph g;
  auto x = g.placeholder("x", {-1, 3});
  Value y = nn::Dense(2, "relu")(g, x);
  g.value("dense_1/w").copy_from(Tensor::from<float>({3, 2}, {1, 0, 0, 1, 1, -1}));
  g.value("dense_1/b").copy_from(Tensor::from<float>({2}, {0.5f, -0.5f}));
  // x w = [[4, -1], [0, -1]]; + b = [[4.5, -1.5], [0.5, -1.5]]; relu
  Tensor out = eval1(g, y, {{x, Tensor::from<float>({2, 3}, {1, 2, 3, -1, 0, 1})}});
  EXPECT_EQ(out.to_vector<float>(), (std::vector<float>{4.5f, 0, 0.5f, 0}));
}

TEST(NN, DenseOnRank3Input) {
  Graph g;
  auto x = g.placeholder("x", {-1, 7, 16});
  EXPECT_EQ(nn::Dense(4)(g, x).shape(), (Shape{-1, 7, 4}));
}

TEST(NN, NamingScopesAndReuse) {
  Graph g;
  auto x = g.placeholder("x", {-1, 4});
  nn::Dense a(3), b(3);
  Value ya = a(g, x);
  b(g, x);
  EXPECT_EQ(a.name(), "dense_1");
  EXPECT_EQ(b.name(), "dense_2");
  Value ya2 = a(g, x);  // shares a's variables
  EXPECT_EQ(g.trainable().size(), 4u);
  EXPECT_EQ(ya2.shape(), ya.shape());
  {
    auto s = g.name_scope("model");
    nn::Dense c(2);
    c(g, x);
    EXPECT_EQ(c.variables()[0].name(), "model/dense_1/w");
  }
  auto named = nn::Dense(5).named("fc1");
  named(g, x);
  EXPECT_TRUE(g.has("fc1/w"));
  EXPECT_TRUE(g.has("fc1/b"));
  // Another graph: the layer starts fresh there.
  Graph g2;
  auto x2 = g2.placeholder("x", {-1, 4});
  a(g2, x2);
  EXPECT_EQ(a.variables()[0].name(), "dense_1/w");
  EXPECT_EQ(&a.variables()[0].graph(), &g2);
}

TEST(NN, ReuseWithDifferentInputWidthIsAnError) {
  Graph g;
  nn::Dense d(3);
  d(g, g.placeholder("x", {-1, 4}));
  EXPECT_THROW(d(g, g.placeholder("z", {-1, 5})), Error);
}

TEST(NN, BadArgumentsAreErrors) {
  EXPECT_THROW(nn::Dense(4, "swish"), Error);
  try {
    nn::Activation("swish");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("swish"), std::string::npos);
  }
  EXPECT_THROW(nn::Dense(0), Error);
  EXPECT_THROW(nn::Dropout(1.0), Error);
  EXPECT_THROW(nn::Conv2D(8, 2, 1, "same"), Error);   // even kernel
  EXPECT_THROW(nn::Conv2D(8, 3, 1, "full"), Error);
  Graph g;
  auto x = g.placeholder("x", {-1, -1});
  try {
    nn::Dense(3)(g, x);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dense_1"), std::string::npos) << e.what();
  }
}

TEST(NN, FlattenShapes) {
  Graph g;
  auto x = g.placeholder("x", {-1, 3, 4, 5});
  EXPECT_EQ(nn::Flatten()(g, x).shape(), (Shape{-1, 60}));
  auto y = g.placeholder("y", {-1, 3, -1});
  EXPECT_THROW(nn::Flatten()(g, y), Error);
  Tensor t = ft::testing::rand32({2, 3, 4, 5}, 1);
  Tensor out = eval1(g, nn::Flatten()(g, x), {{x, t}});
  EXPECT_EQ(out.shape(), (Shape{2, 60}));
  EXPECT_EQ(out.to_vector<float>(), t.to_vector<float>());
}

TEST(NN, Conv2DShapesAndVariables) {
  Graph g;
  auto x = g.placeholder("x", {-1, 3, 28, 28});
  EXPECT_EQ(nn::Conv2D(8, 3)(g, x).shape(), (Shape{-1, 8, 26, 26}));
  EXPECT_EQ(nn::Conv2D(8, 3, 1, "same")(g, x).shape(), (Shape{-1, 8, 28, 28}));
  EXPECT_EQ(nn::Conv2D(8, 3, 2, "same")(g, x).shape(), (Shape{-1, 8, 14, 14}));
  EXPECT_EQ(nn::Conv2D(8, 5, 1, 1)(g, x).shape(), (Shape{-1, 8, 26, 26}));
  EXPECT_EQ(g.value("conv2d_1/w").shape(), (Shape{8, 3, 3, 3}));
  EXPECT_EQ(g.value("conv2d_4/w").shape(), (Shape{8, 3, 5, 5}));
  EXPECT_EQ(g.value("conv2d_1/b").shape(), (Shape{8}));
  EXPECT_EQ(nn::MaxPool2D(2)(g, x).shape(), (Shape{-1, 3, 14, 14}));
  EXPECT_THROW(nn::Conv2D(8, 3)(g, g.placeholder("flat", {-1, 784})), Error);
}

TEST(NN, Conv2DForwardValueWithBias) {
  // 1x1 conv: y[n, o] = sum_c w[o, c] x[n, c] + b[o]
  Graph g;
  auto x = g.placeholder("x", {1, 2, 1, 2});
  Value y = nn::Conv2D(1, 1)(g, x);
  g.value("conv2d_1/w").copy_from(Tensor::from<float>({1, 2, 1, 1}, {2, -1}));
  g.value("conv2d_1/b").copy_from(Tensor::from<float>({1}, {0.5f}));
  Tensor out = eval1(g, y, {{x, Tensor::from<float>({1, 2, 1, 2}, {1, 2, 3, 5})}});
  EXPECT_EQ(out.to_vector<float>(), (std::vector<float>{2 - 3 + 0.5f, 4 - 5 + 0.5f}));
}

TEST(NN, MlpZoo) {
  Graph g;
  auto x = g.placeholder("x", {-1, 784});
  Value logits = nn::mlp(g, x);
  EXPECT_EQ(logits.shape(), (Shape{-1, 10}));
  auto vars = g.trainable();
  EXPECT_EQ(names(vars), (std::vector<std::string>{"dense_1/w", "dense_1/b", "dense_2/w", "dense_2/b", "dense_3/w",
                                                   "dense_3/b"}));
  std::vector<Shape> shapes;
  for (auto& v : vars) shapes.push_back(v.shape());
  EXPECT_EQ(shapes, (std::vector<Shape>{{784, 512}, {512}, {512, 512}, {512}, {512, 10}, {10}}));

  Graph g2;
  auto img = g2.placeholder("img", {-1, 1, 28, 28});
  nn::MlpOptions o;
  o.hidden = {32};
  o.classes = 5;
  Value l2 = nn::mlp(g2, img, o);
  EXPECT_EQ(l2.shape(), (Shape{-1, 5}));
  EXPECT_EQ(g2.trainable().size(), 4u);
  Tensor out = eval1(g2, l2, {{img, ft::testing::rand32({3, 1, 28, 28}, 2)}});
  EXPECT_EQ(out.shape(), (Shape{3, 5}));
}

TEST(NN, LenetCnnZoo) {
  Graph g;
  auto x = g.placeholder("x", {-1, 1, 28, 28});
  Value logits = nn::lenet_cnn(g, x);
  EXPECT_EQ(logits.shape(), (Shape{-1, 10}));
  auto vars = g.trainable();
  EXPECT_EQ(names(vars), (std::vector<std::string>{"conv2d_1/w", "conv2d_1/b", "conv2d_2/w", "conv2d_2/b", "dense_1/w",
                                                   "dense_1/b", "dense_2/w", "dense_2/b"}));
  std::vector<Shape> shapes;
  for (auto& v : vars) shapes.push_back(v.shape());
  EXPECT_EQ(shapes, (std::vector<Shape>{{32, 1, 3, 3}, {32}, {64, 32, 3, 3}, {64}, {1600, 128}, {128}, {128, 10},
                                        {10}}));
  Executor ex(g);
  RunOptions eval_opts;
  eval_opts.training = false;
  Tensor out = ex.run({{x, ft::testing::rand32({2, 1, 28, 28}, 3)}}, {logits}, eval_opts)[0];
  EXPECT_EQ(out.shape(), (Shape{2, 10}));

  Graph g2;  // flat (N, 784) input is reshaped
  EXPECT_EQ(nn::lenet_cnn(g2, g2.placeholder("x", {-1, 784})).shape(), (Shape{-1, 10}));
  EXPECT_THROW(nn::lenet_cnn(g2, g2.placeholder("y", {-1, 783})), Error);
}

TEST(NN, DropoutIsIdentityInEvaluation) {
  Graph g;
  auto x = g.placeholder("x", {4, 50});
  Value y = nn::Dropout(0.5)(g, x);
  Tensor t = ft::testing::rand32({4, 50}, 4, 1.0, 2.0);
  Executor ex(g);
  RunOptions eval_opts;
  eval_opts.training = false;
  EXPECT_EQ(ex.run({{x, t}}, {y}, eval_opts)[0].to_vector<float>(), t.to_vector<float>());
  auto tr = ex.run({{x, t}}, {y})[0].to_vector<float>();
  int zeros = 0;
  for (size_t i = 0; i < tr.size(); ++i) {
    if (tr[i] == 0) ++zeros;
    else EXPECT_FLOAT_EQ(tr[i], 2 * t.to_vector<float>()[i]);
  }
  EXPECT_GT(zeros, 50);
  EXPECT_LT(zeros, 150);
}

TEST(NN, LayerNormVariablesAndForward) {
  Graph g;
  auto x = g.placeholder("x", {-1, 8});
  nn::LayerNorm ln;
  Value y = ln(g, x);
  EXPECT_EQ(names(ln.variables()), (std::vector<std::string>{"layer_norm_1/gamma", "layer_norm_1/beta"}));
  EXPECT_FALSE(optim::default_decays("layer_norm_1/gamma"));
  Tensor out = eval1(g, y, {{x, ft::testing::rand32({3, 8}, 5, -2, 3)}});
  for (int r = 0; r < 3; ++r) {
    double m = 0, v = 0;
    for (int c = 0; c < 8; ++c) m += out.at(r * 8 + c) / 8;
    for (int c = 0; c < 8; ++c) v += (out.at(r * 8 + c) - m) * (out.at(r * 8 + c) - m) / 8;
    EXPECT_NEAR(m, 0, 1e-5);
    EXPECT_NEAR(v, 1, 1e-3);
  }
}

TEST(NN, EmbeddingLooksUpRows) {
  Graph g;
  auto ids = g.placeholder("ids", {-1, 3}, DType::I32);
  nn::Embedding emb(5, 2);
  Value y = emb(g, ids);
  EXPECT_EQ(y.shape(), (Shape{-1, 3, 2}));
  EXPECT_EQ(g.value("embedding_1/table").shape(), (Shape{5, 2}));
  g.value("embedding_1/table").copy_from(Tensor::from<float>({5, 2}, {0, 1, 10, 11, 20, 21, 30, 31, 40, 41}));
  Tensor out = eval1(g, y, {{ids, Tensor::from<int32_t>({1, 3}, {4, 0, 2})}});
  EXPECT_EQ(out.to_vector<float>(), (std::vector<float>{40, 41, 0, 1, 20, 21}));
  EXPECT_THROW(nn::Embedding(5, 2)(g, g.placeholder("f", {-1, 3})), Error);
}

TEST(NN, SequentialOfDenseTrainsWithSGD) {
  // Regression y = sin(2 x0) + x0 x1 on 64 fixed points.
  Graph g(11);
  auto x = g.placeholder("x", {-1, 2});
  auto y = g.placeholder("y", {-1, 1});
  nn::Sequential model;
  model.add(nn::Dense(16, "tanh")).add(nn::Dense(16, "tanh")).add(nn::Dense(1));
  Value pred = model(g, x);
  Value loss = mean(square(pred - y));
  auto vars = g.trainable();
  ASSERT_EQ(vars.size(), 6u);
  EXPECT_EQ(names(model.all_variables()), names(vars));
  auto grads = gradients(loss, vars);

  Tensor xt = ft::testing::rand32({64, 2}, 7);
  Tensor yt = Tensor::empty({64, 1}, DType::F32);
  for (int i = 0; i < 64; ++i) {
    float a = xt.data<float>()[2 * i], b = xt.data<float>()[2 * i + 1];
    yt.data<float>()[i] = std::sin(2 * a) + a * b;
  }
  std::vector<Value> fetches = {loss};
  fetches.insert(fetches.end(), grads.begin(), grads.end());
  optim::SGD sgd(0.2);
  Executor ex(g);
  double first = 0, last = 0;
  for (int step = 0; step < 300; ++step) {
    auto out = ex.run({{x, xt}, {y, yt}}, fetches);
    last = out[0].item<float>();
    if (step == 0) first = last;
    sgd.step(optim::bind(g, vars, std::vector<Tensor>(out.begin() + 1, out.end())));
  }
  EXPECT_LT(last, 0.2 * first) << "first " << first << " last " << last;
}

TEST(NN, MlpTrainsOnSeparableClassesWithAdam) {
  // 3 Gaussian blobs in 8-D; cross-entropy should fall well below log(3).
  Graph g(5);
  auto x = g.placeholder("x", {-1, 8});
  auto labels = g.placeholder("labels", {-1}, DType::I32);
  nn::MlpOptions o;
  o.hidden = {16};
  o.classes = 3;
  Value loss = mean(sparse_softmax_cross_entropy(nn::mlp(g, x, o), labels));
  auto vars = g.trainable();
  auto grads = gradients(loss, vars);
  Tensor xt = ft::testing::rand32({60, 8}, 9, -0.5, 0.5);
  std::vector<int32_t> lab(60);
  for (int i = 0; i < 60; ++i) {
    lab[size_t(i)] = i % 3;
    xt.data<float>()[i * 8 + lab[size_t(i)]] += 2.0f;
  }
  Tensor lt = Tensor::from<int32_t>({60}, lab);
  optim::OptimizerOptions oo;
  oo.type = "adam";
  oo.lr = 0.01;
  auto opt = optim::make_optimizer(oo);
  std::vector<Value> fetches = {loss};
  fetches.insert(fetches.end(), grads.begin(), grads.end());
  Executor ex(g);
  double last = 0;
  for (int step = 0; step < 100; ++step) {
    auto out = ex.run({{x, xt}, {labels, lt}}, fetches);
    last = out[0].item<float>();
    opt->step(optim::bind(g, vars, std::vector<Tensor>(out.begin() + 1, out.end())));
  }
  EXPECT_LT(last, 0.1);
}

namespace {
// Reference multi-head self-attention in f64 from the layer's variable values.
// x (T, C) for one example; mask (T) or empty.
std::vector<double> attention_ref(Graph& g, const std::string& l, const std::vector<float>& x, int64_t t, int64_t c,
                                  int64_t h, const std::vector<float>& mask) {
  auto proj = [&](const std::vector<double>& in, const std::string& n) {
    Tensor w = g.value(l + "/" + n + "/w"), b = g.value(l + "/" + n + "/b");
    std::vector<double> out(size_t(t * c));
    for (int64_t i = 0; i < t; ++i)
      for (int64_t o = 0; o < c; ++o) {
        double s = b.at(o);
        for (int64_t k = 0; k < c; ++k) s += in[size_t(i * c + k)] * w.at(k * c + o);
        out[size_t(i * c + o)] = s;
      }
    return out;
  };
  std::vector<double> xd(x.begin(), x.end());
  auto q = proj(xd, "query"), k = proj(xd, "key"), v = proj(xd, "value");
  const int64_t d = c / h;
  std::vector<double> ctx(size_t(t * c), 0.0);
  for (int64_t hh = 0; hh < h; ++hh)
    for (int64_t i = 0; i < t; ++i) {
      std::vector<double> p(static_cast<size_t>(t));
      double mx = -1e300, z = 0;
      for (int64_t j = 0; j < t; ++j) {
        double s = 0;
        for (int64_t e = 0; e < d; ++e) s += q[size_t(i * c + hh * d + e)] * k[size_t(j * c + hh * d + e)];
        p[size_t(j)] = s / std::sqrt(double(d));
        if (mask.empty() || mask[size_t(j)] != 0) mx = std::max(mx, p[size_t(j)]);
      }
      for (int64_t j = 0; j < t; ++j) {
        p[size_t(j)] = (mask.empty() || mask[size_t(j)] != 0) ? std::exp(p[size_t(j)] - mx) : 0.0;
        z += p[size_t(j)];
      }
      for (int64_t j = 0; j < t; ++j)
        for (int64_t e = 0; e < d; ++e) ctx[size_t(i * c + hh * d + e)] += p[size_t(j)] / z * v[size_t(j * c + hh * d + e)];
    }
  return proj(ctx, "output");
}
}  // namespace

TEST(NN, MultiHeadAttentionShapesAndNames) {
  Graph g;
  auto x = g.placeholder("x", {-1, 5, 6});
  nn::MultiHeadAttention att(2);
  EXPECT_EQ(att(g, x).shape(), (Shape{-1, 5, 6}));
  EXPECT_EQ(names(att.variables()),
            (std::vector<std::string>{"attention_1/query/w", "attention_1/query/b", "attention_1/key/w",
                                      "attention_1/key/b", "attention_1/value/w", "attention_1/value/b",
                                      "attention_1/output/w", "attention_1/output/b"}));
  EXPECT_THROW(nn::MultiHeadAttention(4)(g, x), Error);  // 6 not divisible by 4
  EXPECT_THROW(nn::MultiHeadAttention(2)(g, g.placeholder("y", {-1, 6})), Error);
}

TEST(NN, MultiHeadAttentionMatchesReference) {
  const int64_t n = 2, t = 3, c = 4, h = 2;
  Graph g(3);
  auto x = g.placeholder("x", {-1, t, c});
  auto mask = g.placeholder("mask", {-1, t}, DType::I32);
  nn::MultiHeadAttention att(h);
  Value y = att(g, x, mask);
  Value y_nomask = att(g, x);  // same variables
  EXPECT_EQ(g.trainable().size(), 8u);
  for (const char* p : {"query", "key", "value", "output"})  // non-zero biases
    g.value(std::string("attention_1/") + p + "/b").copy_from(ft::testing::rand32({c}, 17));
  Tensor xt = ft::testing::rand32({n, t, c}, 21);
  Tensor mt = Tensor::from<int32_t>({n, t}, {1, 1, 1, 1, 0, 1});
  auto out = ft::testing::eval(g, {y, y_nomask}, {{x, xt}, {mask, mt}});
  for (int64_t b = 0; b < n; ++b) {
    std::vector<float> xb(xt.data<float>() + b * t * c, xt.data<float>() + (b + 1) * t * c);
    std::vector<float> mb = {float(mt.at(b * t)), float(mt.at(b * t + 1)), float(mt.at(b * t + 2))};
    auto ref = attention_ref(g, "attention_1", xb, t, c, h, mb);
    auto ref_nomask = attention_ref(g, "attention_1", xb, t, c, h, {});
    for (int64_t i = 0; i < t * c; ++i) {
      EXPECT_NEAR(out[0].at(b * t * c + i), ref[size_t(i)], 1e-5) << "b " << b << " i " << i;
      EXPECT_NEAR(out[1].at(b * t * c + i), ref_nomask[size_t(i)], 1e-5) << "b " << b << " i " << i;
    }
  }
  // Gradients flow to every variable.
  auto grads = gradients(sum(y), g.trainable());
  auto gv = ft::testing::eval(g, grads, {{x, xt}, {mask, mt}});
  for (size_t i = 0; i < gv.size(); ++i) EXPECT_GT(optim::global_norm({gv[i]}), 0) << g.trainable()[i].name();
}
