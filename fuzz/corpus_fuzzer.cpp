// corpus_fuzzer.cpp — text corpus files through load_mlm_corpus (data/mlm.h):
// reading, sentence splitting, vocab building, WordPiece encoding, packing and
// masking into MLM examples.
#include "data/mlm.h"
#include "fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ft::data;
  const std::string path = ft::fuzz::write_input("corpus", data, size, ".txt");
  MlmOptions o;
  o.seq_len = 16;
  o.max_predictions = 3;
  try {
    MlmCorpus c = load_mlm_corpus(path, "", 400, o, 0.25);
    const int64_t V = c.vocab.size();
    for (const MlmExamples* ex : {&c.train, &c.eval}) {
      const auto ids = ex->input_ids.to_vector<int32_t>();
      for (int32_t id : ids)
        if (id < 0 || id >= V) std::abort();
      const auto pos = ex->masked_positions.to_vector<int32_t>();
      for (int32_t p : pos)
        if (p < 0 || p >= o.seq_len) std::abort();
    }
  } catch (const ft::Error& e) {
    ft::fuzz::check_error(e, path);
  }
  return 0;
}
