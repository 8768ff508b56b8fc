// metrics.cpp
#include "train/metrics.h"

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/tensor.h"

namespace ft {
namespace train {

MetricsLog::MetricsLog(const std::string& path, bool append) {
  if (path.empty()) return;
  std::filesystem::path p(path);
  std::error_code ec;
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), ec);
  path_ = path;
  f_ = std::fopen(path.c_str(), append ? "a" : "w");
  if (!f_) throw Error(path + ": cannot open metrics file for writing");
}

MetricsLog::~MetricsLog() {
  if (f_) std::fclose(f_);
}

void MetricsLog::write(const nlohmann::json& rec) {
  if (!f_) return;
  std::string s = rec.dump();
  // A full disk (or /dev/full) is an error now, not a metrics file found short later.
  if (std::fprintf(f_, "%s\n", s.c_str()) < 0 || std::fflush(f_) != 0)
    throw Error(path_ + ": cannot write metrics: " + std::strerror(errno));
}

}  // namespace train
}  // namespace ft
