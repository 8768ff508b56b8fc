// unicode.h — the Unicode the BERT basic tokenizer needs, from utf8proc (Debian
// libutf8proc-dev): general categories, simple lower-casing, and the canonical
// decomposition (NFD) whose non-spacing marks (Mn) are dropped to strip accents.
//
// The classes follow the reference BERT tokenizer (google-research/bert,
// tokenization.py): whitespace is space, \t, \n, \r and categories Zs, Zl, Zp; control is
// category Cc or Cf (\t, \n and \r are whitespace instead); punctuation is any
// ASCII symbol (33–47, 58–64, 91–96, 123–126) or a category P*; CJK is the
// CJK Unified Ideographs blocks and their extensions and compatibility forms.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ft {
namespace data {
namespace unicode {

// Decodes UTF-8; invalid bytes become U+FFFD.
std::vector<char32_t> decode(const std::string& s);
void append_utf8(std::string& out, char32_t cp);

bool is_whitespace(char32_t c);
bool is_control(char32_t c);
bool is_punctuation(char32_t c);
bool is_cjk(char32_t c);
bool is_nonspacing_mark(char32_t c);  // category Mn
// Lower case of a word, as Python's str.lower(): each letter's lower-case
// mapping, and a capital sigma that ends a word becomes final sigma (ς).
std::vector<char32_t> to_lower(const std::vector<char32_t>& word);
// The canonical decomposition (NFD) with the non-spacing marks removed.
std::vector<char32_t> strip_accents(const std::vector<char32_t>& word);

}  // namespace unicode
}  // namespace data
}  // namespace ft
