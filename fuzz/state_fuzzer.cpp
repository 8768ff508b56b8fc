// state_fuzzer.cpp — a checkpoint's state.json through TrainState::parse (train/state.h).
#include "fuzz/fuzz_input.h"
#include "train/state.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = ft::fuzz::write_input("state", data, size, ".json");
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const ft::train::TrainState s = ft::train::TrainState::parse(text, path);
    // What parse accepts is in range and writes back to an equal state.
    const ft::train::TrainState back = ft::train::TrainState::parse(s.to_json(), path);
    if (back.step != s.step || back.data_index != s.data_index || back.optimizer_step != s.optimizer_step) __builtin_trap();
  } catch (const ft::Error& e) {
    ft::fuzz::check_error(e, path);
  }
  return 0;
}
