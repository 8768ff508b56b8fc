// safetensors_fuzzer.cpp — safetensors files through load_safetensors (train/safetensors.h).
#include <cstring>

#include "fuzz/fuzz_input.h"
#include "train/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = ft::fuzz::write_input("safetensors", data, size, ".safetensors");
  try {
    std::map<std::string, std::string> md;
    ft::train::TensorMap m = ft::train::load_safetensors(path, &md);
    // Every tensor's storage holds what its shape says: touch the last byte.
    for (const auto& kv : m) {
      const ft::Tensor& t = kv.second;
      if (t.bytes()) {
        volatile char last = static_cast<const char*>(t.raw())[t.bytes() - 1];
        (void)last;
      }
    }
  } catch (const ft::Error& e) {
    ft::fuzz::check_error(e, path);
  }
  return 0;
}
