// vocab_builder.cpp — a simple frequency-based WordPiece vocab from a corpus (see wordpiece.h).
#include <algorithm>
#include <map>
#include <unordered_map>

#include "core/tensor.h"
#include "data/unicode.h"
#include "data/wordpiece.h"

namespace ft {
namespace data {
namespace {

constexpr size_t kMaxPieceChars = 24;

// Sorts (token, score) by score descending, then by token bytes.
std::vector<std::string> ranked(const std::unordered_map<std::string, int64_t>& counts) {
  std::vector<std::pair<std::string, int64_t>> v(counts.begin(), counts.end());
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  std::vector<std::string> out;
  for (auto& p : v) out.push_back(std::move(p.first));
  return out;
}

}  // namespace

Vocab build_vocab(const std::string& corpus, int64_t vocab_size, const TokenizerOptions& opts) {
  std::unordered_map<std::string, int64_t> words;
  for (std::string& w : basic_tokenize(corpus, opts)) ++words[w];
  if (words.empty()) throw Error("build_vocab: the corpus has no words");

  std::unordered_map<std::string, int64_t> chars, inner_chars, pieces;
  for (const auto& [word, count] : words) {
    std::vector<char32_t> cps = unicode::decode(word);
    if (cps.size() > static_cast<size_t>(opts.max_word_chars)) continue;   // [UNK] anyway
    std::vector<std::string> ch(cps.size());
    for (size_t i = 0; i < cps.size(); ++i) {
      unicode::append_utf8(ch[i], cps[i]);
      chars[ch[i]] += count;
      if (i > 0) inner_chars["##" + ch[i]] += count;
    }
    // Prefixes (word-initial pieces) and proper suffixes ("##" pieces) of >= 2 chars.
    std::string prefix;
    for (size_t i = 0; i < cps.size() && i < kMaxPieceChars; ++i) {
      prefix += ch[i];
      if (i >= 1) pieces[prefix] += count * static_cast<int64_t>(i);
    }
    std::string suffix;
    for (size_t i = cps.size(); i-- > 1 && cps.size() - i <= kMaxPieceChars;) {
      suffix = ch[i] + suffix;
      if (cps.size() - i >= 2) pieces["##" + suffix] += count * static_cast<int64_t>(cps.size() - i - 1);
    }
  }

  std::vector<std::string> tokens(kSpecialTokens, kSpecialTokens + 5);
  for (auto& t : ranked(chars)) tokens.push_back(std::move(t));
  // Printable ASCII the corpus lacks (as the tokenizer would normalize it), so
  // that plain punctuation and digits never become [UNK].
  for (char c = 33; c < 127; ++c) {
    if (opts.lower_case && c >= 'A' && c <= 'Z') continue;
    if (!chars.count(std::string(1, c))) tokens.emplace_back(1, c);
  }
  for (auto& t : ranked(inner_chars)) tokens.push_back(std::move(t));
  if (static_cast<int64_t>(tokens.size()) > vocab_size)
    throw Error("build_vocab: vocab_size " + std::to_string(vocab_size) + " cannot hold the 5 special tokens and the " +
                std::to_string(tokens.size() - 5) + " characters (corpus and ASCII) and ##characters");
  for (auto& t : ranked(pieces)) {
    if (static_cast<int64_t>(tokens.size()) >= vocab_size) break;
    tokens.push_back(std::move(t));
  }
  return Vocab(std::move(tokens), "build_vocab");
}

Vocab build_vocab_file(const std::string& corpus_path, const std::string& vocab_path, int64_t vocab_size,
                       const TokenizerOptions& opts) {
  Vocab v = build_vocab(read_text_file(corpus_path), vocab_size, opts);
  v.save(vocab_path);
  return v;
}

}  // namespace data
}  // namespace ft
