// main.cpp — a user's project on the installed flowtrain library: its own model
// (a residual MLP), its own dataset (two interleaved spirals) and their own config
// keys, trained by the library's Trainer under any strategy the YAML names:
//
//   custom_train --config custom.yaml                                   one process
//   mpirun -np 2 custom_train --config custom.yaml                      allreduce-sync
//   mpirun -np 3 custom_train --config custom.yaml --set distributed.mode=ps-async
//
// Everything else (checkpoints, --resume, evaluation, metrics, deterministic
// mode, errors naming key and file:line) comes with the library.
#include <cmath>
#include <memory>

#include "data/rng.h"
#include "ops/ops.h"
#include "train/cli.h"
#include "train/registry.h"

using namespace ft;
using train::Config;
using train::KeyType;

namespace {

// x (N, 2) -> tanh(x W0 + b0) -> `blocks` times h = h + tanh(h W + b) -> logits (N, 2).
class ResidualMlp : public train::Model {
 public:
  explicit ResidualMlp(const Config& c) : width_(c.i("model.width")), blocks_(c.i("model.blocks")) {}

  train::ModelGraph build(Graph& g, const train::BuildContext& ctx) override {
    Value x = g.placeholder("points", {-1, 2});
    Value y = g.placeholder("labels", {-1}, DType::I32);
    auto dense = [&](const std::string& name, Value in, int64_t from, int64_t to) {
      auto s = g.name_scope(name);
      return matmul(in, g.variable("w", {from, to}, init::glorot())) + g.variable("b", {to}, init::zeros());
    };
    Value h = tanh(dense("in", x, 2, width_));
    for (int64_t b = 0; b < blocks_; ++b) h = h + tanh(dense("block" + std::to_string(b), h, width_, width_));
    train::ModelGraph m;
    m.inputs = {x, y};
    m.logits = dense("out", h, width_, 2);
    m.labels = y;
    m.loss = mean(sparse_softmax_cross_entropy(m.logits, y));
    m.metrics["mean_abs_logit"] = mean(abs(m.logits));
    return m;
  }

 private:
  int64_t width_, blocks_;
};

// Two spirals, `data.points` points each split 90/10 into train and eval, seeded by
// train.seed. data.features adds constant columns (a wrong shape for the model on
// purpose when not 2: the Trainer names the input and both shapes).
class Spirals : public train::Dataset {
 public:
  explicit Spirals(const Config& c)
      : n_(c.i("data.points")), features_(c.i("data.features")), noise_(c.f("data.noise")),
        seed_(uint64_t(c.i("train.seed"))) {}
  std::vector<Tensor> train() const override { return make(0, n_ * 9 / 10); }
  std::vector<Tensor> eval() const override { return make(n_ * 9 / 10, n_); }
  std::string describe() const override {
    return "two spirals: " + std::to_string(n_ * 9 / 10) + " train / " + std::to_string(n_ - n_ * 9 / 10) + " eval points";
  }

 private:
  std::vector<Tensor> make(int64_t begin, int64_t end) const {
    const int64_t n = end - begin;
    Tensor xs = Tensor::zeros({n, features_}, DType::F32), ys = Tensor::empty({n}, DType::I32);
    data::Rng rng(seed_, 0);
    std::vector<float> noise(size_t(2 * n_));
    for (float& v : noise) v = float(noise_ * (rng.uniform() * 2 - 1));
    // Point i alternates between the spirals; the permutation below mixes the two splits.
    for (int64_t k = 0; k < n; ++k) {
      const int64_t i = (begin + k) * 7919 % n_;
      const int label = int(i % 2);
      const float t = 0.5f + 3.0f * float(i / 2) / float(n_ / 2), sgn = label ? -1.f : 1.f;
      float* row = xs.data<float>() + k * features_;
      row[0] = sgn * t * std::cos(t) / 3.5f + noise[size_t(2 * i)];
      row[1] = sgn * t * std::sin(t) / 3.5f + noise[size_t(2 * i + 1)];
      ys.data<int32_t>()[k] = label;
    }
    return {xs, ys};
  }
  int64_t n_, features_;
  double noise_;
  uint64_t seed_;
};

}  // namespace

int main(int argc, char** argv) {
  train::register_model(
      {"resmlp", [](const Config& c) { return std::make_unique<ResidualMlp>(c); }, "spirals", false,
       {"",
        {{"model.width", KeyType::Int, "64", "", 2, 4096, "resmlp: hidden width"},
         {"model.blocks", KeyType::Int, "1", "", 0, 64, "resmlp: residual tanh blocks"}},
        nullptr}});
  train::register_dataset(
      {"spirals", [](const Config& c) { return std::make_unique<Spirals>(c); },
       {"",
        {{"data.points", KeyType::Int, "2048", "", 20, 10000000, "spirals: points in all (90% train)"},
         {"data.features", KeyType::Int, "2", "", 2, 64, "spirals: columns per point (the model takes 2)"},
         {"data.noise", KeyType::Float, "0.05", "", 0, 1, "spirals: uniform noise added to each coordinate"}},
        [](const Config& c) {
          if (c.i("data.points") % 2 != 0) c.fail("data.points", "must be even (two spirals)");
        }}});
  return train::main(argc, argv, "custom_train");
}
