// config_fuzzer.cpp — YAML config files through Config::load (train/config.h).
#include "fuzz/fuzz_input.h"
#include "train/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = ft::fuzz::write_input("config", data, size, ".yaml");
  try {
    ft::train::Config c = ft::train::Config::load(path);
    // The accepted values read back through the typed getters.
    for (const auto& k : ft::train::schema()) {
      switch (k.type) {
        case ft::train::KeyType::Int: c.i(k.key); break;
        case ft::train::KeyType::Float: c.f(k.key); break;
        case ft::train::KeyType::Bool: c.b(k.key); break;
        case ft::train::KeyType::String: c.s(k.key); break;
        case ft::train::KeyType::IntList: c.ints(k.key); break;
      }
    }
  } catch (const ft::Error& e) {
    ft::fuzz::check_error(e, path);
  }
  return 0;
}
