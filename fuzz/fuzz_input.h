// fuzz_input.h — what the libFuzzer targets share: the input as a file, and the
// check that a rejected input is one ft::Error line naming that file.
//
// The readers under test take paths, so each input is written to a per-process
// file first. Any other exception, a crash, a sanitizer report or an error that
// does not name the file is a finding.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/tensor.h"

namespace ft {
namespace fuzz {

// Writes the input to /tmp/ft_fuzz_<name>_<pid>[suffix] and returns the path;
// the file (and its ".labels" companion) is removed when the process exits.
inline std::string write_input(const char* name, const uint8_t* data, size_t size, const char* suffix = "") {
  static std::string* path = nullptr;
  if (!path) {
    path = new std::string(std::string("/tmp/ft_fuzz_") + name + "_" + std::to_string(::getpid()) + suffix);
    std::atexit([] {
      std::remove(path->c_str());
      std::remove((*path + ".labels").c_str());
    });
  }
  FILE* f = std::fopen(path->c_str(), "wb");
  if (!f) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return *path;
}

// An expected rejection: the message must name the file.
inline void check_error(const Error& e, const std::string& path) {
  const std::string m = e.what();
  if (m.find(path) == std::string::npos) {
    std::fprintf(stderr, "ft::Error does not name the file %s: %s\n", path.c_str(), m.c_str());
    std::abort();
  }
}

}  // namespace fuzz
}  // namespace ft
