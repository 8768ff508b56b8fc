// bert.cpp — BERT encoder and masked-LM head (see bert.h for the structure and names).
#include "nn/bert.h"

#include <cmath>

#include "nn/layers.h"

namespace ft {
namespace nn {
namespace {

struct Builder {
  Graph& g;
  const BertOptions& o;
  int dropouts = 0;

  Initializer w_init() const { return init::truncated_normal(o.init_std); }
  Value var(const std::string& name, const Shape& s, const Initializer& init) { return g.variable(name, s, init, o.dtype); }
  Value weight(const std::string& name, const Shape& s) { return var(name, s, w_init()); }

  // (.., in) -> (.., out) under scope "dense": "dense/w", "dense/b"; this rank's part over o.tp.
  Dense dense(int64_t out, const char* act = "") {
    Dense d(out, act, true, w_init());
    d.named("dense").dtype(o.dtype);
    return d;
  }
  Value layer_norm(Value x) { return LayerNorm(o.ln_eps).named("LayerNorm").dtype(o.dtype)(g, x); }
  int64_t seed() { return static_cast<int64_t>(g.name_seed(g.scoped("dropout_" + std::to_string(++dropouts))) >> 1); }
  Value drop(Value x) { return o.dropout > 0 ? dropout(x, o.dropout, seed()) : x; }

  // One encoder layer (B, T, C) -> (B, T, C), this rank's part over o.tp (Megatron:
  // heads and FFN columns split, the two output dense layers row-parallel; the same
  // names and slices of the same initial values as the unsplit layer).
  Value layer(Value x, Value mask) {
    const TensorParallel& tp = o.tp;
    Value a;
    {
      auto s = g.name_scope("attention");
      MultiHeadAttention self(o.heads, o.dropout);
      self.named("self").parallel(tp).kernel_init(w_init()).dtype(o.dtype).output_projection(false);
      if (o.dropout > 0) self.dropout_seed(seed());
      Value ctx = self(g, x, mask);  // (B, T, C/k)
      auto s2 = g.name_scope("output");
      a = layer_norm(drop(dense(o.hidden).parallel(tp, Split::Rows)(g, ctx)) + x);
    }
    Value h;
    {
      auto s = g.name_scope("intermediate");
      h = dense(o.ffn, "gelu").parallel(tp, Split::Columns)(g, a);  // (B, T, FFN/k)
    }
    auto s = g.name_scope("output");
    return layer_norm(drop(dense(o.hidden).parallel(tp, Split::Rows)(g, h)) + a);
  }
};

void check_options(const BertOptions& o) {
  auto bad = [](const std::string& what) { throw Error("bert: " + what); };
  if (o.layers < 1 || o.hidden < 1 || o.heads < 1 || o.ffn < 1 || o.vocab < 1 || o.max_seq < 1 || o.type_vocab < 1)
    bad("layers, hidden, heads, ffn, vocab, max_seq and type_vocab must be >= 1");
  if (o.hidden % o.heads != 0)
    bad("hidden size " + std::to_string(o.hidden) + " is not divisible by " + std::to_string(o.heads) + " heads");
  if (o.dropout < 0 || o.dropout >= 1) bad("dropout must be in [0, 1), got " + std::to_string(o.dropout));
}

Value as(Value x, DType d) { return x.dtype() == d ? x : cast(x, d); }

}  // namespace

BertInputs bert_placeholders(Graph& g, int64_t seq_len, int64_t max_predictions, DType f) {
  BertInputs in;
  in.input_ids = g.placeholder("input_ids", {-1, seq_len}, DType::I32);
  in.segment_ids = g.placeholder("segment_ids", {-1, seq_len}, DType::I32);
  in.attention_mask = g.placeholder("attention_mask", {-1, seq_len}, f);
  in.masked_positions = g.placeholder("masked_positions", {-1, max_predictions}, DType::I32);
  in.masked_labels = g.placeholder("masked_labels", {-1, max_predictions}, DType::I32);
  in.masked_weights = g.placeholder("masked_weights", {-1, max_predictions}, f);
  return in;
}

Value gather_positions(Value seq, Value positions) {
  if (seq.rank() != 3 || positions.rank() != 2)
    throw Error("gather_positions: need seq (B, T, C) and positions (B, P), got " + shape_str(seq.shape()) + " and " +
                shape_str(positions.shape()));
  const int64_t t = seq.shape()[1], c = seq.shape()[2];
  Value sel = as(one_hot(positions, t), seq.dtype());  // (B, P, T)
  return reshape(matmul(sel, seq), {-1, c});           // (B·P, C)
}

Value masked_lm_loss(Value logits, Value labels, Value weights) {
  Value w = as(weights, logits.dtype());
  Value per = sparse_softmax_cross_entropy(logits, labels);  // (N); 0 where label < 0
  return sum(per * w) / add_scalar(sum(w), 1e-5);
}

namespace {

// The encoder; *words receives the word embedding table (V, C).
Value encoder(Graph& g, Value ids, Value segments, Value mask, const BertOptions& o, Value* words_out) {
  check_options(o);
  if (ids.rank() != 2 || ids.shape()[1] < 0)
    throw Error("bert: input_ids must be (B, T) with T known, got " + shape_str(ids.shape()));
  const int64_t t = ids.shape()[1];
  if (t > o.max_seq)
    throw Error("bert: sequence length " + std::to_string(t) + " exceeds max_seq " + std::to_string(o.max_seq));
  Builder b{g, o};
  auto s = g.name_scope("bert");
  Value x;
  {
    auto s2 = g.name_scope("embeddings");
    Value words = b.weight("word_embeddings", {o.vocab, o.hidden});
    Value pos = slice(b.weight("position_embeddings", {o.max_seq, o.hidden}), {0, 0}, {t, o.hidden});  // (T, C)
    Value types = b.weight("token_type_embeddings", {o.type_vocab, o.hidden});
    if (words_out) *words_out = words;
    x = gather(words, ids) + gather(types, segments) + pos;  // (B, T, C)
    x = b.drop(b.layer_norm(x));
  }
  auto s2 = g.name_scope("encoder");
  for (int64_t i = 0; i < o.layers; ++i) {
    auto s3 = g.name_scope("layer_" + std::to_string(i));
    x = b.layer(x, mask);
  }
  return x;
}

}  // namespace

Value bert_encoder(Graph& g, Value ids, Value segments, Value mask, const BertOptions& o) {
  return encoder(g, ids, segments, mask, o, nullptr);
}

BertMlm bert_mlm(Graph& g, const BertInputs& in, const BertOptions& o) {
  BertMlm m;
  Value words;
  m.sequence_output = encoder(g, in.input_ids, in.segment_ids, in.attention_mask, o, &words);
  Builder b{g, o};
  auto s = g.name_scope("cls");
  auto s2 = g.name_scope("predictions");
  Value h = gather_positions(m.sequence_output, in.masked_positions);  // (B·P, C)
  {
    auto s3 = g.name_scope("transform");
    h = b.layer_norm(b.dense(o.hidden, "gelu")(g, h));
  }
  // Decoder tied to the word embeddings: (B·P, C) · (V, C)ᵀ + bias (V).
  m.logits = matmul(h, words, false, true) + b.var("output_bias", {o.vocab}, init::zeros());
  m.labels = reshape(in.masked_labels, {-1});
  m.loss = masked_lm_loss(m.logits, m.labels, reshape(in.masked_weights, {-1}));
  return m;
}

}  // namespace nn
}  // namespace ft
