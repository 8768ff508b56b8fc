// zoo_test.cpp — the model zoo (nn/zoo.h, nn/bert.h).
// The zoo's models on their own: variable names and shapes, tensor-parallel parts as
// slices of the unsplit weights, the CNN's tensor-parallel error.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>

#include "nn/zoo.h"
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

}  // namespace
