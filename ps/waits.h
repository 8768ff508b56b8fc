// waits.h — small thread-safe waiting helpers for completion callbacks that run
// on the comm thread: a counter of operations in flight and a queue of arrivals.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>

namespace ft {
namespace ps {

// Operations in flight: add() before starting one, done() from its callback.
class InFlight {
 public:
  void add(int n = 1) {
    std::lock_guard<std::mutex> l(mu_);
    n_ += n;
  }
  void done() {
    { std::lock_guard<std::mutex> l(mu_); --n_; }
    cv_.notify_all();
  }
  int count() {
    std::lock_guard<std::mutex> l(mu_);
    return n_;
  }
  // True when none is left, false after `seconds` with some still in flight.
  bool wait(double seconds) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, std::chrono::duration<double>(seconds), [&] { return n_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int n_ = 0;
};

// A FIFO of integers (e.g. which worker's message arrived).
class Inbox {
 public:
  void put(int v) {
    { std::lock_guard<std::mutex> l(mu_); q_.push_back(v); }
    cv_.notify_one();
  }
  // False when nothing arrived within `seconds`.
  bool take(int* v, double seconds) {
    std::unique_lock<std::mutex> l(mu_);
    if (!cv_.wait_for(l, std::chrono::duration<double>(seconds), [&] { return !q_.empty(); })) return false;
    *v = q_.front();
    q_.pop_front();
    return true;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<int> q_;
};

}  // namespace ps
}  // namespace ft
