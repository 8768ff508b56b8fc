// mlm.h — masked-language-model examples for BERT pre-training from a text corpus.
//
// 1. Sentences: the corpus is cut into paragraphs at blank lines and each
//    paragraph into sentences after '.', '!' or '?' (plus closing quotes or
//    brackets) followed by whitespace; each sentence is WordPiece-encoded and
//    empty ones are dropped.
// 2. Packing: consecutive sentences (in corpus order) are gathered into a chunk
//    until it holds at least seq_len - 3 tokens. With two_segments, a chunk of
//    two or more sentences is cut at a seeded random sentence boundary into A and
//    B: [CLS] A [SEP] B [SEP]; otherwise [CLS] A [SEP]. When too long, the longer
//    of A and B loses tokens from its end. The rest is [PAD].
// 3. Masking: for each sequence, num = min(max_predictions, max(1, round(mask_prob
//    x candidates))) positions are drawn among its non-special tokens; each becomes
//    [MASK] with probability 0.8, a random non-special token with 0.1, and stays
//    unchanged with 0.1. The draws for sequence i use Rng(seed, i) only, so a
//    sequence's masking does not depend on the others.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "data/wordpiece.h"

namespace ft {
namespace data {

struct MlmOptions {
  int64_t seq_len = 128;          // T
  int64_t max_predictions = 20;   // P
  double mask_prob = 0.15;
  uint64_t seed = 0;
  bool two_segments = true;
};

// N sequences of T tokens with P prediction slots each.
struct MlmExamples {
  Tensor input_ids;          // (N, T) i32, after masking
  Tensor segment_ids;        // (N, T) i32: 0 for [CLS] A [SEP] and padding, 1 for B [SEP]
  Tensor attention_mask;     // (N, T) f32: 1 for tokens, 0 for [PAD]
  Tensor masked_positions;   // (N, P) i32 positions in [0, T) in increasing order; 0 in unused slots
  Tensor masked_labels;      // (N, P) i32 original token ids; -1 in unused slots
  Tensor masked_weights;     // (N, P) f32: 1 for used slots, 0 for unused

  int64_t size() const { return input_ids.defined() && input_ids.rank() == 2 ? input_ids.dim(0) : 0; }
  // The six tensors in the order above (for BatchLoader / EvalIterator).
  std::vector<Tensor> columns() const {
    return {input_ids, segment_ids, attention_mask, masked_positions, masked_labels, masked_weights};
  }
};

// Step 1 without encoding: the corpus's sentences, whitespace-normalized.
std::vector<std::string> split_sentences(const std::string& text);

// Steps 2-3 from already encoded sentences.
MlmExamples create_mlm_examples(const std::vector<std::vector<int32_t>>& sentences, const Vocab& vocab,
                                const MlmOptions& opts);
// Steps 1-3 from corpus text. Throws ft::Error when the text has no tokens.
MlmExamples create_mlm_examples(const std::string& text, const WordPieceTokenizer& tokenizer, const MlmOptions& opts);

// Rows [begin, end) of every tensor, copied.
MlmExamples slice_examples(const MlmExamples& ex, int64_t begin, int64_t end);

// Everything a BERT run needs from a corpus file.
struct MlmCorpus {
  Vocab vocab;
  MlmExamples train, eval;   // eval = the last eval_fraction of the sequences (at least 1)
  std::string describe;      // one line for logs
};

// Reads corpus_path (UTF-8 text), loads vocab_path (BERT vocab.txt) or, when it
// is empty, builds a vocab of vocab_size tokens from the corpus (deterministic),
// then creates the masked examples and splits off the last eval_fraction of them.
MlmCorpus load_mlm_corpus(const std::string& corpus_path, const std::string& vocab_path, int64_t vocab_size,
                          const MlmOptions& opts, double eval_fraction = 0.05);

}  // namespace data
}  // namespace ft
