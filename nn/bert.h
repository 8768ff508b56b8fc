// bert.h — BERT (Devlin et al., 2018) encoder and masked-LM head from nn layers.
//   ids, segments (B, T) → word + position + segment embeddings → LayerNorm → dropout
//   → layers × [ self-attention (B, H, T, Dh) with a padding mask → dense → dropout → +x → LayerNorm
//               → dense(ffn, gelu) → dense(C) → dropout → +x → LayerNorm ]          (B, T, C)
//   MLM head: hidden states at the masked positions (B·P, C) → dense + gelu → LayerNorm
//   → · word_embeddingsᵀ (tied) + output_bias → logits (B·P, V); only the P predicted
//   positions per sequence reach the vocabulary projection.
// Variable names follow Google's BERT checkpoints ("bert/encoder/layer_0/attention/self/query/w",
// ".../LayerNorm/gamma", "cls/predictions/output_bias"), so the optimizer's default
// decay filter leaves LayerNorm and bias parameters undecayed.
#pragma once

#include <cstdint>
#include <string>

#include "nn/attention.h"
#include "nn/parallel.h"
#include "ops/ops.h"

namespace ft {
namespace nn {

struct BertOptions {
  int64_t layers = 12;
  int64_t hidden = 768;     // C
  int64_t heads = 12;       // H (divides C)
  int64_t ffn = 3072;       // intermediate size
  int64_t vocab = 30522;    // V
  int64_t max_seq = 512;    // rows of the position table
  int64_t type_vocab = 2;   // segments
  double dropout = 0.1;     // hidden and attention-probability dropout
  double init_std = 0.02;   // truncated normal init of weights and tables
  double ln_eps = 1e-12;
  DType dtype = DType::F32; // of variables (F64 for gradient tests)
  // Tensor parallelism (nn/parallel.h): with tp.size > 1 each layer's heads and
  // FFN columns are split over the group Megatron-style (q/k/v and the
  // intermediate dense column-parallel, the attention output and FFN output
  // dense row-parallel: one allreduce per block forward, one backward).
  TensorParallel tp;
};

// The six loader columns of data::MlmExamples as placeholders (batch dim -1).
struct BertInputs {
  Value input_ids;         // (B, T) i32
  Value segment_ids;       // (B, T) i32
  Value attention_mask;    // (B, T) f32: 1 = token, 0 = [PAD]
  Value masked_positions;  // (B, P) i32
  Value masked_labels;     // (B, P) i32, -1 = unused slot
  Value masked_weights;    // (B, P) f32, 1 = used slot
  std::vector<Value> all() const {
    return {input_ids, segment_ids, attention_mask, masked_positions, masked_labels, masked_weights};
  }
};
BertInputs bert_placeholders(Graph& g, int64_t seq_len, int64_t max_predictions, DType float_dtype = DType::F32);

struct BertMlm {
  Value sequence_output;  // (B, T, C)
  Value logits;           // (B·P, V)
  Value labels;           // (B·P) i32, < 0 = not counted
  Value loss;             // scalar: sum(w · CE) / (sum(w) + 1e-5), w = masked_weights
};

// Builds the encoder and MLM head into g (variables created under "bert/" and "cls/").
BertMlm bert_mlm(Graph& g, const BertInputs& in, const BertOptions& o);
// Encoder only: (B, T) ids → (B, T, C).
Value bert_encoder(Graph& g, Value ids, Value segments, Value mask, const BertOptions& o);

// ---- building blocks (used by the model and by gradient tests; the attention
// itself is nn/attention.h's multi_head_attention)
// Rows of seq (B, T, C) at positions (B, P) → (B·P, C). The batch offset b·T is
// not known when the graph is built (B varies), so the rows are selected by a
// batched product one_hot(positions, T) (B, P, T) · seq: B·P·T·C multiply-adds,
// and its gradient is the scatter-add of the rows back into (B, T, C).
Value gather_positions(Value seq, Value positions);
// Mean cross-entropy over the weighted predictions: logits (N, V), labels (N), weights (N).
Value masked_lm_loss(Value logits, Value labels, Value weights);

}  // namespace nn
}  // namespace ft
