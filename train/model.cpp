// model.cpp — the model zoo as the train program builds it: MLP and CNN for
// MNIST (classification), each ending in a mean softmax cross-entropy; BERT
// masked-LM (train/bert_task.cpp).
#include "train/model.h"

#include <set>

#include "data/idx.h"
#include "nn/parallel.h"
#include "ops/ops.h"

namespace ft {
namespace train {

// train/bert_task.cpp
TaskData load_bert_data(const Config& cfg);
Model build_bert(Graph& g, const Config& cfg, const TaskData& data, const nn::TensorParallel& tp);

namespace {

Value dense(Graph& g, const std::string& name, Value x, int64_t in, int64_t out) {
  auto s = g.name_scope(name);
  Value w = g.variable("w", {in, out}, init::glorot());
  Value b = g.variable("b", {out}, init::zeros());
  return matmul(x, w) + b;
}

Value conv(Graph& g, const std::string& name, Value x, int64_t in, int64_t out, int64_t k) {
  auto s = g.name_scope(name);
  Value w = g.variable("w", {out, in, k, k}, init::he());
  Value b = g.variable("b", {out, 1, 1}, init::zeros());
  return conv2d(x, w) + b;
}

// Tensor-parallel MLP (tp.size > 1): a hidden layer whose input is replicated is
// column-parallel (its output stays split), the next one row-parallel (its
// partial sums are allreduced), and so on; the output layer is row-parallel
// after a split layer, else column-parallel with an allgather when the group
// size divides the 10 classes, else replicated. Names and initial values are
// the unsplit model's. Dropout on a split activation is seeded per rank.
Value parallel_mlp(Graph& g, const Config& c, Value x, const nn::TensorParallel& tp) {
  const double p = c.f("model.dropout");
  const int64_t seed = c.i("train.seed");
  Value h = x;
  bool split = false;
  int64_t in = 784, i = 0;
  for (int64_t units : c.ints("model.hidden")) {
    const std::string name = "fc" + std::to_string(++i);
    int64_t drop_seed = seed + i;
    if (split) {
      h = relu(nn::row_parallel_dense(g, name, h, in, units, tp, init::glorot()));
      split = false;
    } else if (units % tp.size == 0) {
      h = relu(nn::column_parallel_dense(g, name, h, units, tp, false, init::glorot()));
      split = true;
      drop_seed += 1000003 * tp.rank;
    } else {
      h = relu(dense(g, name, h, in, units));
    }
    if (p > 0) h = dropout(h, p, drop_seed);
    in = units;
  }
  const std::string out = "fc" + std::to_string(i + 1);
  if (split) return nn::row_parallel_dense(g, out, h, in, 10, tp, init::glorot());
  if (10 % tp.size == 0) return nn::column_parallel_dense(g, out, h, 10, tp, true, init::glorot());
  return dense(g, out, h, in, 10);
}

Model classifier(Graph& g, const Config& c, const nn::TensorParallel& tp) {
  Model m;
  m.task = "classify";
  Value x = g.placeholder("images", {-1, 784});
  Value y = g.placeholder("labels", {-1}, DType::I32);
  m.inputs = {x, y};
  m.labels = y;
  const double p = c.f("model.dropout");
  const int64_t seed = c.i("train.seed");
  Value h;
  if (c.s("model.type") == "mlp" && tp.enabled()) {
    m.logits = parallel_mlp(g, c, x, tp);
  } else if (c.s("model.type") == "mlp") {
    // (N, 784) -> hidden... -> (N, 10)
    h = x;
    int64_t in = 784, i = 0;
    for (int64_t units : c.ints("model.hidden")) {
      h = relu(dense(g, "fc" + std::to_string(++i), h, in, units));
      if (p > 0) h = dropout(h, p, seed + i);
      in = units;
    }
    m.logits = dense(g, "fc" + std::to_string(i + 1), h, in, 10);
  } else {
    if (tp.enabled())
      throw Error(c.where("distributed.model_parallel") + ": key 'distributed.model_parallel' = " +
                  std::to_string(tp.size) + ": model.type cnn has no tensor-parallel layers (use mlp or bert)");
    // (N, 1, 28, 28) -conv3-> (N, 32, 26, 26) -pool-> 13 -conv3-> (N, 64, 11, 11) -pool-> 5 -> 1600 -> 128 -> 10
    h = reshape(x, {-1, 1, 28, 28});
    h = max_pool2d(relu(conv(g, "conv1", h, 1, 32, 3)), 2);
    h = max_pool2d(relu(conv(g, "conv2", h, 32, 64, 3)), 2);
    h = reshape(h, {-1, 64 * 5 * 5});
    h = relu(dense(g, "fc1", h, 64 * 5 * 5, 128));
    if (p > 0) h = dropout(h, p, seed + 1);
    m.logits = dense(g, "fc2", h, 128, 10);
  }
  m.loss = mean(sparse_softmax_cross_entropy(m.logits, y));
  return m;
}

}  // namespace

namespace {
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
}  // namespace

TaskData load_task_data(const Config& cfg) {
  const std::string t = cfg.s("model.type");
  TaskData d;
  if (t == "mlp" || t == "cnn") {
    const std::string dir = cfg.s("data.dir");
    data::Dataset train = data::load_mnist(dir, "train"), test = data::load_mnist(dir, "test");
    check_eval_labels_trained(train.labels, test.labels, dir);
    d.train = {train.images, train.labels};
    d.eval = {test.images, test.labels};
    d.describe = "MNIST from " + dir + ": " + std::to_string(train.size()) + " train / " +
                 std::to_string(test.size()) + " test digits";
    return d;
  }
  if (t == "bert") return load_bert_data(cfg);
  throw Error(cfg.where("model.type") + ": key 'model.type' = " + t + " is not available in this build");
}

Model build_model(Graph& g, const Config& cfg, const TaskData& data, const nn::TensorParallel& tp) {
  const std::string t = cfg.s("model.type");
  if (t == "mlp" || t == "cnn") return classifier(g, cfg, tp);
  if (t == "bert") return build_bert(g, cfg, data, tp);
  throw Error(cfg.where("model.type") + ": key 'model.type' = " + t + " is not available in this build");
}

}  // namespace train
}  // namespace ft
