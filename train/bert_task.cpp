// bert_task.cpp — the BERT masked-LM task of the train program: data from
// <data.dir>/corpus.txt (vocab from data.vocab, or built to model.vocab_size),
// and the model (nn/bert.h) with its loss over the masked positions.
#include <cmath>

#include "data/mlm.h"
#include "nn/bert.h"
#include "train/model.h"

namespace ft {
namespace train {

TaskData load_bert_data(const Config& c) {
  data::MlmOptions mo;
  mo.seq_len = c.i("data.seq_len");
  mo.max_predictions = c.i("data.max_predictions");
  mo.mask_prob = c.f("data.mask_prob");
  mo.seed = uint64_t(c.i("train.seed"));
  if (mo.seq_len > c.i("model.max_seq"))
    throw Error(c.where("data.seq_len") + ": key 'data.seq_len' = " + std::to_string(mo.seq_len) +
                " exceeds model.max_seq = " + std::to_string(c.i("model.max_seq")));
  const std::string corpus = c.s("data.dir") + "/corpus.txt";
  data::MlmCorpus mc = data::load_mlm_corpus(corpus, c.s("data.vocab"), c.i("model.vocab_size"), mo,
                                             c.f("data.eval_fraction"));
  if (mc.vocab.size() > c.i("model.vocab_size"))
    throw Error(c.where("model.vocab_size") + ": key 'model.vocab_size' = " + std::to_string(c.i("model.vocab_size")) +
                " is smaller than the " + std::to_string(mc.vocab.size()) + " tokens of " + c.s("data.vocab"));
  // A vocab that matches none of the corpus's words gives sequences of [UNK] with
  // nothing to predict: the loss would be a silent 0.
  const auto predictions = [](const data::MlmExamples& ex) {
    double n = 0;
    const float* w = ex.masked_weights.data<float>();
    for (int64_t i = 0; i < ex.masked_weights.numel(); ++i) n += w[i];
    return int64_t(n);
  };
  if (predictions(mc.train) == 0 || predictions(mc.eval) == 0)
    throw Error(corpus + ": no token to predict in the " + std::string(predictions(mc.train) == 0 ? "training" : "eval") +
                " split with vocab " + (c.s("data.vocab").empty() ? std::string("built from the corpus") : c.s("data.vocab")) +
                " (does the vocab match the corpus's words? every token is [UNK] or special)");
  TaskData d;
  d.train = mc.train.columns();
  d.eval = mc.eval.columns();
  d.vocab_size = mc.vocab.size();
  d.describe = mc.describe;
  return d;
}

Model build_bert(Graph& g, const Config& c, const TaskData& data, const nn::TensorParallel& tp) {
  nn::BertOptions o;
  o.layers = c.i("model.layers");
  o.hidden = c.i("model.hidden_size");
  o.heads = c.i("model.heads");
  o.ffn = c.i("model.ffn");
  o.vocab = c.i("model.vocab_size");  // the table may have more rows than a built vocab has tokens
  o.max_seq = c.i("model.max_seq");
  o.dropout = c.f("model.dropout");
  o.init_std = c.f("model.init_std");
  o.tp = tp;  // model_parallel > 1: heads and FFN split over the group (nn/parallel.h)
  if (o.hidden % o.heads != 0)
    throw Error(c.where("model.heads") + ": key 'model.heads' = " + std::to_string(o.heads) +
                " does not divide model.hidden_size = " + std::to_string(o.hidden));
  if (data.vocab_size > o.vocab)
    throw Error(c.where("model.vocab_size") + ": key 'model.vocab_size' = " + std::to_string(o.vocab) +
                " is smaller than the data's vocabulary of " + std::to_string(data.vocab_size));
  nn::BertInputs in = nn::bert_placeholders(g, c.i("data.seq_len"), c.i("data.max_predictions"));
  nn::BertMlm b = nn::bert_mlm(g, in, o);
  Model m;
  m.task = "mlm";
  m.inputs = in.all();  // the order of data::MlmExamples::columns()
  m.logits = b.logits;
  m.labels = b.labels;
  m.loss = b.loss;
  return m;
}

}  // namespace train
}  // namespace ft
