// layers.cpp — Dense, Activation, Flatten, Dropout, LayerNorm, Embedding.
#include "nn/layers.h"

namespace ft {
namespace nn {

Dense::Dense(int64_t units, std::string activation, bool use_bias, Initializer kernel_init)
    : units_(units), act_(std::move(activation)), use_bias_(use_bias), init_(std::move(kernel_init)) {
  if (units <= 0) throw Error("Dense: units must be > 0, got " + std::to_string(units));
  check_activation(act_);
}

Value Dense::forward(Graph& g, Value x) {
  if (x.rank() < 2) fail("input must have rank >= 2, got " + shape_str(x.shape()));
  const int64_t in = x.shape().back();
  if (in < 0) fail("the last input dim must be known, got " + shape_str(x.shape()));
  Value y = matmul(x, variable(g, "w", {in, units_}, init_));
  if (use_bias_) y = y + variable(g, "b", {units_}, init::zeros());
  return activation(y, act_);
}

Activation::Activation(std::string name) : act_(std::move(name)) { check_activation(act_); }

Value Flatten::forward(Graph&, Value x) {
  if (x.rank() < 2) fail("input must have rank >= 2, got " + shape_str(x.shape()));
  int64_t rest = 1;
  for (int i = 1; i < x.rank(); ++i) {
    if (x.shape()[size_t(i)] < 0) fail("dims after the batch dim must be known, got " + shape_str(x.shape()));
    rest *= x.shape()[size_t(i)];
  }
  if (x.rank() == 2) return x;
  return reshape(x, {-1, rest});
}

Dropout::Dropout(double rate) : rate_(rate) {
  if (rate < 0 || rate >= 1) throw Error("Dropout: rate must be in [0, 1), got " + std::to_string(rate));
}

Value Dropout::forward(Graph& g, Value x) {
  if (rate_ == 0) return x;
  return dropout(x, rate_, static_cast<int64_t>(g.name_seed(g.scoped("seed")) >> 1));
}

Value LayerNorm::forward(Graph& g, Value x) {
  if (x.rank() < 1 || x.shape().back() < 0) fail("the last input dim must be known, got " + shape_str(x.shape()));
  const int64_t c = x.shape().back();
  Value gamma = variable(g, "gamma", {c}, init::ones());
  Value beta = variable(g, "beta", {c}, init::zeros());
  return layer_norm(x, gamma, beta, eps_);
}

Embedding::Embedding(int64_t vocab, int64_t dim, Initializer init) : vocab_(vocab), dim_(dim), init_(std::move(init)) {
  if (vocab <= 0 || dim <= 0)
    throw Error("Embedding: vocab and dim must be > 0, got " + std::to_string(vocab) + ", " + std::to_string(dim));
}

Value Embedding::forward(Graph& g, Value x) {
  if (is_float(x.dtype())) fail(std::string("ids must be an integer tensor, got ") + dtype_name(x.dtype()));
  return gather(variable(g, "table", {vocab_, dim_}, init_), x);
}

}  // namespace nn
}  // namespace ft
