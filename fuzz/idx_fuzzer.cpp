// idx_fuzzer.cpp — IDX files through read_idx_u8 and load_idx_dataset (data/idx.h).
//
// The input is an image file (3 dims); when it reads, a label file of the same
// count is written beside it and the pair is loaded as a dataset. The input is
// also read as a label file (1 dim).
#include "data/idx.h"
#include "fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ft::data;
  const std::string path = ft::fuzz::write_input("idx", data, size);
  for (int ndim : {1, 3}) {
    try {
      IdxArray a = read_idx_u8(path, ndim);
      if (ndim == 3 && a.dims[0] <= (1 << 16)) {
        const std::string labels = path + ".labels";
        write_idx_u8(labels, {a.dims[0]}, std::vector<uint8_t>(static_cast<size_t>(a.dims[0]), 1));
        try {
          Dataset ds = load_idx_dataset(path, labels);
          if (ds.images.numel() != static_cast<int64_t>(a.values.size())) std::abort();
        } catch (const ft::Error& e) {
          ft::fuzz::check_error(e, path);
        }
      }
    } catch (const ft::Error& e) {
      ft::fuzz::check_error(e, path);
    }
  }
  return 0;
}
