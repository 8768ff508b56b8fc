// attention.cpp — multi-head self-attention.
#include "nn/attention.h"

#include <cmath>


namespace ft {
namespace nn {

MultiHeadAttention::MultiHeadAttention(int64_t heads, double dropout) : heads_(heads), dropout_(dropout) {
  if (heads <= 0) throw Error("MultiHeadAttention: heads must be > 0, got " + std::to_string(heads));
  if (dropout < 0 || dropout >= 1)
    throw Error("MultiHeadAttention: dropout must be in [0, 1), got " + std::to_string(dropout));
}

Value MultiHeadAttention::operator()(Graph& g, Value x, Value mask) {
  mask_ = mask;
  try {
    Value y = Layer::operator()(g, x);
    mask_ = Value();
    return y;
  } catch (...) {
    mask_ = Value();
    throw;
  }
}

Value MultiHeadAttention::forward(Graph& g, Value x) {
  if (x.rank() != 3) fail("input must be (N, T, C), got " + shape_str(x.shape()));
  const int64_t t = x.shape()[1], c = x.shape()[2];
  if (t < 0 || c < 0) fail("T and C must be known, got " + shape_str(x.shape()));
  if (c % heads_ != 0) fail("C = " + std::to_string(c) + " is not divisible by " + std::to_string(heads_) + " heads");
  const int64_t d = c / heads_;

  // (.., C) x (C, C) + (C); variables "<layer>/<name>/w", "<layer>/<name>/b".
  auto dense = [&](Value in, const std::string& name) {
    Value w = variable(g, name + "/w", {c, c}, init::glorot());
    Value b = variable(g, name + "/b", {c}, init::zeros());
    return matmul(in, w) + b;
  };
  auto split = [&](Value v) { return transpose(reshape(v, {-1, t, heads_, d}), {0, 2, 1, 3}); };  // (N, H, T, D)

  Value q = split(dense(x, "query"));
  Value k = split(dense(x, "key"));
  Value v = split(dense(x, "value"));
  Value scores = scale(matmul(q, k, false, true), 1.0 / std::sqrt(double(d)));  // (N, H, T, T)
  Value p;
  if (mask_.defined()) {
    if (mask_.rank() != 2) fail("mask must be (N, T), got " + shape_str(mask_.shape()));
    Value m = mask_.dtype() == x.dtype() ? mask_ : cast(mask_, x.dtype());
    p = masked_softmax(scores, reshape(m, {-1, 1, 1, t}));
  } else {
    p = softmax(scores);
  }
  if (dropout_ > 0) p = dropout(p, dropout_, static_cast<int64_t>(g.name_seed(g.scoped("seed")) >> 1));
  Value ctx = reshape(transpose(matmul(p, v), {0, 2, 1, 3}), {-1, t, c});  // (N, T, C)
  return dense(ctx, "output");
}

}  // namespace nn
}  // namespace ft
