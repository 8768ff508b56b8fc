// unicode.cpp — utf8proc behind the tokenizer's character classes (data/unicode.h).
#include "data/unicode.h"

#include <utf8proc.h>

#include <cstdlib>

namespace ft {
namespace data {
namespace unicode {
namespace {

utf8proc_category_t category(char32_t c) { return utf8proc_category(utf8proc_int32_t(c)); }

bool is_cased_letter(char32_t c) {
  const auto k = category(c);
  return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT ||
         utf8proc_tolower(utf8proc_int32_t(c)) != utf8proc_int32_t(c) ||
         utf8proc_toupper(utf8proc_int32_t(c)) != utf8proc_int32_t(c);
}

// Case-ignorable, as the final-sigma context needs: marks, format characters,
// modifier letters and symbols, and the apostrophe-like punctuation.
bool is_case_ignorable(char32_t c) {
  const auto k = category(c);
  return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_ME || k == UTF8PROC_CATEGORY_CF ||
         k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_SK || c == '\'' || c == '.' || c == ':' ||
         c == 0x00B7 || c == 0x2018 || c == 0x2019 || c == 0x2024 || c == 0x2027;
}

}  // namespace

std::vector<char32_t> decode(const std::string& s) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  utf8proc_ssize_t left = utf8proc_ssize_t(s.size());
  while (left > 0) {
    utf8proc_int32_t cp = 0;
    const utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    if (n < 0) {  // one invalid byte
      out.push_back(0xFFFD);
      ++p;
      --left;
      continue;
    }
    out.push_back(char32_t(cp));
    p += n;
    left -= n;
  }
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  utf8proc_uint8_t buf[4];
  const utf8proc_ssize_t n = utf8proc_encode_char(utf8proc_int32_t(cp), buf);
  if (n <= 0) {
    append_utf8(out, 0xFFFD);
    return;
  }
  out.append(reinterpret_cast<const char*>(buf), size_t(n));
}

bool is_whitespace(char32_t c) {
  // Zl and Zp too: the reference splits its cleaned text with Python's str.split(),
  // which breaks at U+2028 and U+2029 as well.
  const auto k = category(c);
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || k == UTF8PROC_CATEGORY_ZS || k == UTF8PROC_CATEGORY_ZL ||
         k == UTF8PROC_CATEGORY_ZP;
}

bool is_control(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  const auto k = category(c);
  return k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF;
}

bool is_punctuation(char32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
  switch (category(c)) {
    case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS: case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF: case UTF8PROC_CATEGORY_PO:
      return true;
    default:
      return false;
  }
}

bool is_cjk(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

bool is_nonspacing_mark(char32_t c) { return category(c) == UTF8PROC_CATEGORY_MN; }

std::vector<char32_t> to_lower(const std::vector<char32_t>& w) {
  std::vector<char32_t> out;
  out.reserve(w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    const char32_t c = w[i];
    if (c == 0x03A3) {
      // Final sigma: a cased letter before it and none after it (case-ignorables skipped).
      size_t j = i;
      while (j > 0 && is_case_ignorable(w[j - 1])) --j;
      const bool before = j > 0 && is_cased_letter(w[j - 1]);
      j = i + 1;
      while (j < w.size() && is_case_ignorable(w[j])) ++j;
      const bool after = j < w.size() && is_cased_letter(w[j]);
      out.push_back(before && !after ? 0x03C2 : 0x03C3);
    } else if (c == 0x0130) {  // İ lowers to i and a combining dot above (U+0307)
      out.push_back('i');
      out.push_back(0x0307);
    } else {
      out.push_back(char32_t(utf8proc_tolower(utf8proc_int32_t(c))));
    }
  }
  return out;
}

std::vector<char32_t> strip_accents(const std::vector<char32_t>& w) {
  std::string s;
  for (char32_t c : w) append_utf8(s, c);
  utf8proc_uint8_t* nfd = nullptr;
  const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()), utf8proc_ssize_t(s.size()),
                                          &nfd, utf8proc_option_t(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE));
  std::vector<char32_t> out;
  if (n < 0) return w;  // cannot happen for valid code points; leave the word as it is
  for (char32_t c : decode(std::string(reinterpret_cast<const char*>(nfd), size_t(n))))
    if (!is_nonspacing_mark(c)) out.push_back(c);
  std::free(nfd);
  return out;
}

}  // namespace unicode
}  // namespace data
}  // namespace ft
