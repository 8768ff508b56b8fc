// bert.cpp — BERT encoder and masked-LM head (see bert.h for the structure and names).
#include "nn/bert.h"

#include <cmath>

namespace ft {
namespace nn {
namespace {

struct Builder {
  Graph& g;
  const BertOptions& o;
  int dropouts = 0;

  Value var(const std::string& name, const Shape& s, const Initializer& init) { return g.variable(name, s, init, o.dtype); }
  Value weight(const std::string& name, const Shape& s) { return var(name, s, init::truncated_normal(o.init_std)); }

  // (.., in) -> (.., out) under scope `name`: "<name>/w", "<name>/b".
  Value dense(const std::string& name, Value x, int64_t out) {
    auto s = g.name_scope(name);
    const int64_t in = x.shape().back();
    return matmul(x, weight("w", {in, out})) + var("b", {out}, init::zeros());
  }
  Value layer_norm(const std::string& name, Value x) {
    auto s = g.name_scope(name);
    const int64_t c = x.shape().back();
    return ft::layer_norm(x, var("gamma", {c}, init::ones()), var("beta", {c}, init::zeros()), o.ln_eps);
  }
  int64_t seed() { return static_cast<int64_t>(g.name_seed(g.scoped("dropout_" + std::to_string(++dropouts))) >> 1); }
  Value drop(Value x) { return o.dropout > 0 ? dropout(x, o.dropout, seed()) : x; }

  // One encoder layer: (B, T, C) -> (B, T, C).
  Value layer(Value x, Value mask) {
    if (o.tp.enabled()) return parallel_layer(x, mask);
    const int64_t c = o.hidden;
    Value a;
    {
      auto s = g.name_scope("attention");
      AttentionWeights w;
      {
        auto s2 = g.name_scope("self");
        auto proj = [&](const char* name, Value& wt, Value& bias) {
          auto s3 = g.name_scope(name);
          wt = weight("w", {c, c});
          bias = var("b", {c}, init::zeros());
        };
        proj("query", w.wq, w.bq);
        proj("key", w.wk, w.bk);
        proj("value", w.wv, w.bv);
      }
      Value ctx = multi_head_attention(x, mask, w, o.heads, o.dropout, o.dropout > 0 ? seed() : 0);
      auto s2 = g.name_scope("output");
      a = layer_norm("LayerNorm", drop(dense("dense", ctx, c)) + x);
    }
    Value h;
    {
      auto s = g.name_scope("intermediate");
      h = gelu(dense("dense", a, o.ffn));
    }
    auto s = g.name_scope("output");
    return layer_norm("LayerNorm", drop(dense("dense", h, c)) + a);
  }
  Value parallel_layer(Value x, Value mask);
};

// The layer split over o.tp (same names, and slices of the same initial values).
Value Builder::parallel_layer(Value x, Value mask) {
  const TensorParallel& tp = o.tp;
  const int64_t c = o.hidden;
  const Initializer w_init = init::truncated_normal(o.init_std);
  Value a;
  {
    auto s = g.name_scope("attention");
    AttentionWeights w;
    {
      auto s2 = g.name_scope("self");
      auto proj = [&](const char* name, Value& wt, Value& bias) {
        auto s3 = g.name_scope(name);
        wt = split_variable(g, "w", {c, c}, 1, w_init, tp, o.dtype);  // (C, C/k): heads r·H/k ...
        bias = split_variable(g, "b", {c}, 0, init::zeros(), tp, o.dtype);
      };
      proj("query", w.wq, w.bq);
      proj("key", w.wk, w.bk);
      proj("value", w.wv, w.bv);
    }
    const int64_t heads = tp.part(o.heads, "bert: attention heads");
    const int64_t sd = o.dropout > 0 ? seed() + 1000003 * tp.rank : 0;
    Value ctx = multi_head_attention(copy_to_parallel(x, tp), mask, w, heads, o.dropout, sd);  // (B, T, C/k)
    auto s2 = g.name_scope("output");
    a = layer_norm("LayerNorm", drop(row_parallel_dense(g, "dense", ctx, c, c, tp, w_init, o.dtype)) + x);
  }
  Value h;
  {
    auto s = g.name_scope("intermediate");
    h = gelu(column_parallel_dense(g, "dense", a, o.ffn, tp, false, w_init, o.dtype));  // (B, T, FFN/k)
  }
  auto s = g.name_scope("output");
  return layer_norm("LayerNorm", drop(row_parallel_dense(g, "dense", h, o.ffn, c, tp, w_init, o.dtype)) + a);
}

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
  Value probs = masked_softmax(scores, reshape(as(mask, x.dtype()), {-1, 1, 1, t}));
  if (p > 0) probs = dropout(probs, p, seed);
  return reshape(transpose(matmul(probs, v), {0, 2, 1, 3}), {-1, t, c});  // (B, T, C)
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
    x = b.drop(b.layer_norm("LayerNorm", x));
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
    h = b.layer_norm("LayerNorm", gelu(b.dense("dense", h, o.hidden)));
  }
  // Decoder tied to the word embeddings: (B·P, C) · (V, C)ᵀ + bias (V).
  m.logits = matmul(h, words, false, true) + b.var("output_bias", {o.vocab}, init::zeros());
  m.labels = reshape(in.masked_labels, {-1});
  m.loss = masked_lm_loss(m.logits, m.labels, reshape(in.masked_weights, {-1}));
  return m;
}

}  // namespace nn
}  // namespace ft
