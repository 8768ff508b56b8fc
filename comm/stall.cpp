// stall.cpp
#include "comm/stall.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace ft {
namespace comm {
namespace {
std::string fmt_seconds(double s) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", s);
  return b;
}
}  // namespace

double monotonic_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

Inflight& Inflight::get() {
  static Inflight* i = new Inflight();
  return *i;
}

void Inflight::begin(int64_t key, const std::string& what) {
  entered_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard<std::mutex> l(mu_);
  m_[key] = Entry{monotonic_s(), what, 0};
}

void Inflight::end(int64_t key) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = m_.find(key);
  if (it == m_.end()) return;
  left_.fetch_add(1, std::memory_order_relaxed);
  m_.erase(it);
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

bool Inflight::oldest(int64_t* key, Entry* e, double* waited) {
  std::lock_guard<std::mutex> l(mu_);
  if (m_.empty()) return false;
  auto it = std::min_element(m_.begin(), m_.end(),
                             [](const auto& a, const auto& b) { return a.second.start_s < b.second.start_s; });
  *key = it->first;
  *e = it->second;
  *waited = monotonic_s() - it->second.start_s;
  return true;
}

StallWatch::StallWatch(int rank, double threshold_s, std::function<std::string(int64_t)> describe,
                       std::function<void(const std::string&)> log,
                       std::function<std::vector<int>(int64_t)> not_arrived)
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

void StallWatch::set_hosts(std::function<std::string(int)> host_of) {
  std::lock_guard<std::mutex> l(mu_);  // the watch thread reads it under mu_
  host_of_ = std::move(host_of);
}

void StallWatch::set_timeout(double timeout_s, std::function<void(const std::string&)> on_timeout) {
  std::lock_guard<std::mutex> l(mu_);
  timeout_ = timeout_s;
  on_timeout_ = std::move(on_timeout);
}

std::string StallWatch::who(const std::vector<int>& ranks) const {
  std::string out = ranks.size() == 1 ? "rank " : "ranks ";
  for (size_t i = 0; i < ranks.size(); ++i) {
    out += (i ? ", " : "") + std::to_string(ranks[i]);
    const std::string h = host_of_ ? host_of_(ranks[i]) : "";
    if (!h.empty()) out += " (" + h + ")";
  }
  return out;
}

void StallWatch::loop() {
  std::unique_lock<std::mutex> l(mu_);
  auto period_for = [](double s) { return std::chrono::milliseconds(std::max(10, std::min(1000, int(s * 250)))); };
  const auto period = period_for(timeout_ > 0 ? std::min(threshold_, timeout_) : threshold_);
  while (!cv_.wait_for(l, period, [this] { return stop_; })) {
    Inflight::get().overdue(threshold_, [&](int64_t key, const Inflight::Entry& e, double waited) {
      char head[160];
      std::snprintf(head, sizeof(head), "stall: rank %d has waited %.1f s on %s", rank_, waited, e.what.c_str());
      std::vector<int> missing = not_arrived_ ? not_arrived_(key) : std::vector<int>{};
      std::string line = std::string(head) + " [" + describe_(key) + "]; " +
                         (missing.empty() ? "ranks that have not arrived are those not reporting this bucket"
                                          : "not arrived: " + who(missing));
      ++warnings_;
      log_(line);
    });
    int64_t key = 0;
    Inflight::Entry e;
    double waited = 0;
    std::vector<int> missing;
    // A rank that can name the missing ranks ends the job at the timeout; one
    // that cannot waits a little longer (up to 2 s), so that the line naming
    // them is the one printed.
    if (timeout_ > 0 && !timed_out_ && on_timeout_ && Inflight::get().oldest(&key, &e, &waited) &&
        waited >= timeout_ &&
        (!(missing = not_arrived_ ? not_arrived_(key) : std::vector<int>{}).empty() ||
         waited >= timeout_ + std::min(2.0, timeout_))) {
      timed_out_ = true;
      const std::string here = host_of_ ? host_of_(rank_) : "";
      char head[200];
      std::snprintf(head, sizeof(head), "stall timeout: rank %d%s has waited %.1f s on %s", rank_,
                    here.empty() ? "" : (" (" + here + ")").c_str(), waited, e.what.c_str());
      on_timeout_(std::string(head) + " [" + describe_(key) + "], past distributed.stall_timeout_s = " +
                  fmt_seconds(timeout_) + "; " +
                  (missing.empty() ? "the ranks not reporting a stall are the ones missing" : "not arrived: " + who(missing)) +
                  "; ending the job");
    }
  }
}

}  // namespace comm
}  // namespace ft
