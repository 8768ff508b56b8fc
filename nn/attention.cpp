// attention.cpp — multi-head self-attention (see attention.h).
#include "nn/attention.h"

#include <cmath>

namespace ft {
namespace nn {

Value multi_head_attention(Value x, Value mask, const AttentionWeights& w, int64_t heads, double p, int64_t seed) {
  if (x.rank() != 3) throw Error("multi_head_attention: x must be (B, T, C), got " + shape_str(x.shape()));
  // c: the projections' width (x's C, or C/k for a tensor-parallel part).
  const int64_t t = x.shape()[1], c = w.wq.rank() == 2 ? w.wq.shape()[1] : x.shape()[2];
  if (t < 0 || c < 0) throw Error("multi_head_attention: T and C must be known, got " + shape_str(x.shape()));
  if (c % heads != 0)
    throw Error("multi_head_attention: C = " + std::to_string(c) + " is not divisible by " + std::to_string(heads) +
                " heads");
  const int64_t d = c / heads;
  // (B, T, C) -> (B, H, T, Dh)
  auto split = [&](Value wt, Value b) { return transpose(reshape(matmul(x, wt) + b, {-1, t, heads, d}), {0, 2, 1, 3}); };
  Value q = split(w.wq, w.bq), k = split(w.wk, w.bk), v = split(w.wv, w.bv);
  Value scores = scale(matmul(q, k, false, true), 1.0 / std::sqrt(double(d)));  // (B, H, T, T)
  Value probs;
  if (mask.defined()) {
    if (mask.rank() != 2) throw Error("multi_head_attention: mask must be (B, T), got " + shape_str(mask.shape()));
    Value m = mask.dtype() == x.dtype() ? mask : cast(mask, x.dtype());
    probs = masked_softmax(scores, reshape(m, {-1, 1, 1, t}));
  } else {
    probs = softmax(scores);
  }
  if (p > 0) probs = dropout(probs, p, seed);
  return reshape(transpose(matmul(probs, v), {0, 2, 1, 3}), {-1, t, c});  // (B, T, C)
}

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
  if (mask_.defined() && mask_.rank() != 2) fail("mask must be (N, T), got " + shape_str(mask_.shape()));
  const int64_t heads = tp_.part(heads_, "layer '" + name() + "': attention heads");  // this rank's
  AttentionWeights w;  // (C, C/k) and (C/k): this rank's heads' columns
  auto proj = [&](const std::string& n, Value& wt, Value& b) {
    wt = variable(g, n + "/w", {c, c}, 1, init_, tp_, dtype_);
    b = variable(g, n + "/b", {c}, 0, init::zeros(), tp_, dtype_);
  };
  proj("query", w.wq, w.bq);
  proj("key", w.wk, w.bk);
  proj("value", w.wv, w.bv);
  int64_t seed = 0;
  if (dropout_ > 0)
    seed = (fixed_seed_ ? seed_ : static_cast<int64_t>(g.name_seed(g.scoped("seed")) >> 1)) + 1000003 * int64_t(tp_.rank);
  Value ctx = multi_head_attention(copy_to_parallel(x, tp_), mask_, w, heads, dropout_, seed);  // (N, T, C/k)
  if (!project_) return ctx;
  if (!output_) {
    output_ = std::make_shared<Dense>(c, "", true, init_);
    output_->named("output").dtype(dtype_).parallel(tp_, Split::Rows);
  }
  return sublayer(*output_, g, ctx);  // (N, T, C)
}

}  // namespace nn
}  // namespace ft
