// attention.h — multi-head self-attention (Vaswani et al.), BERT style, written once:
//   x (N, T, C) → q, k, v = x w + b each (C → C', C' = C/k on a rank of a k-way
//   tensor-parallel group, which holds H/k of the H heads) → split heads (N, H', T, D),
//   D = C'/H' → softmax(q kᵀ / sqrt(D)) over keys (masked) [→ dropout] → · v
//   → merge heads (N, T, C') [→ output projection Dense(C), row-parallel → (N, T, C)].
// Layer variables: "<name>/query/w" (C, C'), ".../key/w", ".../value/w" and biases (C'),
// "<name>/output/w" (C', C), "<name>/output/b" (C).
#pragma once

#include <memory>

#include "nn/layer.h"
#include "nn/layers.h"

namespace ft {
namespace nn {

struct AttentionWeights {
  Value wq, bq, wk, bk, wv, bv;  // (C, C'), (C')
};
// x (N, T, C), mask (N, T) 1 = attend / 0 = padding (any dtype; undefined = no mask)
// → context (N, T, C') before the output projection, C' = the projections' width:
// softmax_masked(q kᵀ / sqrt(D)) v per head, probabilities dropped out with rate
// `dropout` (seeded by `seed`) while training.
Value multi_head_attention(Value x, Value mask, const AttentionWeights& w, int64_t heads, double dropout = 0,
                           int64_t seed = 0);

class MultiHeadAttention : public LayerBase<MultiHeadAttention> {
 public:
  explicit MultiHeadAttention(int64_t heads, double dropout = 0);
  std::string kind() const override { return "attention"; }
  int64_t heads() const { return heads_; }

  // This rank's heads over tp (Megatron): q/k/v column-parallel, the output
  // projection row-parallel; tp.size 1 is the plain layer.
  MultiHeadAttention& parallel(const TensorParallel& tp) {
    tp_ = tp;
    return *this;
  }
  MultiHeadAttention& kernel_init(Initializer init) {  // glorot by default
    init_ = std::move(init);
    return *this;
  }
  MultiHeadAttention& dtype(DType d) {  // of the variables (F32 by default)
    dtype_ = d;
    return *this;
  }
  // The probabilities' dropout seed (default: derived from the layer's name);
  // + 1000003·tp.rank on a tensor-parallel rank.
  MultiHeadAttention& dropout_seed(int64_t seed) {
    fixed_seed_ = true;
    seed_ = seed;
    return *this;
  }
  // false: return the context (N, T, C') without the output projection.
  MultiHeadAttention& output_projection(bool on) {
    project_ = on;
    return *this;
  }

  // Self-attention with a key mask (N, T): 1 = attend, 0 = padding (any dtype).
  Value operator()(Graph& g, Value x, Value mask);
  using Layer::operator();

 protected:
  Value forward(Graph& g, Value x) override;

 private:
  int64_t heads_;
  double dropout_;
  TensorParallel tp_;
  Initializer init_ = init::glorot();
  DType dtype_ = DType::F32;
  bool fixed_seed_ = false, project_ = true;
  int64_t seed_ = 0;
  std::shared_ptr<Dense> output_;
  Value mask_;  // set only while building
};

}  // namespace nn
}  // namespace ft
