// attention.h — multi-head self-attention (Vaswani et al.), BERT style:
//   x (N, T, C) → q, k, v = Dense(C) each → split heads (N, H, T, D), D = C/H
//   → softmax(q kᵀ / sqrt(D)) over keys (masked) [→ dropout] → · v → merge heads
//   → Dense(C) "output".
// Variables: "<name>/query/w", ".../key/w", ".../value/w", ".../output/w" and biases.
#pragma once

#include "nn/layer.h"

namespace ft {
namespace nn {

class MultiHeadAttention : public LayerBase<MultiHeadAttention> {
 public:
  explicit MultiHeadAttention(int64_t heads, double dropout = 0);
  std::string kind() const override { return "attention"; }
  int64_t heads() const { return heads_; }

  // Self-attention with a key mask (N, T): 1 = attend, 0 = padding (any dtype).
  Value operator()(Graph& g, Value x, Value mask);
  using Layer::operator();

 protected:
  Value forward(Graph& g, Value x) override;

 private:
  int64_t heads_;
  double dropout_;
  Value mask_;  // set only while building
};

}  // namespace nn
}  // namespace ft
