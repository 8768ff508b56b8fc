// unicode.h — the UTF-8 and character-class helpers the BERT basic tokenizer needs.
//
// A small table-based subset of Unicode, enough for English and Western
// European text: whitespace, control, punctuation and CJK classes, lower-casing
// of Latin/Greek/Cyrillic, and accent stripping of Latin-1/Latin Extended-A.
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
bool is_control(char32_t c);       // Cc/Cf except \t \n \r, plus U+0000 and U+FFFD
bool is_punctuation(char32_t c);
bool is_cjk(char32_t c);
char32_t to_lower(char32_t c);
// The base letter of an accented Latin letter; 0 for a combining mark (drop it);
// the character itself otherwise.
char32_t strip_accent(char32_t c);

}  // namespace unicode
}  // namespace data
}  // namespace ft
