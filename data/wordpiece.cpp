// wordpiece.cpp — vocab files, BERT basic tokenization and greedy WordPiece splitting.
#include "data/wordpiece.h"

#include <climits>
#include <fstream>
#include <sstream>

#include "core/tensor.h"
#include "data/unicode.h"

namespace ft {
namespace data {

const char* const kSpecialTokens[5] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};

// ---- Vocab ---------------------------------------------------------------------------

Vocab::Vocab(std::vector<std::string> tokens, const std::string& source) : tokens_(std::move(tokens)) {
  if (tokens_.empty()) throw Error(source + ": the vocab is empty");
  if (tokens_.size() > static_cast<size_t>(INT32_MAX))
    throw Error(source + ": " + std::to_string(tokens_.size()) + " tokens, more than ids can number (2^31-1)");
  for (size_t i = 0; i < tokens_.size(); ++i) {
    const std::string& t = tokens_[i];
    if (t.empty()) throw Error(source + ": token " + std::to_string(i) + " (line " + std::to_string(i + 1) + ") is empty");
    auto [it, fresh] = ids_.emplace(t, static_cast<int32_t>(i));
    if (!fresh)
      throw Error(source + ": token '" + t + "' appears twice (lines " + std::to_string(it->second + 1) + " and " +
                  std::to_string(i + 1) + ")");
  }
  int32_t* slots[5] = {&pad_id, &unk_id, &cls_id, &sep_id, &mask_id};
  for (int k = 0; k < 5; ++k) {
    *slots[k] = id(kSpecialTokens[k]);
    if (*slots[k] < 0) throw Error(source + ": missing special token " + kSpecialTokens[k]);
  }
}

Vocab Vocab::load(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw Error("vocab file " + path + ": cannot open");
  std::vector<std::string> tokens;
  std::string line;
  while (std::getline(f, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    tokens.push_back(line);
  }
  return Vocab(std::move(tokens), "vocab file " + path);
}

void Vocab::save(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    if (!f) throw Error("vocab file " + path + ": cannot open for writing");
    for (const std::string& t : tokens_) f << t << '\n';
    if (!f) throw Error("vocab file " + path + ": write failed");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw Error("vocab file " + path + ": cannot rename " + tmp);
}

int32_t Vocab::id(const std::string& token) const {
  auto it = ids_.find(token);
  return it == ids_.end() ? -1 : it->second;
}

const std::string& Vocab::token(int32_t i) const {
  if (i < 0 || i >= size()) throw Error("vocab: id " + std::to_string(i) + " out of range [0, " + std::to_string(size()) + ")");
  return tokens_[static_cast<size_t>(i)];
}

bool Vocab::is_special(int32_t i) const {
  return i == pad_id || i == unk_id || i == cls_id || i == sep_id || i == mask_id;
}

// ---- basic tokenization --------------------------------------------------------------------

// The reference BERT BasicTokenizer: drop NUL, U+FFFD and control characters;
// split on whitespace, and around each CJK ideograph; then per word lower-case,
// decompose (NFD) and drop non-spacing marks, and split off each punctuation
// character.
std::vector<std::string> basic_tokenize(const std::string& text, const TokenizerOptions& opts) {
  namespace u = unicode;
  std::vector<std::string> out;
  std::vector<char32_t> word;
  auto flush = [&] {
    if (word.empty()) return;
    if (opts.lower_case) word = u::to_lower(word);
    if (opts.strip_accents) word = u::strip_accents(word);
    std::string cur;
    for (char32_t c : word) {
      if (u::is_punctuation(c)) {
        if (!cur.empty()) out.push_back(std::move(cur));
        cur.clear();
        u::append_utf8(cur, c);
        out.push_back(std::move(cur));
        cur.clear();
      } else {
        u::append_utf8(cur, c);
      }
    }
    if (!cur.empty()) out.push_back(std::move(cur));
    word.clear();
  };
  for (char32_t c : u::decode(text)) {
    if (c == 0 || c == 0xFFFD || u::is_control(c)) continue;
    if (u::is_whitespace(c)) {
      flush();
    } else if (u::is_cjk(c)) {
      flush();
      word.push_back(c);
      flush();
    } else {
      word.push_back(c);
    }
  }
  flush();
  return out;
}

// ---- WordPiece ---------------------------------------------------------------------------

WordPieceTokenizer::WordPieceTokenizer(Vocab vocab, TokenizerOptions opts) : vocab_(std::move(vocab)), opts_(opts) {
  if (vocab_.size() == 0) throw Error("WordPieceTokenizer: empty vocab");
}

std::vector<std::string> WordPieceTokenizer::split_word(const std::string& word) const {
  // Byte offsets of the code-point boundaries: pieces are cut only there.
  std::vector<size_t> cuts;
  for (size_t i = 0; i < word.size(); ++i)
    if ((static_cast<unsigned char>(word[i]) & 0xC0) != 0x80) cuts.push_back(i);
  cuts.push_back(word.size());
  const size_t chars = cuts.size() - 1;
  if (chars == 0) return {};
  if (chars > static_cast<size_t>(opts_.max_word_chars)) return {kSpecialTokens[1]};

  std::vector<std::string> pieces;
  size_t start = 0;
  while (start < chars) {
    size_t end = chars;
    std::string found;
    for (; end > start; --end) {
      std::string piece = word.substr(cuts[start], cuts[end] - cuts[start]);
      if (start > 0) piece = "##" + piece;
      if (vocab_.contains(piece)) {
        found = std::move(piece);
        break;
      }
    }
    if (found.empty()) return {kSpecialTokens[1]};
    pieces.push_back(std::move(found));
    start = end;
  }
  return pieces;
}

std::vector<std::string> WordPieceTokenizer::tokenize(const std::string& text) const {
  std::vector<std::string> out;
  for (const std::string& w : basic_tokenize(text, opts_))
    for (std::string& p : split_word(w)) out.push_back(std::move(p));
  return out;
}

std::vector<int32_t> WordPieceTokenizer::encode(const std::string& text) const {
  std::vector<int32_t> ids;
  for (const std::string& p : tokenize(text)) ids.push_back(vocab_.id(p));
  return ids;
}

std::string WordPieceTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  for (int32_t i : ids) {
    const std::string& t = vocab_.token(i);
    if (t.size() > 2 && t[0] == '#' && t[1] == '#') {
      out += t.substr(2);
    } else {
      if (!out.empty()) out += ' ';
      out += t;
    }
  }
  return out;
}

std::string read_text_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("text file " + path + ": cannot open (run scripts/fetch_text.sh?)");
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace data
}  // namespace ft
