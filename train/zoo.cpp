// zoo.cpp — the built-in models and datasets, registered the way a user's are
// (train/registry.h): each reads its own config section once and builds its graph
// with the nn/ zoo (nn/zoo.h); no graph code lives here.
//   mlp, cnn   MNIST classifiers ending in a mean softmax cross-entropy (data: mnist)
//   bert       masked-LM pre-training over the masked positions (data: mlm_corpus)
#include <cmath>
#include <set>

#include "data/idx.h"
#include "data/mlm.h"
#include "nn/zoo.h"
#include "ops/ops.h"
#include "train/registry.h"

namespace ft {
namespace train {
namespace {

const KeySpec kSeqLen = {"data.seq_len", KeyType::Int, "128", "", 8, 1e6, "bert: tokens per sequence"};
}  // namespace

const KeySpec kDropoutKey = {"model.dropout", KeyType::Float, "0.0", "", 0, 0.99,
                             "dropout rate (mlp, cnn, bert, dnn_*)"};
const KeySpec kEvalFractionKey = {"data.eval_fraction", KeyType::Float, "0.05", "", 0.0, 0.5,
                                  "bert, csv, libsvm: share of the examples held out for evaluation (no eval file)"};

namespace {

const KeySpec kMaxPred = {"data.max_predictions", KeyType::Int, "20", "", 1, 1e6, "bert: masked positions per sequence"};

// ---- models ------------------------------------------------------------------------

// MNIST classifiers: images (N, 784) f32, labels (N) i32 -> logits (N, 10).
class MnistClassifier : public Model {
 public:
  MnistClassifier(const Config& c, bool cnn) : cnn_(cnn), dropout_(c.f("model.dropout")) {
    if (!cnn) hidden_ = c.ints("model.hidden");
  }
  ModelGraph build(Graph& g, const BuildContext& ctx) override {
    ModelGraph m;
    Value x = g.placeholder("images", {-1, 784});
    Value y = g.placeholder("labels", {-1}, DType::I32);
    m.inputs = {x, y};
    m.labels = y;
    if (cnn_) {
      nn::CnnOptions o;
      o.dropout = dropout_;
      o.seed = int64_t(ctx.seed);
      m.logits = nn::cnn_classifier(g, x, o, ctx.tp);
    } else {
      nn::MlpOptions o;
      o.hidden = hidden_;
      o.dropout = dropout_;
      o.seed = int64_t(ctx.seed);
      m.logits = nn::mlp_classifier(g, x, o, ctx.tp);
    }
    m.loss = mean(sparse_softmax_cross_entropy(m.logits, y));
    return m;
  }

 private:
  bool cnn_;
  double dropout_;
  std::vector<int64_t> hidden_;
};

// BERT masked-LM (nn/bert.h): the six MLM columns in, the loss over masked positions.
class BertModel : public Model {
 public:
  explicit BertModel(const Config& c) : seq_len_(c.i("data.seq_len")), max_pred_(c.i("data.max_predictions")) {
    o_.layers = c.i("model.layers");
    o_.hidden = c.i("model.hidden_size");
    o_.heads = c.i("model.heads");
    o_.ffn = c.i("model.ffn");
    o_.vocab = c.i("model.vocab_size");  // the table may have more rows than a built vocab has tokens
    o_.max_seq = c.i("model.max_seq");
    o_.dropout = c.f("model.dropout");
    o_.init_std = c.f("model.init_std");
  }
  ModelGraph build(Graph& g, const BuildContext& ctx) override {
    nn::BertOptions o = o_;
    o.tp = ctx.tp;  // model_parallel > 1: heads and FFN split over the group (nn/parallel.h)
    nn::BertInputs in = nn::bert_placeholders(g, seq_len_, max_pred_);
    nn::BertMlm b = nn::bert_mlm(g, in, o);
    ModelGraph m;
    m.inputs = in.all();  // the order of data::MlmExamples::columns()
    m.logits = b.logits;
    m.labels = b.labels;
    m.loss = b.loss;
    return m;
  }

 private:
  nn::BertOptions o_;
  int64_t seq_len_, max_pred_;
};

// ---- datasets ----------------------------------------------------------------------

// Every class of the test set must occur in the training set: a model cannot learn
// a class it never sees, and the error belongs at the start, not after the run.
void check_eval_labels_trained(const Tensor& train, const Tensor& test, const std::string& dir) {
  auto label = [](const Tensor& t, int64_t i) -> int64_t {
    return t.dtype() == DType::I32 ? t.data<int32_t>()[i] : t.data<int64_t>()[i];
  };
  std::set<int64_t> seen;
  for (int64_t i = 0; i < train.numel(); ++i) seen.insert(label(train, i));
  for (int64_t i = 0; i < test.numel(); ++i)
    if (!seen.count(label(test, i)))
      throw Error(dir + ": test label " + std::to_string(label(test, i)) + " (example " + std::to_string(i) +
                  ") never occurs in the training labels");
}

// The classifiers have 10 classes: a label outside [0, 10) names its file and example.
void check_label_range(const Tensor& labels, const std::string& file) {
  const int32_t* y = labels.data<int32_t>();
  for (int64_t i = 0; i < labels.numel(); ++i)
    if (y[i] < 0 || y[i] > 9)
      throw Error(file + ": label " + std::to_string(y[i]) + " of example " + std::to_string(i) +
                  " is not a digit class (0..9)");
}

std::unique_ptr<Dataset> mnist(const Config& c) {
  const std::string dir = c.s("data.dir");
  data::Dataset train = data::load_mnist(dir, "train"), test = data::load_mnist(dir, "test");
  check_label_range(train.labels, dir + "/train-labels-idx1-ubyte");
  check_label_range(test.labels, dir + "/t10k-labels-idx1-ubyte");
  check_eval_labels_trained(train.labels, test.labels, dir);
  return std::make_unique<TensorDataset>(std::vector<Tensor>{train.images, train.labels},
                                         std::vector<Tensor>{test.images, test.labels},
                                         "MNIST from " + dir + ": " + std::to_string(train.size()) + " train / " +
                                             std::to_string(test.size()) + " test digits");
}

// <data.dir>/corpus.txt, vocab from data.vocab or built to model.vocab_size.
std::unique_ptr<Dataset> mlm_corpus(const Config& c) {
  data::MlmOptions mo;
  mo.seq_len = c.i("data.seq_len");
  mo.max_predictions = c.i("data.max_predictions");
  mo.mask_prob = c.f("data.mask_prob");
  mo.seed = uint64_t(c.i("train.seed"));
  const std::string corpus = c.s("data.dir") + "/corpus.txt";
  data::MlmCorpus mc = data::load_mlm_corpus(corpus, c.s("data.vocab"), c.i("model.vocab_size"), mo,
                                             c.f("data.eval_fraction"));
  if (mc.vocab.size() > c.i("model.vocab_size"))
    c.fail("model.vocab_size", "= " + std::to_string(c.i("model.vocab_size")) + " is smaller than the " +
                                   std::to_string(mc.vocab.size()) + " tokens of " + c.s("data.vocab"));
  // A vocab that matches none of the corpus's words gives sequences of [UNK] with
  // nothing to predict: the loss would be a silent 0.
  const auto predictions = [](const data::MlmExamples& ex) {
    double n = 0;
    const float* w = ex.masked_weights.data<float>();
    for (int64_t i = 0; i < ex.masked_weights.numel(); ++i) n += w[i];
    return int64_t(n);
  };
  if (predictions(mc.train) == 0 || predictions(mc.eval) == 0)
    throw Error(corpus + ": no token to predict in the " + std::string(predictions(mc.train) == 0 ? "training" : "eval") +
                " split with vocab " + (c.s("data.vocab").empty() ? std::string("built from the corpus") : c.s("data.vocab")) +
                " (does the vocab match the corpus's words? every token is [UNK] or special)");
  std::string vocab;
  for (const std::string& t : mc.vocab.tokens()) vocab += t + "\n";
  return std::make_unique<TensorDataset>(mc.train.columns(), mc.eval.columns(), mc.describe,
                                         std::map<std::string, std::string>{{"vocab.txt", vocab}});
}

}  // namespace

void register_zoo() {
  register_model({"mlp", [](const Config& c) { return std::make_unique<MnistClassifier>(c, false); }, "mnist", nn::supports_tensor_parallel("mlp"),
                  {"", {{"model.hidden", KeyType::IntList, "[512, 512]", "", 1, 1e9, "mlp: hidden layer widths"}, kDropoutKey},
                   nullptr},
                  "classes"});
  register_model({"cnn", [](const Config& c) { return std::make_unique<MnistClassifier>(c, true); }, "mnist", nn::supports_tensor_parallel("cnn"),
                  {"", {kDropoutKey}, nullptr},
                  "classes"});
  register_model(
      {"bert", [](const Config& c) { return std::make_unique<BertModel>(c); }, "mlm_corpus", nn::supports_tensor_parallel("bert"),
       {"",
        {{"model.layers", KeyType::Int, "2", "", 1, 1000, "bert: encoder layers"},
         {"model.hidden_size", KeyType::Int, "128", "", 1, 1e6, "bert: hidden size"},
         {"model.heads", KeyType::Int, "2", "", 1, 1024, "bert: attention heads (must divide hidden_size)"},
         {"model.ffn", KeyType::Int, "512", "", 1, 1e7, "bert: feed-forward inner size"},
         {"model.vocab_size", KeyType::Int, "30522", "", 8, 1e7, "bert: vocabulary size (a built vocab is this size)"},
         {"model.max_seq", KeyType::Int, "512", "", 1, 1e6, "bert: position embeddings"},
         {"model.init_std", KeyType::Float, "0.02", "", 0, 10, "bert: weight init stddev"},
         kDropoutKey, kSeqLen, kMaxPred},
        [](const Config& c) {
          if (c.i("model.hidden_size") % c.i("model.heads") != 0) c.fail("model.heads", "must divide model.hidden_size");
          if (c.i("data.seq_len") > c.i("model.max_seq")) c.fail("data.seq_len", "must not exceed model.max_seq");
        }},
       "classes"});
  register_dataset({"mnist", mnist, {}});
  register_dataset(
      {"mlm_corpus", mlm_corpus,
       {"",
        {kSeqLen, kMaxPred,
         {"data.mask_prob", KeyType::Float, "0.15", "", 0.0, 1.0, "bert: share of tokens chosen for prediction"},
         kEvalFractionKey,
         {"data.vocab", KeyType::String, "", "", -1e300, 1e300,
          "bert: vocab.txt (BERT format); empty = build one from the corpus"}},
        nullptr}});
}

}  // namespace train
}  // namespace ft
