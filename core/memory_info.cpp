// memory_info.cpp
#include "core/memory_info.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace ft {
namespace {

size_t read_meminfo_available() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  size_t kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  return SIZE_MAX;
}

// cgroup v2: memory.max - memory.current of this process's group, when limited.
size_t read_cgroup_headroom() {
  std::ifstream cg("/proc/self/cgroup");
  std::string line, path;
  while (std::getline(cg, line))
    if (line.rfind("0::", 0) == 0) path = line.substr(3);
  if (path.empty()) return SIZE_MAX;
  const std::string base = "/sys/fs/cgroup" + path;
  std::ifstream mx(base + "/memory.max"), cur(base + "/memory.current");
  std::string max_text;
  size_t current = 0;
  if (!(mx >> max_text) || max_text == "max" || !(cur >> current)) return SIZE_MAX;
  const size_t limit = std::strtoull(max_text.c_str(), nullptr, 10);
  return limit > current ? limit - current : 0;
}

}  // namespace

size_t available_memory_bytes() {
  if (const char* s = std::getenv("FT_MEMORY_LIMIT_MB")) return size_t(std::strtoull(s, nullptr, 10)) << 20;
  const size_t a = read_meminfo_available(), b = read_cgroup_headroom();
  return a < b ? a : b;
}

std::string human_bytes(double bytes) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB", "PB", "EB"};
  int u = 0;
  while (bytes >= 1000 && u < 6) {
    bytes /= 1000;
    ++u;
  }
  char b[32];
  std::snprintf(b, sizeof(b), u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return b;
}

}  // namespace ft
