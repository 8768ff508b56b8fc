// table_fuzzer.cpp — CSV/TSV and libsvm tables through data/tabular.h: the same
// input read as a comma table, a tab table and libsvm lines.
#include <cstdlib>

#include "data/tabular.h"
#include "fuzz/fuzz_input.h"

namespace {

void check_shape(const ft::data::Table& t) {
  if (t.rows < 1 || t.features.empty()) std::abort();
  if (t.x.size() != size_t(t.rows) * t.features.size() || t.line.size() != size_t(t.rows)) std::abort();
  if (!t.y.empty() && t.y.size() != size_t(t.rows)) std::abort();
  if (!t.y_text.empty() && t.y_text.size() != size_t(t.rows)) std::abort();
}

}  // namespace

// A large libsvm index is refused against the memory available; the cap keeps
// that check, not libFuzzer's RSS limit, the one an input meets.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ::setenv("FT_MEMORY_LIMIT_MB", "512", 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ft::data;
  const std::string path = ft::fuzz::write_input("table", data, size, ".csv");
  CsvOptions o;
  o.label = "target";
  for (char delim : {',', '\t'}) {
    o.delimiter = delim;
    try {
      check_shape(read_csv(path, o));
    } catch (const ft::Error& e) {
      ft::fuzz::check_error(e, path);
    }
  }
  try {
    check_shape(read_libsvm(path));
  } catch (const ft::Error& e) {
    ft::fuzz::check_error(e, path);
  }
  return 0;
}
