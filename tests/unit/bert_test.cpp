// bert_test.cpp — BERT (nn/bert.h): gradient checks of its blocks (attention with
// a padding mask, layer norm, GELU, embedding gather/scatter, position gather,
// masked-LM loss) and of a whole tiny model, its forward pass against the NumPy
// reference tests/bert/bert_reference.py, variable names vs the decay filter,
// LAMB updates, and the train program's bert task on a small corpus.
#include <gtest/gtest.h>

#include <algorithm>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "nn/bert.h"
#include "optim/optim.h"
#include "train/registry.h"
#include "util/gradcheck.h"

using namespace ft;
using ft::testing::check_gradients;
using ft::testing::rand64;

namespace {

// (2, 4) padding mask: sequence 0 has 3 tokens, sequence 1 has 4.
Tensor mask64() { return Tensor::from<double>({2, 4}, {1, 1, 1, 0, 1, 1, 1, 1}); }

nn::BertOptions tiny(DType dt) {
  nn::BertOptions o;
  o.layers = 1;
  o.hidden = 8;
  o.heads = 2;
  o.ffn = 16;
  o.vocab = 16;
  o.max_seq = 7;
  o.dropout = 0;
  o.init_std = 0.5;
  o.dtype = dt;
  return o;
}

// Inputs of a 2 x 5 batch with 3 prediction slots (the last slot of sequence 1 unused).
struct TinyBatch {
  Tensor ids = Tensor::from<int32_t>({2, 5}, {2, 7, 4, 3, 0, 2, 9, 4, 11, 3});
  Tensor seg = Tensor::from<int32_t>({2, 5}, {0, 0, 0, 0, 0, 0, 0, 1, 1, 1});
  Tensor pos = Tensor::from<int32_t>({2, 3}, {1, 2, 3, 2, 3, 0});
  Tensor labels = Tensor::from<int32_t>({2, 3}, {5, 13, 3, 15, 8, -1});
  Tensor mask(DType dt) const {
    std::vector<double> m = {1, 1, 1, 1, 0, 1, 1, 1, 1, 1};
    return dt == DType::F64 ? Tensor::from<double>({2, 5}, m)
                            : Tensor::from<float>({2, 5}, std::vector<float>(m.begin(), m.end()));
  }
  Tensor weights(DType dt) const {
    std::vector<double> w = {1, 1, 1, 1, 1, 0};
    return dt == DType::F64 ? Tensor::from<double>({2, 3}, w)
                            : Tensor::from<float>({2, 3}, std::vector<float>(w.begin(), w.end()));
  }
  Executor::Feeds feeds(const nn::BertInputs& in, DType dt) const {
    return {{in.input_ids, ids},   {in.segment_ids, seg},   {in.attention_mask, mask(dt)},
            {in.masked_positions, pos}, {in.masked_labels, labels}, {in.masked_weights, weights(dt)}};
  }
};

// Gives every variable (incl. LayerNorm gammas/betas and biases) seeded random values.
void randomize(Graph& g, uint64_t seed) {
  for (const Value& v : g.variables()) {
    Tensor& t = g.value(v);
    Tensor r = t.dtype() == DType::F64 ? rand64(t.shape(), seed++, -0.8, 0.8)
                                       : ft::testing::rand32(t.shape(), seed++, -0.8, 0.8);
    t.copy_from(r);
  }
}

double at(const Tensor& t, int64_t i) {
  return t.dtype() == DType::F64 ? t.data<double>()[i] : double(t.data<float>()[i]);
}

}  // namespace

// ---- gradient checks of the blocks (f64, central differences)

TEST(BertGrad, AttentionBlockWithPaddingMask) {
  // x (2, 4, 4), 2 heads of 2; the masked key of sequence 0 must not matter.
  check_gradients(
      [](Graph& g, const std::vector<Value>& v) {
        nn::AttentionWeights w{v[1], v[2], v[3], v[4], v[5], v[6]};
        return nn::multi_head_attention(v[0], g.constant(mask64()), w, 2);
      },
      {rand64({2, 4, 4}, 1), rand64({4, 4}, 2), rand64({4}, 3), rand64({4, 4}, 4), rand64({4}, 5),
       rand64({4, 4}, 6), rand64({4}, 7)},
      1e-6);
}

TEST(BertGrad, MaskedSoftmaxInContext) {
  // scores (2, 2, 4, 4) -> masked_softmax over keys -> · v (2, 2, 4, 3)
  check_gradients(
      [](Graph& g, const std::vector<Value>& v) {
        Value m = reshape(g.constant(mask64()), {-1, 1, 1, 4});
        return matmul(masked_softmax(scale(v[0], 3.0), m), v[1]);
      },
      {rand64({2, 2, 4, 4}, 11), rand64({2, 2, 4, 3}, 12)}, 1e-6);
}

TEST(BertGrad, LayerNormResidual) {
  check_gradients(
      [](Graph&, const std::vector<Value>& v) { return layer_norm(v[0] + v[1], v[2], v[3], 1e-12); },
      {rand64({2, 3, 6}, 21), rand64({2, 3, 6}, 22), rand64({6}, 23, 0.5, 1.5), rand64({6}, 24)}, 1e-6);
}

TEST(BertGrad, GeluDense) {
  check_gradients([](Graph&, const std::vector<Value>& v) { return gelu(matmul(v[0], v[1]) + v[2]); },
                  {rand64({2, 3, 4}, 31, -2, 2), rand64({4, 5}, 32), rand64({5}, 33)}, 1e-6);
}

TEST(BertGrad, EmbeddingGatherScattersRepeatedIds) {
  // ids repeat (3 twice, 0 three times): the table gradient must add their rows.
  Tensor ids = Tensor::from<int32_t>({2, 3}, {3, 0, 3, 0, 1, 0});
  check_gradients([&](Graph& g, const std::vector<Value>& v) { return gather(v[0], g.constant(ids)) * v[1]; },
                  {rand64({5, 4}, 41), rand64({2, 3, 4}, 42)}, 1e-6);
}

TEST(BertGrad, GatherPositions) {
  Tensor pos = Tensor::from<int32_t>({2, 3}, {1, 3, 0, 2, 2, 0});  // a repeated position in sequence 1
  check_gradients(
      [&](Graph& g, const std::vector<Value>& v) { return nn::gather_positions(v[0], g.constant(pos)) * v[1]; },
      {rand64({2, 4, 3}, 51), rand64({6, 3}, 52)}, 1e-6);
}

TEST(BertGrad, MaskedLmLossIgnoresUnusedSlots) {
  Tensor labels = Tensor::from<int32_t>({4}, {2, -1, 0, 4});
  Tensor w = Tensor::from<double>({4}, {1, 0, 1, 1});
  check_gradients(
      [&](Graph& g, const std::vector<Value>& v) {
        return nn::masked_lm_loss(v[0], g.constant(labels), g.constant(w));
      },
      {rand64({4, 5}, 61, -2, 2)}, 1e-6);
}

TEST(Bert, GatherPositionsForwardValues) {
  Graph g;
  // seq (1, 3, 2) rows [0,1], [2,3], [4,5]; positions [2, 0, 2]
  Value seq = g.constant(Tensor::from<float>({1, 3, 2}, {0, 1, 2, 3, 4, 5}));
  Value p = g.constant(Tensor::from<int32_t>({1, 3}, {2, 0, 2}));
  Tensor out = ft::testing::eval1(g, nn::gather_positions(seq, p));
  EXPECT_EQ(out.shape(), (Shape{3, 2}));
  EXPECT_EQ(out.to_vector<float>(), (std::vector<float>{4, 5, 0, 1, 4, 5}));
}

TEST(Bert, MaskedLmLossValue) {
  Graph g;
  // Two rows of 2 equal logits (CE = ln 2 each) and an ignored row: mean = ln 2 (up to the 1e-5 guard).
  Value l = g.constant(Tensor::from<float>({3, 2}, {0, 0, 3, 3, 5, -5}));
  Value y = g.constant(Tensor::from<int32_t>({3}, {1, 0, -1}));
  Value w = g.constant(Tensor::from<float>({3}, {1, 1, 0}));
  EXPECT_NEAR(ft::testing::eval1(g, nn::masked_lm_loss(l, y, w)).item<float>(), std::log(2.0) * 2 / (2 + 1e-5), 1e-6);
}

// ---- the whole tiny model

TEST(Bert, VariableNamesAndShapes) {
  Graph g;
  nn::BertOptions o = tiny(DType::F32);
  o.layers = 2;
  nn::BertInputs in = nn::bert_placeholders(g, 5, 3);
  nn::BertMlm m = nn::bert_mlm(g, in, o);
  EXPECT_EQ(m.sequence_output.shape(), (Shape{-1, 5, 8}));
  EXPECT_EQ(m.logits.shape(), (Shape{-1, 16}));
  EXPECT_EQ(m.loss.shape(), (Shape{}));
  std::map<std::string, Shape> shapes;
  for (const Value& v : g.trainable()) shapes[v.name()] = g.value(v).shape();
  EXPECT_EQ(shapes.size(), 5u + 2 * 16 + 5);  // embeddings, 16 per layer, head
  EXPECT_EQ(shapes["bert/embeddings/word_embeddings"], (Shape{16, 8}));
  EXPECT_EQ(shapes["bert/embeddings/position_embeddings"], (Shape{7, 8}));
  EXPECT_EQ(shapes["bert/embeddings/token_type_embeddings"], (Shape{2, 8}));
  EXPECT_EQ(shapes["bert/encoder/layer_1/attention/self/query/w"], (Shape{8, 8}));
  EXPECT_EQ(shapes["bert/encoder/layer_1/intermediate/dense/w"], (Shape{8, 16}));
  EXPECT_EQ(shapes["bert/encoder/layer_1/output/dense/w"], (Shape{16, 8}));
  EXPECT_EQ(shapes["bert/encoder/layer_0/output/LayerNorm/gamma"], (Shape{8}));
  EXPECT_EQ(shapes["cls/predictions/transform/dense/w"], (Shape{8, 8}));
  EXPECT_EQ(shapes["cls/predictions/output_bias"], (Shape{16}));
  EXPECT_EQ(shapes.count("cls/predictions/decoder/w"), 0u);  // tied to word_embeddings
}

TEST(Bert, DefaultDecayFilterSkipsLayerNormAndBiases) {
  Graph g;
  nn::BertInputs in = nn::bert_placeholders(g, 5, 3);
  nn::bert_mlm(g, in, tiny(DType::F32));
  int decayed = 0, kept = 0;
  for (const Value& v : g.trainable()) {
    const std::string& n = v.name();
    const bool norm_or_bias = n.find("LayerNorm") != std::string::npos || n.find("bias") != std::string::npos ||
                              (n.size() > 2 && n.compare(n.size() - 2, 2, "/b") == 0);
    EXPECT_EQ(optim::default_decays(n), !norm_or_bias) << n;
    (norm_or_bias ? kept : decayed)++;
  }
  EXPECT_EQ(decayed, 3 + 6 + 1);  // 3 tables, 6 layer kernels, head dense kernel
  EXPECT_EQ(kept, 2 + 10 + 4);    // embedding LN, 6 biases + 2 LN x 2 per layer, head dense b + LN + output_bias
}

TEST(Bert, LambUpdatesByHand) {
  // LAMB, lr 0.1, wd 0.01, bias-corrected. Step 1 with g = 0: m = v = 0, so
  // u = wd·w, r = |w|/|u| = 1/wd, w <- w - lr·w = 0.9·w for a decayed kernel;
  // a LayerNorm gamma / bias gets u = 0 and stays.
  optim::OptimizerOptions oo;
  oo.type = "lamb";
  oo.lr = 0.1;
  oo.weight_decay = 0.01;
  oo.eps = 1e-6;
  auto opt = optim::make_optimizer(oo);
  Tensor w = Tensor::from<float>({2}, {3, 4}), gamma = Tensor::from<float>({2}, {1, 2}),
         bias = Tensor::from<float>({2}, {0.5, -0.5});
  Tensor zero = Tensor::from<float>({2}, {0, 0});
  opt->step({{"bert/encoder/layer_0/attention/self/query/w", w, zero},
             {"bert/encoder/layer_0/output/LayerNorm/gamma", gamma, zero},
             {"cls/predictions/output_bias", bias, zero}});
  EXPECT_NEAR(w.data<float>()[0], 2.7, 1e-6);
  EXPECT_NEAR(w.data<float>()[1], 3.6, 1e-6);
  EXPECT_EQ(gamma.to_vector<float>(), (std::vector<float>{1, 2}));
  EXPECT_EQ(bias.to_vector<float>(), (std::vector<float>{0.5, -0.5}));
  // Step 2 on the bias (t = 2 after one zero gradient) with g = (2, -1):
  // m = 0.1·g, v = 0.001·g²; mh = m/(1-0.9²), vh = v/(1-0.999²); no decay:
  // u = mh/(sqrt(vh)+eps), r = |bias|/|u|, bias -= lr·r·u.
  Tensor gb = Tensor::from<float>({2}, {2, -1});
  opt->step({{"cls/predictions/output_bias", bias, gb}});
  double u[2], un = 0, bn = std::sqrt(0.5);
  for (int i = 0; i < 2; ++i) {
    double g = gb.data<float>()[i], m = 0.1 * g / (1 - 0.81), v = 0.001 * g * g / (1 - 0.998001);
    u[i] = m / (std::sqrt(v) + 1e-6);
    un += u[i] * u[i];
  }
  un = std::sqrt(un);
  EXPECT_NEAR(bias.data<float>()[0], 0.5 - 0.1 * bn / un * u[0], 1e-5);
  EXPECT_NEAR(bias.data<float>()[1], -0.5 - 0.1 * bn / un * u[1], 1e-5);
}

TEST(BertGrad, WholeTinyModel) {
  // d loss / d every variable of a 1-layer model in f64, checked at a few
  // elements per variable by central differences.
  Graph g(7);
  nn::BertInputs in = nn::bert_placeholders(g, 5, 3, DType::F64);
  nn::BertMlm m = nn::bert_mlm(g, in, tiny(DType::F64));
  randomize(g, 100);
  std::vector<Value> vars = g.trainable();
  std::vector<Value> grads = gradients(m.loss, vars);
  TinyBatch b;
  Executor::Feeds feeds = b.feeds(in, DType::F64);
  Executor ex(g);
  std::vector<Value> fetch = {m.loss};
  fetch.insert(fetch.end(), grads.begin(), grads.end());
  std::vector<Tensor> out = ex.run(feeds, fetch);
  std::vector<Tensor> an;
  for (size_t i = 1; i < out.size(); ++i) an.push_back(out[i].clone());
  auto loss_at = [&]() { return ex.run(feeds, {m.loss})[0].item<double>(); };
  const double eps = 1e-6;
  int checked = 0;
  for (size_t i = 0; i < vars.size(); ++i) {
    Tensor& t = g.value(vars[i]);
    const int64_t n = t.numel();
    for (int64_t e : {int64_t(0), n / 2, n - 1}) {
      double* p = t.data<double>() + e;
      const double keep = *p;
      *p = keep + eps;
      const double up = loss_at();
      *p = keep - eps;
      const double down = loss_at();
      *p = keep;
      const double num = (up - down) / (2 * eps);
      EXPECT_NEAR(an[i].data<double>()[e], num, 1e-6 * std::max(1.0, std::abs(num))) << vars[i].name() << "[" << e << "]";
      ++checked;
    }
  }
  EXPECT_GT(checked, 60);
}

// ---- forward pass against the NumPy reference

namespace {
// A python3 that has NumPy: $FT_PYTHON, /usr/bin/python3, python3.
std::string numpy_python() {
  std::vector<std::string> c;
  if (const char* e = std::getenv("FT_PYTHON")) c.push_back(e);
  c.push_back("/usr/bin/python3");
  c.push_back("python3");
  for (const auto& p : c)
    if (std::system((p + " -c 'import numpy' >/dev/null 2>&1").c_str()) == 0) return p;
  return "";
}

void write_tensor(std::ofstream& f, const std::string& name, const Tensor& t) {
  f << name << " " << t.rank();
  for (int64_t d : t.shape()) f << " " << d;
  f << "\n";
  f.precision(9);
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (i) f << " ";
    if (t.dtype() == DType::I32) f << t.data<int32_t>()[i];
    else f << at(t, i);
  }
  f << "\n";
}

std::map<std::string, std::vector<double>> read_tensors(const std::string& path) {
  std::map<std::string, std::vector<double>> out;
  std::ifstream f(path);
  std::string head, vals;
  while (std::getline(f, head) && std::getline(f, vals)) {
    std::istringstream h(head), v(vals);
    std::string name;
    h >> name;
    double x;
    while (v >> x) out[name].push_back(x);
  }
  return out;
}
}  // namespace

TEST(Bert, ForwardMatchesNumpyReference) {
  const std::string py = numpy_python();
  if (py.empty()) GTEST_SKIP() << "no python3 with NumPy (apt-get install python3-numpy)";
  Graph g(3);
  nn::BertInputs in = nn::bert_placeholders(g, 5, 3);
  nn::BertMlm m = nn::bert_mlm(g, in, tiny(DType::F32));
  randomize(g, 200);
  TinyBatch b;
  Executor::Feeds feeds = b.feeds(in, DType::F32);
  Executor ex(g);
  RunOptions ro;
  ro.training = false;
  std::vector<Tensor> out = ex.run(feeds, {m.logits, m.loss}, ro);
  ASSERT_EQ(out[0].shape(), (Shape{6, 16}));

  char dir[] = "/tmp/ft_bert_ref_XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string inp = std::string(dir) + "/in.txt", outp = std::string(dir) + "/out.txt";
  {
    std::ofstream f(inp);
    for (const Value& v : g.variables()) write_tensor(f, v.name(), g.value(v));
    for (const auto& kv : feeds) write_tensor(f, kv.first.name(), kv.second);
  }
  const std::string cmd = py + " tests/bert/bert_reference.py " + inp + " " + outp + " --layers 1 --heads 2";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto ref = read_tensors(outp);
  ASSERT_EQ(ref["logits"].size(), 6u * 16);
  double max_err = 0;
  for (int64_t i = 0; i < 6 * 16; ++i) {
    max_err = std::max(max_err, std::abs(at(out[0], i) - ref["logits"][size_t(i)]));
    EXPECT_NEAR(at(out[0], i), ref["logits"][size_t(i)], 1e-4) << "logit " << i;
  }
  ASSERT_EQ(ref["loss"].size(), 1u);
  EXPECT_NEAR(out[1].item<float>(), ref["loss"][0], 1e-4);
  EXPECT_GT(ref["loss"][0], 0.1);  // a real loss, not a degenerate one
  std::remove(inp.c_str());
  std::remove(outp.c_str());
  rmdir(dir);
}

// ---- the train program's bert task

TEST(BertTask, LoadsCorpusBuildsModelAndTrains) {
  char dir[] = "/tmp/ft_bert_task_XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  {
    std::ofstream f(std::string(dir) + "/corpus.txt");
    for (int i = 0; i < 40; ++i)
      f << "Call me Ishmael. Some years ago, never mind how long precisely, I thought I would sail about a little. "
           "It is a way I have of driving off the spleen and regulating the circulation.\n\n";
  }
  train::Config c = train::Config::load(
      "", {"model.type=bert", "model.layers=1", "model.hidden_size=16", "model.heads=2", "model.ffn=32",
           "model.vocab_size=120", "model.max_seq=32", "data.seq_len=16", "data.max_predictions=3",
           "data.dir=" + std::string(dir), "data.eval_fraction=0.1", "model.dropout=0.0"});
  auto ds = train::load_dataset(c);
  std::vector<Tensor> train_cols = ds->train(), eval_cols = ds->eval();
  ASSERT_EQ(train_cols.size(), 6u);
  EXPECT_EQ(train_cols[0].dim(1), 16);
  EXPECT_EQ(train_cols[3].dim(1), 3);
  EXPECT_GT(eval_cols[0].dim(0), 0);
  const int32_t* ids = train_cols[0].data<int32_t>();
  EXPECT_LT(*std::max_element(ids, ids + train_cols[0].numel()), 120);  // the vocab fits model.vocab_size
  Graph g(1);
  train::ModelGraph m = train::build_model(g, c);
  ASSERT_EQ(m.inputs.size(), 6u);
  EXPECT_EQ(m.logits.shape(), (Shape{-1, 120}));
  // A few Adam steps on one batch lower its loss.
  std::vector<Value> vars = g.trainable();
  std::vector<Value> grads = gradients(m.loss, vars);
  Executor::Feeds feeds;
  for (size_t i = 0; i < m.inputs.size(); ++i) {
    Shape s = train_cols[i].shape();
    s[0] = 4;
    feeds.emplace_back(m.inputs[i], Tensor::view(train_cols[i].raw(), s, train_cols[i].dtype()));
  }
  optim::OptimizerOptions oo;
  oo.type = "adam";
  oo.lr = 0.01;
  auto opt = optim::make_optimizer(oo);
  Executor ex(g);
  std::vector<Value> fetch = {m.loss};
  fetch.insert(fetch.end(), grads.begin(), grads.end());
  double first = 0, last = 0;
  for (int s = 0; s < 30; ++s) {
    auto out = ex.run(feeds, fetch);
    last = out[0].item<float>();
    if (s == 0) first = last;
    opt->step(optim::bind(g, vars, std::vector<Tensor>(out.begin() + 1, out.end())));
  }
  EXPECT_NEAR(first, std::log(120.0), 1.0);
  EXPECT_LT(last, first - 1.0);
  // The sequence length must fit the position table.
  EXPECT_THROW(train::load_dataset(train::Config::load(
                   "", {"model.type=bert", "model.max_seq=8", "data.seq_len=16", "data.dir=" + std::string(dir)})),
               Error);
  // A missing corpus names the file.
  try {
    train::load_dataset(train::Config::load("", {"model.type=bert", "data.dir=/nonexistent/text"}));
    ADD_FAILURE() << "no error for a missing corpus";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/text/corpus.txt"), std::string::npos) << e.what();
  }
  std::remove((std::string(dir) + "/corpus.txt").c_str());
  rmdir(dir);
}
