// zoo_test.cpp — the model zoo (nn/zoo.h, nn/bert.h).
//   Part 1 (permanent): the zoo's models on their own: variable names and shapes,
//     tensor-parallel parts as slices of the unsplit weights, the CNN's tp error.
//   Part 2 (while train/model.cpp exists): the zoo builds the graphs that
//     train::build_model builds: the same variables (names, shapes, bytes), the same
//     nodes (op, inputs, attributes, shapes), and bitwise equal loss and gradients on
//     a fixed batch with dropout active. Drop this part with train/model.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>

#include "nn/zoo.h"
#include "train/config.h"
#include "train/model.h"
#include "util/gradcheck.h"

using namespace ft;

namespace {

struct Var {
  std::string name;
  Shape shape;
  DType dtype;
  Tensor value;
};

// The graph's variables sorted by name.
std::vector<Var> vars_of(Graph& g) {
  std::vector<Var> out;
  for (const Value& v : g.variables()) out.push_back({v.name(), v.shape(), v.dtype(), g.value(v)});
  std::sort(out.begin(), out.end(), [](const Var& a, const Var& b) { return a.name < b.name; });
  return out;
}

std::map<std::string, Shape> shapes_of(Graph& g) {
  std::map<std::string, Shape> m;
  for (const Value& v : g.trainable()) m[v.name()] = v.shape();
  return m;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.raw(), b.raw(), size_t(a.numel()) * dtype_size(a.dtype())) == 0;
}

// ---- part 1: the zoo on its own ------------------------------------------------------------

TEST(Zoo, MlpClassifierNamesAndShapes) {
  nn::MlpOptions o;
  o.hidden = {32, 16};
  Graph g;
  Value logits = nn::mlp_classifier(g, g.placeholder("images", {-1, 784}), o);
  EXPECT_EQ(logits.shape(), (Shape{-1, 10}));
  EXPECT_EQ(shapes_of(g), (std::map<std::string, Shape>{{"fc1/w", {784, 32}}, {"fc1/b", {32}},
                                                         {"fc2/w", {32, 16}}, {"fc2/b", {16}},
                                                         {"fc3/w", {16, 10}}, {"fc3/b", {10}}}));
  // k = 2: fc1 column-parallel, fc2 row-parallel, fc3 column-parallel with an allgather.
  Graph gs;
  Value ls = nn::mlp_classifier(gs, gs.placeholder("images", {-1, 784}), o, nn::TensorParallel{2, 1});
  EXPECT_EQ(ls.shape(), (Shape{-1, 10}));
  EXPECT_EQ(shapes_of(gs), (std::map<std::string, Shape>{{"fc1/w", {784, 16}}, {"fc1/b", {16}},
                                                          {"fc2/w", {16, 16}}, {"fc2/b", {16}},
                                                          {"fc3/w", {16, 5}}, {"fc3/b", {5}}}));
  // The parts are slices of the unsplit initial values: fc1/w columns 16.., fc2/w rows 16...
  const Tensor &f1 = g.value("fc1/w"), &s1 = gs.value("fc1/w");
  for (int64_t r = 0; r < 784; ++r)
    for (int64_t c = 0; c < 16; ++c) ASSERT_EQ(s1.data<float>()[r * 16 + c], f1.data<float>()[r * 32 + 16 + c]);
  const Tensor &f2 = g.value("fc2/w"), &s2 = gs.value("fc2/w");
  EXPECT_EQ(std::memcmp(s2.data<float>(), f2.data<float>() + 16 * 16, 16 * 16 * sizeof(float)), 0);
  EXPECT_THROW(nn::mlp_classifier(g, g.placeholder("small", {-1, 100}), o), Error);
}

TEST(Zoo, CnnClassifierNamesAndShapes) {
  Graph g;
  Value logits = nn::cnn_classifier(g, g.placeholder("images", {-1, 784}), nn::CnnOptions{});
  EXPECT_EQ(logits.shape(), (Shape{-1, 10}));
  EXPECT_EQ(shapes_of(g), (std::map<std::string, Shape>{{"conv1/w", {32, 1, 3, 3}}, {"conv1/b", {32, 1, 1}},
                                                         {"conv2/w", {64, 32, 3, 3}}, {"conv2/b", {64, 1, 1}},
                                                         {"fc1/w", {1600, 128}}, {"fc1/b", {128}},
                                                         {"fc2/w", {128, 10}}, {"fc2/b", {10}}}));
  Graph g2;
  try {
    nn::cnn_classifier(g2, g2.placeholder("images", {-1, 784}), {}, nn::TensorParallel{2, 0});
    FAIL() << "no error for a tensor-parallel cnn";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "cnn has no tensor-parallel layers (use mlp or bert)");
  }
  EXPECT_FALSE(nn::supports_tensor_parallel("cnn"));
  EXPECT_TRUE(nn::supports_tensor_parallel("mlp"));
  EXPECT_TRUE(nn::supports_tensor_parallel("bert"));
}

TEST(Zoo, BertNamesAndTensorParallelShapes) {
  nn::BertOptions o;
  o.layers = 1;
  o.hidden = 8;
  o.heads = 2;
  o.ffn = 16;
  o.vocab = 20;
  o.max_seq = 6;
  Graph g, gs;
  nn::bert_mlm(g, nn::bert_placeholders(g, 6, 2), o);
  o.tp = {2, 0};
  nn::bert_mlm(gs, nn::bert_placeholders(gs, 6, 2), o);
  auto full = shapes_of(g), split = shapes_of(gs);
  EXPECT_EQ(full.size(), 26u);  // embeddings 3 + LN 2, 16 per layer, MLM head: dense 2, LN 2, output bias
  const std::string l = "bert/encoder/layer_0/";
  EXPECT_EQ(full.at(l + "attention/self/query/w"), (Shape{8, 8}));
  EXPECT_EQ(split.at(l + "attention/self/query/w"), (Shape{8, 4}));
  EXPECT_EQ(split.at(l + "attention/self/query/b"), (Shape{4}));
  EXPECT_EQ(split.at(l + "attention/output/dense/w"), (Shape{4, 8}));
  EXPECT_EQ(split.at(l + "attention/output/dense/b"), (Shape{8}));
  EXPECT_EQ(split.at(l + "intermediate/dense/w"), (Shape{8, 8}));
  EXPECT_EQ(split.at(l + "output/dense/w"), (Shape{8, 8}));
  EXPECT_EQ(full.at(l + "output/dense/w"), (Shape{16, 8}));
  EXPECT_EQ(full.at("cls/predictions/output_bias"), (Shape{20}));
  for (const auto& kv : full) EXPECT_TRUE(split.count(kv.first)) << kv.first;
}

// ---- part 2: the zoo against train::build_model (drop with train/model.cpp) ---------------

// Same nodes in the same order: op, inputs, control inputs, attributes, output shapes
// and dtypes; variables and placeholders also by name (other nodes' names may differ).
void expect_same_nodes(const Graph& a, const Graph& b, const std::string& what) {
  ASSERT_EQ(a.num_nodes(), b.num_nodes()) << what;
  for (int i = 0; i < a.num_nodes(); ++i) {
    const Node &x = a.node(i), &y = b.node(i);
    const std::string at = what + ": node " + std::to_string(i) + " " + x.name + " (" + x.op + ") vs " + y.name +
                           " (" + y.op + ")";
    ASSERT_EQ(x.op, y.op) << at;
    ASSERT_TRUE(x.inputs == y.inputs) << at;
    ASSERT_EQ(x.control_inputs, y.control_inputs) << at;
    ASSERT_TRUE(x.attrs.all() == y.attrs.all()) << at;
    ASSERT_EQ(x.out_shapes, y.out_shapes) << at;
    ASSERT_EQ(x.out_dtypes, y.out_dtypes) << at;
    if (x.op == "variable" || x.op == "placeholder") {
      ASSERT_EQ(x.name, y.name) << at;
    }
  }
}

void expect_same_variables(Graph& a, Graph& b, const std::string& what) {
  auto va = vars_of(a), vb = vars_of(b);
  ASSERT_EQ(va.size(), vb.size()) << what;
  for (size_t i = 0; i < va.size(); ++i) {
    EXPECT_EQ(va[i].name, vb[i].name) << what;
    EXPECT_EQ(va[i].shape, vb[i].shape) << what << " " << va[i].name;
    EXPECT_TRUE(same_bytes(va[i].value, vb[i].value)) << what << " " << va[i].name;
  }
}

// FNV-1a of the variables (sorted by name: name, shape, bytes) and the given tensors:
// printed, to compare the numbers of different builds of the code.
uint64_t digest(Graph& g, const std::vector<Tensor>& numbers) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](const void* p, size_t n) {
    for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<const unsigned char*>(p)[i]) * 1099511628211ull;
  };
  auto mix_tensor = [&](const Tensor& t) { mix(t.raw(), size_t(t.numel()) * dtype_size(t.dtype())); };
  for (const Var& v : vars_of(g)) {
    const std::string s = v.name + shape_str(v.shape);
    mix(s.data(), s.size());
    mix_tensor(v.value);
  }
  for (const Tensor& t : numbers) mix_tensor(t);
  return h;
}
void print_digest(const std::string& what, Graph& g, const std::vector<Tensor>& numbers) {
  std::printf("digest %-48s %016llx\n", what.c_str(), static_cast<unsigned long long>(digest(g, numbers)));
}

// Loss and the gradient of every trainable variable (sorted by name) at step 3, training.
std::vector<Tensor> loss_and_grads(Graph& g, Value loss, const Executor::Feeds& feeds) {
  std::vector<Value> vars = g.trainable();
  std::sort(vars.begin(), vars.end(), [](const Value& a, const Value& b) { return a.name() < b.name(); });
  std::vector<Value> fetches = {loss};
  for (const Value& d : gradients(loss, vars)) fetches.push_back(d);
  Executor ex(g);
  RunOptions ro;
  ro.step = 3;
  ro.training = true;
  std::vector<Tensor> out;
  for (const Tensor& t : ex.run(feeds, fetches, ro)) out.push_back(t.clone());  // outlive the executor
  return out;
}

void expect_same_numbers(const std::vector<Tensor>& a, const std::vector<Tensor>& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  EXPECT_GT(std::abs(double(a[0].item<float>())), 0.0) << what;
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_TRUE(same_bytes(a[i], b[i])) << what << (i == 0 ? ": loss" : ": gradient " + std::to_string(i - 1));
}

const std::vector<std::string> kMlp = {"model.type=mlp", "model.hidden=[32, 16]", "model.dropout=0.1",
                                       "train.seed=7"};

struct Classifier {
  Value x, y, loss;
};
// The zoo's classifier the way train/ will call it: placeholders "images", "labels".
Classifier zoo_classifier(Graph& g, const train::Config& c, const nn::TensorParallel& tp) {
  Classifier m;
  m.x = g.placeholder("images", {-1, 784});
  m.y = g.placeholder("labels", {-1}, DType::I32);
  Value logits;
  if (c.s("model.type") == "mlp") {
    nn::MlpOptions o;
    o.hidden = c.ints("model.hidden");
    o.dropout = c.f("model.dropout");
    o.seed = c.i("train.seed");
    logits = nn::mlp_classifier(g, m.x, o, tp);
  } else {
    nn::CnnOptions o;
    o.dropout = c.f("model.dropout");
    o.seed = c.i("train.seed");
    logits = nn::cnn_classifier(g, m.x, o, tp);
  }
  m.loss = mean(sparse_softmax_cross_entropy(logits, m.y));
  return m;
}

void compare_classifier(const std::vector<std::string>& overrides, const nn::TensorParallel& tp, bool run) {
  const std::string what = overrides[0] + " " + overrides[1] + " tp " + std::to_string(tp.size) + "/" +
                           std::to_string(tp.rank);
  train::Config c = train::Config::load("", overrides);
  Graph gt(11), gz(11);
  train::Model mt = train::build_model(gt, c, {}, tp);
  Classifier mz = zoo_classifier(gz, c, tp);
  expect_same_nodes(gt, gz, what);
  expect_same_variables(gt, gz, what);
  if (!run) return print_digest(what + " graph", gt, {});
  const int64_t n = 6;
  Tensor x = ft::testing::rand32({n, 784}, 3), y = Tensor::from<int32_t>({n}, {1, 0, 7, 9, 3, 3});
  auto a = loss_and_grads(gt, mt.loss, {{mt.inputs[0], x}, {mt.inputs[1], y}});
  auto b = loss_and_grads(gz, mz.loss, {{mz.x, x}, {mz.y, y}});
  expect_same_numbers(a, b, what);
  print_digest(what, gt, a);
}

TEST(ZooMatchesTrainModel, Mlp) {
  compare_classifier(kMlp, {}, true);
  compare_classifier({"model.type=mlp", "model.hidden=[64]", "model.dropout=0", "train.seed=1"}, {}, true);
}

TEST(ZooMatchesTrainModel, MlpTensorParallelGraphs) {
  // k = 2: column, row, column + allgather. k = 4 with [30, 16, 8]: replicated, column, row, replicated.
  for (int r = 0; r < 2; ++r) compare_classifier(kMlp, {2, r}, false);
  for (int r = 0; r < 4; ++r)
    compare_classifier({"model.type=mlp", "model.hidden=[30, 16, 8]", "model.dropout=0.2", "train.seed=3"}, {4, r},
                       false);
  // tp.size 1 is the plain model.
  compare_classifier(kMlp, {1, 0}, true);
}

TEST(ZooMatchesTrainModel, Cnn) {
  compare_classifier({"model.type=cnn", "model.dropout=0.25", "train.seed=5"}, {}, true);
}

const std::vector<std::string> kBert = {"model.type=bert",     "model.layers=2",    "model.hidden_size=16",
                                        "model.heads=2",       "model.ffn=32",      "model.vocab_size=40",
                                        "model.max_seq=12",    "model.dropout=0.1", "data.seq_len=8",
                                        "data.max_predictions=3"};

void compare_bert(const nn::TensorParallel& tp, bool run) {
  const std::string what = "bert tp " + std::to_string(tp.size) + "/" + std::to_string(tp.rank);
  train::Config c = train::Config::load("", kBert);
  Graph gt(11), gz(11);
  train::Model mt = train::build_model(gt, c, {}, tp);
  nn::BertOptions o;
  o.layers = 2;
  o.hidden = 16;
  o.heads = 2;
  o.ffn = 32;
  o.vocab = 40;
  o.max_seq = 12;
  o.dropout = 0.1;
  o.init_std = c.f("model.init_std");
  o.tp = tp;
  nn::BertInputs in = nn::bert_placeholders(gz, 8, 3);
  nn::BertMlm mz = nn::bert_mlm(gz, in, o);
  expect_same_nodes(gt, gz, what);
  expect_same_variables(gt, gz, what);
  if (!run) return print_digest(what + " graph", gt, {});
  const int64_t b = 2, t = 8, p = 3;
  std::vector<Tensor> cols = {
      Tensor::from<int32_t>({b, t}, {5, 9, 2, 33, 7, 0, 0, 0, 3, 3, 8, 12, 39, 1, 4, 6}),
      Tensor::from<int32_t>({b, t}, {0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1}),
      Tensor::from<float>({b, t}, {1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1}),
      Tensor::from<int32_t>({b, p}, {1, 3, 0, 2, 5, 7}),
      Tensor::from<int32_t>({b, p}, {9, 33, -1, 8, 1, 6}),
      Tensor::from<float>({b, p}, {1, 1, 0, 1, 1, 1})};
  Executor::Feeds ft, fz;
  for (size_t i = 0; i < cols.size(); ++i) {
    ft.emplace_back(mt.inputs[i], cols[i]);
    fz.emplace_back(in.all()[i], cols[i]);
  }
  auto a = loss_and_grads(gt, mt.loss, ft);
  expect_same_numbers(a, loss_and_grads(gz, mz.loss, fz), what);
  print_digest(what, gt, a);
}

TEST(ZooMatchesTrainModel, Bert) {
  compare_bert({}, true);
  compare_bert({1, 0}, true);
  for (int r = 0; r < 2; ++r) compare_bert({2, r}, false);
}

}  // namespace
