// thread_pool.h — the one thread pool of the process.
//
// `threads` counts the caller: a pool of n runs n-1 worker threads, and a thread
// that waits (wait_until) or splits work (parallel_for) runs queued tasks itself,
// so nested parallelism never deadlocks and n=1 means everything runs on the
// calling thread. Executor nodes, GEMM row blocks and elementwise chunks all run
// here; BLAS is kept single-threaded so no second pool spins beside this one.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ft {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return threads_; }
  void submit(std::function<void()> task);
  // Runs queued tasks on the calling thread until pred() holds. pred is
  // re-checked whenever notify() is called or a task finishes; it runs with the
  // pool's lock held, so it must only read state (atomics), never call the pool.
  void wait_until(const std::function<bool()>& pred);
  void notify();
  // Runs change() under the pool's lock, then wakes the waiters. A waiter whose
  // pred change() makes true returns only after this call has let go of the pool,
  // so its owner may destroy the pool at once. A thread that is not one of the
  // pool's workers (which the destructor does not wait for) must signal a
  // waiter's last condition this way, not by changing it and then notify().
  void notify_after(const std::function<void()>& change);
  // Splits [0, n) into chunks of at least `grain` and runs fn(begin, end) on the pool.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

  // The process-wide pool; its size is set once by set_global_threads() (default:
  // hardware concurrency) before first use.
  static ThreadPool& global();
  static void set_global_threads(int n);

 private:
  bool run_one(std::unique_lock<std::mutex>& l);
  void worker();
  int threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> q_;
  std::vector<std::thread> workers_;
  bool stop_ = false;
};

}  // namespace ft
