// wordpiece.h — BERT-compatible WordPiece tokenizer, vocab files, and a vocab builder.
//
// Vocab files are BERT's vocab.txt: one token per line, the line number is the
// id, "##x" marks a piece that continues a word. A vocab must hold the special
// tokens [PAD] [UNK] [CLS] [SEP] [MASK].
//
// Tokenizing is two steps, as in BERT:
//  1. basic: drop control characters, optionally lower-case (Latin, Greek,
//     Cyrillic) and strip accents (Latin-1/Latin Extended-A letters to their
//     base letter, combining marks U+0300..U+036F dropped), split on whitespace,
//     and make every punctuation character (ASCII symbols and the Unicode
//     punctuation blocks) and every CJK ideograph a token of its own.
//  2. WordPiece: each word is split greedily, longest match first, into vocab
//     pieces (the first plain, the rest "##"-prefixed); a word with no full
//     split, or longer than max_word_chars characters, becomes [UNK].
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace ft {
namespace data {

// The special tokens, in the order the vocab builder writes them (ids 0..4).
extern const char* const kSpecialTokens[5];   // [PAD] [UNK] [CLS] [SEP] [MASK]

class Vocab {
 public:
  Vocab() = default;
  // Throws ft::Error on an empty or duplicate token or a missing special token;
  // `source` names the origin in messages (a file name).
  explicit Vocab(std::vector<std::string> tokens, const std::string& source = "vocab");
  static Vocab load(const std::string& path);
  void save(const std::string& path) const;

  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  int32_t id(const std::string& token) const;       // -1 when absent
  bool contains(const std::string& token) const { return id(token) >= 0; }
  const std::string& token(int32_t id) const;
  const std::vector<std::string>& tokens() const { return tokens_; }
  bool is_special(int32_t id) const;                 // one of the five special tokens

  int32_t pad_id = -1, unk_id = -1, cls_id = -1, sep_id = -1, mask_id = -1;

 private:
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int32_t> ids_;
};

struct TokenizerOptions {
  bool lower_case = true;
  bool strip_accents = true;
  int max_word_chars = 100;
};

// Step 1 alone: words and punctuation as UTF-8 strings.
std::vector<std::string> basic_tokenize(const std::string& text, const TokenizerOptions& opts = {});

class WordPieceTokenizer {
 public:
  explicit WordPieceTokenizer(Vocab vocab, TokenizerOptions opts = {});

  // One basic token (a word) to its pieces, or {"[UNK]"}.
  std::vector<std::string> split_word(const std::string& word) const;
  std::vector<std::string> tokenize(const std::string& text) const;
  std::vector<int32_t> encode(const std::string& text) const;
  std::string decode(const std::vector<int32_t>& ids) const;   // pieces joined, "##" merged

  const Vocab& vocab() const { return vocab_; }
  const TokenizerOptions& options() const { return opts_; }

 private:
  Vocab vocab_;
  TokenizerOptions opts_;
};

// Builds a WordPiece vocab of exactly `vocab_size` tokens from a corpus (fewer
// only if the corpus has fewer candidates). Simple and frequency-based:
//   1. the five special tokens, ids 0..4;
//   2. every character of the basic-tokenized corpus, most frequent first, then
//      the printable ASCII characters the corpus lacks, then "##c" for every
//      character seen inside a word (so any corpus word can be split and [UNK]
//      is only for over-long words or characters foreign to the corpus);
//   3. the remaining slots go to multi-character pieces ranked by
//      count x (length - 1), the characters they save over a character-level
//      split: word-initial pieces are every prefix of every word (a whole word
//      is its own longest prefix), "##" pieces every proper suffix, each counted
//      once per occurrence of its word; prefixes/suffixes up to 24 characters.
//      Ties break by the piece's bytes, so the result is deterministic.
// Throws ft::Error when the corpus has no words or vocab_size cannot hold the
// specials and characters.
Vocab build_vocab(const std::string& corpus, int64_t vocab_size, const TokenizerOptions& opts = {});
// Reads a UTF-8 text file, builds a vocab and writes it in vocab.txt format.
Vocab build_vocab_file(const std::string& corpus_path, const std::string& vocab_path, int64_t vocab_size,
                       const TokenizerOptions& opts = {});

// Reads a whole text file; throws ft::Error naming the file if it cannot.
std::string read_text_file(const std::string& path);

}  // namespace data
}  // namespace ft
