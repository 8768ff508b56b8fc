// metrics.h — the metrics log: one JSON object per line, flushed per record.
#pragma once

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

namespace ft {
namespace train {

class MetricsLog {
 public:
  MetricsLog() = default;
  explicit MetricsLog(const std::string& path, bool append = false);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;
  void write(const nlohmann::json& rec);
  bool enabled() const { return f_ != nullptr; }

 private:
  std::FILE* f_ = nullptr;
  std::string path_;
};

}  // namespace train
}  // namespace ft
