// stall.cpp
#include "comm/stall.h"

#include <chrono>
#include <cstdio>

namespace ft {
namespace comm {

double monotonic_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

Inflight& Inflight::get() {
  static Inflight* i = new Inflight();
  return *i;
}

void Inflight::begin(int64_t key, const std::string& what) {
  std::lock_guard<std::mutex> l(mu_);
  m_[key] = Entry{monotonic_s(), what, 0};
}

void Inflight::end(int64_t key) {
  std::lock_guard<std::mutex> l(mu_);
  m_.erase(key);
}

void Inflight::overdue(double after_s, const std::function<void(int64_t, const Entry&, double)>& f) {
  std::lock_guard<std::mutex> l(mu_);
  const double now = monotonic_s();
  for (auto& kv : m_) {
    double waited = now - kv.second.start_s;
    if (waited >= after_s * (kv.second.warned + 1)) {
      ++kv.second.warned;
      f(kv.first, kv.second, waited);
    }
  }
}

StallWatch::StallWatch(int rank, double threshold_s, std::function<std::string(int64_t)> describe,
                       std::function<void(const std::string&)> log, std::function<std::vector<int>()> not_arrived)
    : rank_(rank),
      threshold_(threshold_s),
      describe_(std::move(describe)),
      log_(std::move(log)),
      not_arrived_(std::move(not_arrived)) {
  thread_ = std::thread([this] { loop(); });
}

StallWatch::~StallWatch() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void StallWatch::loop() {
  std::unique_lock<std::mutex> l(mu_);
  const auto period = std::chrono::milliseconds(std::max(10, std::min(1000, int(threshold_ * 250))));
  while (!cv_.wait_for(l, period, [this] { return stop_; })) {
    Inflight::get().overdue(threshold_, [&](int64_t key, const Inflight::Entry& e, double waited) {
      char head[160];
      std::snprintf(head, sizeof(head), "stall: rank %d has waited %.1f s on %s", rank_, waited, e.what.c_str());
      std::vector<int> missing = not_arrived_ ? not_arrived_() : std::vector<int>{};
      std::string who;
      for (size_t i = 0; i < missing.size(); ++i) who += (i ? ", " : "") + std::to_string(missing[i]);
      std::string line = std::string(head) + " [" + describe_(key) + "]; " +
                         (missing.empty() ? "ranks that have not arrived are those not reporting this bucket"
                                          : (missing.size() == 1 ? "not arrived: rank " : "not arrived: ranks ") + who);
      ++warnings_;
      log_(line);
    });
  }
}

}  // namespace comm
}  // namespace ft
