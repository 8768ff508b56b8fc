// vocab_fuzzer.cpp — vocab.txt files through Vocab::load and the WordPiece
// tokenizer built on them (data/wordpiece.h).
#include "data/wordpiece.h"
#include "fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ft::data;
  const std::string path = ft::fuzz::write_input("vocab", data, size, ".txt");
  try {
    Vocab v = Vocab::load(path);
    WordPieceTokenizer tok(v);
    // The vocab's own text, tokenized and decoded, exercises every piece.
    const std::string text(reinterpret_cast<const char*>(data), size);
    std::vector<int32_t> ids = tok.encode(text);
    for (int32_t id : ids)
      if (id < 0 || id >= v.size()) std::abort();
    tok.decode(ids);
  } catch (const ft::Error& e) {
    ft::fuzz::check_error(e, path);
  }
  return 0;
}
