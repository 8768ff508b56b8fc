// mlm.cpp — sentence splitting, sequence packing and 80/10/10 masking for BERT MLM.
#include "data/mlm.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "data/rng.h"

namespace ft {
namespace data {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Bytes that may follow a sentence end before the space: quotes (ASCII and the
// UTF-8 continuation bytes of ’ ” ), closing brackets.
bool is_closer(unsigned char c) { return c == '"' || c == '\'' || c == ')' || c == ']' || c >= 0x80; }

void check_options(const MlmOptions& o) {
  if (o.seq_len < 5) throw Error("create_mlm_examples: seq_len must be >= 5, got " + std::to_string(o.seq_len));
  if (o.max_predictions < 1 || o.max_predictions > o.seq_len)
    throw Error("create_mlm_examples: max_predictions must be in [1, seq_len], got " + std::to_string(o.max_predictions));
  if (!(o.mask_prob > 0.0 && o.mask_prob <= 1.0))
    throw Error("create_mlm_examples: mask_prob must be in (0, 1], got " + std::to_string(o.mask_prob));
}

using SentenceIt = std::vector<const std::vector<int32_t>*>::const_iterator;

std::vector<int32_t> concat(SentenceIt first, SentenceIt last) {
  std::vector<int32_t> out;
  for (; first != last; ++first) out.insert(out.end(), (*first)->begin(), (*first)->end());
  return out;
}

}  // namespace

std::vector<std::string> split_sentences(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    while (!cur.empty() && cur.back() == ' ') cur.pop_back();
    if (!cur.empty()) out.push_back(cur);
    cur.clear();
  };
  const size_t n = text.size();
  for (size_t i = 0; i < n; ++i) {
    const char c = text[i];
    if (is_space(c)) {
      // A blank line ends the paragraph (and the sentence).
      size_t j = i, newlines = 0;
      while (j < n && is_space(text[j])) newlines += text[j++] == '\n';
      if (newlines >= 2) flush();
      else if (!cur.empty()) cur += ' ';
      i = j - 1;
      continue;
    }
    cur += c;
    if (c == '.' || c == '!' || c == '?') {
      size_t j = i + 1;
      while (j < n && is_closer(static_cast<unsigned char>(text[j])) && !is_space(text[j])) cur += text[j++];
      i = j - 1;
      if (j >= n || is_space(text[j])) flush();
    }
  }
  flush();
  return out;
}

MlmExamples create_mlm_examples(const std::vector<std::vector<int32_t>>& sentences_in, const Vocab& vocab,
                                const MlmOptions& opts) {
  check_options(opts);
  std::vector<const std::vector<int32_t>*> sentences;
  for (const auto& s : sentences_in)
    if (!s.empty()) sentences.push_back(&s);
  if (sentences.empty()) throw Error("create_mlm_examples: the corpus has no tokens");

  const int64_t T = opts.seq_len, P = opts.max_predictions;
  const int64_t target = T - 3;
  Rng pack_rng(opts.seed, 0xB0A7ull);

  std::vector<int32_t> ids, seg;
  std::vector<float> att;
  std::vector<int32_t> mpos, mlab;
  std::vector<float> mw;
  int64_t n = 0;

  for (size_t i = 0; i < sentences.size();) {
    std::vector<const std::vector<int32_t>*> chunk;
    int64_t len = 0;
    while (i < sentences.size() && len < target) {
      chunk.push_back(sentences[i]);
      len += static_cast<int64_t>(sentences[i]->size());
      ++i;
    }
    size_t a_end = chunk.size();
    if (opts.two_segments && chunk.size() >= 2) a_end = 1 + pack_rng.below(chunk.size() - 1);
    const SentenceIt cut = chunk.cbegin() + static_cast<std::ptrdiff_t>(a_end);
    std::vector<int32_t> a = concat(chunk.cbegin(), cut), b = concat(cut, chunk.cend());
    const int64_t room = b.empty() ? T - 2 : T - 3;
    while (static_cast<int64_t>(a.size() + b.size()) > room) (a.size() >= b.size() ? a : b).pop_back();

    // Sequence n: [CLS] A [SEP] (B [SEP]) [PAD]...
    std::vector<int32_t> row{vocab.cls_id}, srow{0};
    for (int32_t t : a) row.push_back(t), srow.push_back(0);
    row.push_back(vocab.sep_id), srow.push_back(0);
    if (!b.empty()) {
      for (int32_t t : b) row.push_back(t), srow.push_back(1);
      row.push_back(vocab.sep_id), srow.push_back(1);
    }
    const size_t used = row.size();
    row.resize(static_cast<size_t>(T), vocab.pad_id);
    srow.resize(static_cast<size_t>(T), 0);

    // Masking.
    Rng rng(opts.seed, static_cast<uint64_t>(n) + 1);
    std::vector<int32_t> cand;
    for (size_t p = 0; p < used; ++p)
      if (!vocab.is_special(row[p])) cand.push_back(static_cast<int32_t>(p));
    const int64_t want = std::llround(static_cast<double>(cand.size()) * opts.mask_prob);
    const size_t num = std::min<size_t>({static_cast<size_t>(P), cand.size(), static_cast<size_t>(std::max<int64_t>(1, want))});
    rng.shuffle(cand);
    cand.resize(num);
    std::sort(cand.begin(), cand.end());
    for (size_t k = 0; k < static_cast<size_t>(P); ++k) {
      if (k < num) {
        const int32_t p = cand[k];
        mpos.push_back(p);
        mlab.push_back(row[static_cast<size_t>(p)]);
        mw.push_back(1.0f);
        const double r = rng.uniform();
        if (r < 0.8) {
          row[static_cast<size_t>(p)] = vocab.mask_id;
        } else if (r < 0.9) {
          int32_t t;
          do t = static_cast<int32_t>(rng.below(static_cast<uint64_t>(vocab.size()))); while (vocab.is_special(t));
          row[static_cast<size_t>(p)] = t;
        }
      } else {
        mpos.push_back(0);
        mlab.push_back(-1);
        mw.push_back(0.0f);
      }
    }
    ids.insert(ids.end(), row.begin(), row.end());
    seg.insert(seg.end(), srow.begin(), srow.end());
    for (int64_t p = 0; p < T; ++p) att.push_back(p < static_cast<int64_t>(used) ? 1.0f : 0.0f);
    ++n;
  }

  MlmExamples ex;
  ex.input_ids = Tensor::from<int32_t>({n, T}, ids);
  ex.segment_ids = Tensor::from<int32_t>({n, T}, seg);
  ex.attention_mask = Tensor::from<float>({n, T}, att);
  ex.masked_positions = Tensor::from<int32_t>({n, P}, mpos);
  ex.masked_labels = Tensor::from<int32_t>({n, P}, mlab);
  ex.masked_weights = Tensor::from<float>({n, P}, mw);
  return ex;
}

MlmExamples create_mlm_examples(const std::string& text, const WordPieceTokenizer& tokenizer, const MlmOptions& opts) {
  check_options(opts);
  std::vector<std::vector<int32_t>> sentences;
  for (const std::string& s : split_sentences(text)) sentences.push_back(tokenizer.encode(s));
  return create_mlm_examples(sentences, tokenizer.vocab(), opts);
}

MlmExamples slice_examples(const MlmExamples& ex, int64_t begin, int64_t end) {
  if (begin < 0 || end > ex.size() || begin >= end)
    throw Error("slice_examples: rows [" + std::to_string(begin) + ", " + std::to_string(end) + ") of " +
                std::to_string(ex.size()) + " examples");
  auto rows = [&](const Tensor& t) {
    Shape s = t.shape();
    s[0] = end - begin;
    Tensor out = Tensor::empty(s, t.dtype());
    const size_t row = t.bytes() / static_cast<size_t>(t.dim(0));
    std::memcpy(out.raw(), static_cast<const char*>(t.raw()) + static_cast<size_t>(begin) * row, out.bytes());
    return out;
  };
  MlmExamples o;
  o.input_ids = rows(ex.input_ids);
  o.segment_ids = rows(ex.segment_ids);
  o.attention_mask = rows(ex.attention_mask);
  o.masked_positions = rows(ex.masked_positions);
  o.masked_labels = rows(ex.masked_labels);
  o.masked_weights = rows(ex.masked_weights);
  return o;
}

MlmCorpus load_mlm_corpus(const std::string& corpus_path, const std::string& vocab_path, int64_t vocab_size,
                          const MlmOptions& opts, double eval_fraction) {
  if (!(eval_fraction >= 0.0 && eval_fraction < 1.0))
    throw Error("load_mlm_corpus: eval_fraction must be in [0, 1), got " + std::to_string(eval_fraction));
  const std::string text = read_text_file(corpus_path);
  MlmCorpus c;
  if (vocab_path.empty()) {
    try {
      c.vocab = build_vocab(text, vocab_size);
    } catch (const Error& e) {
      throw Error(corpus_path + ": " + e.what());
    }
  } else {
    c.vocab = Vocab::load(vocab_path);
  }
  WordPieceTokenizer tok(c.vocab);
  MlmExamples all;
  try {
    all = create_mlm_examples(text, tok, opts);
  } catch (const Error& e) {
    throw Error(corpus_path + ": " + e.what());
  }
  const int64_t n = all.size();
  if (n < 2) throw Error(corpus_path + ": only " + std::to_string(n) + " sequence(s); need 2 to split train/eval");
  const int64_t n_eval = std::min<int64_t>(n - 1, std::max<int64_t>(1, std::llround(n * eval_fraction)));
  c.train = slice_examples(all, 0, n - n_eval);
  c.eval = slice_examples(all, n - n_eval, n);
  c.describe = "corpus " + corpus_path + ": " + std::to_string(c.train.size()) + " train / " +
               std::to_string(c.eval.size()) + " eval sequences of " + std::to_string(opts.seq_len) +
               " tokens, vocab " + std::to_string(c.vocab.size()) +
               (vocab_path.empty() ? " (built from the corpus)" : " from " + vocab_path);
  return c;
}

}  // namespace data
}  // namespace ft
