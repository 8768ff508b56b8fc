// thread_pool.cpp
#include "core/thread_pool.h"

#include <algorithm>
#include <memory>

namespace ft {

ThreadPool::ThreadPool(int threads) : threads_(std::max(1, threads)) {
  for (int i = 1; i < threads_; ++i) workers_.emplace_back([this] { worker(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::submit(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> l(mu_);
    q_.push_back(std::move(task));
  }
  cv_.notify_all();
}

void ThreadPool::notify() {
  // Under the lock: a waiter whose predicate this wakes returns only after the
  // lock is released, so a pool its owner destroys right then is not touched later.
  std::lock_guard<std::mutex> l(mu_);
  cv_.notify_all();
}

void ThreadPool::notify_after(const std::function<void()>& change) {
  std::lock_guard<std::mutex> l(mu_);
  change();
  cv_.notify_all();
}

bool ThreadPool::run_one(std::unique_lock<std::mutex>& l) {
  if (q_.empty()) return false;
  auto task = std::move(q_.front());
  q_.pop_front();
  l.unlock();
  task();
  l.lock();
  cv_.notify_all();
  return true;
}

void ThreadPool::worker() {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    if (run_one(l)) continue;
    if (stop_) return;
    cv_.wait(l);
  }
}

void ThreadPool::wait_until(const std::function<bool()>& pred) {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    // pred is checked with mu_ held: a notify() that follows pred turning true
    // takes mu_ after this thread waits, so the wakeup cannot be lost.
    if (pred()) return;
    if (run_one(l)) continue;
    cv_.wait(l);
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  int64_t chunks = std::min<int64_t>(threads_, (n + grain - 1) / grain);
  if (chunks <= 1) {
    fn(0, n);
    return;
  }
  // Chunks are claimed through an atomic counter: the caller claims too, so a
  // helper task that starts late finds nothing left and returns at once.
  struct State {
    std::atomic<int64_t> next{0};
    std::atomic<int64_t> done{0};
  };
  auto st = std::make_shared<State>();
  int64_t per = (n + chunks - 1) / chunks;
  auto body = [st, per, n, chunks, &fn, this] {
    for (;;) {
      int64_t c = st->next.fetch_add(1);
      if (c >= chunks) return;
      int64_t b = c * per, e = std::min(n, b + per);
      fn(b, e);
      if (st->done.fetch_add(1) + 1 == chunks) notify();
    }
  };
  for (int64_t i = 1; i < chunks; ++i) submit(body);
  body();
  wait_until([&] { return st->done.load() == chunks; });
}

namespace {
int g_threads = 0;
}

void ThreadPool::set_global_threads(int n) { g_threads = n; }

ThreadPool& ThreadPool::global() {
  static ThreadPool pool(g_threads > 0 ? g_threads : int(std::max(1u, std::thread::hardware_concurrency())));
  return pool;
}

}  // namespace ft
