// layers.cpp — Dense, Activation, Flatten, Dropout, LayerNorm, Embedding.
#include "nn/layers.h"

namespace ft {
namespace nn {

Dense::Dense(int64_t units, std::string activation, bool use_bias, Initializer kernel_init)
    : units_(units), act_(std::move(activation)), use_bias_(use_bias), init_(std::move(kernel_init)) {
  if (units <= 0) throw Error("Dense: units must be > 0, got " + std::to_string(units));
  check_activation(act_);
}

Dense& Dense::parallel(const TensorParallel& tp, Split split, bool gather_output, bool copy_input) {
  tp_ = tp;
  split_ = split;
  gather_ = gather_output;
  copy_input_ = copy_input;
  return *this;
}

Value Dense::forward(Graph& g, Value x) {
  if (x.rank() < 2) fail("input must have rank >= 2, got " + shape_str(x.shape()));
  const int64_t in_part = x.shape().back();
  if (in_part < 0) fail("the last input dim must be known, got " + shape_str(x.shape()));
  Value y;
  if (split_ == Split::Rows) {  // x (.., in/k) -> partial sums (.., units) -> allreduce -> + b
    const int64_t in = in_part * tp_.size;
    Value w = variable(g, "w", {in, units_}, 0, init_, tp_, dtype_);
    Value b = use_bias_ ? variable(g, "b", {units_}, init::zeros(), dtype_) : Value();
    y = reduce_from_parallel(matmul(x, w), tp_);
    if (use_bias_) y = y + b;
    return activation(y, act_);
  }
  // x (.., in) -> (.., units/k) [-> gathered (.., units)]
  Value w = variable(g, "w", {in_part, units_}, 1, init_, tp_, dtype_);
  Value b = use_bias_ ? variable(g, "b", {units_}, 0, init::zeros(), tp_, dtype_) : Value();
  y = matmul(copy_input_ ? copy_to_parallel(x, tp_) : x, w);
  if (use_bias_) y = y + b;
  y = activation(y, act_);
  return gather_ ? gather_from_parallel(y, tp_) : y;
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

Dropout::Dropout(double rate, int64_t seed) : Dropout(rate) {
  fixed_seed_ = true;
  seed_ = seed;
}

Value Dropout::forward(Graph& g, Value x) {
  if (rate_ == 0) return x;
  return dropout(x, rate_, fixed_seed_ ? seed_ : static_cast<int64_t>(g.name_seed(g.scoped("seed")) >> 1));
}

Value LayerNorm::forward(Graph& g, Value x) {
  if (x.rank() < 1 || x.shape().back() < 0) fail("the last input dim must be known, got " + shape_str(x.shape()));
  const int64_t c = x.shape().back();
  Value gamma = variable(g, "gamma", {c}, init::ones(), dtype_);
  Value beta = variable(g, "beta", {c}, init::zeros(), dtype_);
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
