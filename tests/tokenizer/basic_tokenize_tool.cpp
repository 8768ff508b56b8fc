// basic_tokenize_tool.cpp — each stdin line's BERT basic tokens, tab-separated
// (tests/tokenizer/bert_basic_reference.py compares them with the reference).
#include <iostream>
#include <string>

#include "data/wordpiece.h"

int main() {
  std::string line;
  while (std::getline(std::cin, line)) {
    const auto toks = ft::data::basic_tokenize(line);
    for (size_t i = 0; i < toks.size(); ++i) std::cout << (i ? "\t" : "") << toks[i];
    std::cout << "\n";
  }
  return 0;
}
