// config_fuzzer.cpp — YAML config files through Config::load (train/config.h).
//
// The schema's registered sections come from train/registry.cpp, which links the
// whole zoo; this target defines the two hooks config.cpp calls with a section of
// its own instead (an int list, and a cross-key rule), so the fuzzer covers the
// reader, every key type and the section rules without the models.
#include "fuzz/fuzz_input.h"
#include "train/config.h"

namespace ft {
namespace train {

void register_builtins() {
  register_config_section({"fuzz",
                           {{"model.hidden", KeyType::IntList, "[8, 4]", "", 1, 1e9, "widths"},
                            {"model.heads", KeyType::Int, "2", "", 1, 1024, "heads"},
                            {"model.hidden_size", KeyType::Int, "8", "", 1, 1e6, "size"}},
                           [](const Config& c) {
                             if (c.i("model.hidden_size") % c.i("model.heads") != 0)
                               c.fail("model.heads", "must divide model.hidden_size");
                           }});
}

std::vector<std::string> validate_registered(const Config&) { return {"fuzz"}; }

}  // namespace train
}  // namespace ft

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
