// mpi_engine.cpp — the comm thread, the FIFO of MPI calls and the progress loop
// for non-blocking point-to-point requests.
#include "comm/mpi_engine.h"

#include <cstdlib>

#include <chrono>
#include <future>
#include <string>

#include "core/tensor.h"

namespace ft {
namespace comm {

MpiEngine& MpiEngine::get() {
  static MpiEngine* e = new MpiEngine();  // never destroyed: usable from atexit handlers
  return *e;
}

void MpiEngine::start(int* argc, char*** argv) {
  std::lock_guard<std::mutex> l(mu_);
  if (started_) return;
  int inited = 0, provided = 0;
  MPI_Initialized(&inited);
  if (!inited) {
    // Open MPI's own polling is left as configured: with mpi_yield_when_idle=1
    // set here, ranks were seen to hang now and then in MPI_Sendrecv of the
    // ring tests (Open MPI 4.1, shared-memory transport); data-parallel
    // training on one node does not poll in MPI at all (shared-memory allreduce).
    if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
      throw Error("MPI_Init_thread failed");
    we_initialized_ = true;
  } else {
    MPI_Query_thread(&provided);
  }
  if (provided < MPI_THREAD_SERIALIZED)
    throw Error("MPI provides thread level " + std::to_string(provided) +
                "; flowtrain's comm thread needs at least MPI_THREAD_SERIALIZED");
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  stop_ = false;
  started_ = true;
  thread_ = std::thread([this] { loop(); });
  thread_id_ = thread_.get_id();
}

bool MpiEngine::running() {
  std::lock_guard<std::mutex> l(mu_);
  return started_ && !stop_;
}

void MpiEngine::stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!started_ || stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (auto& r : reqs_) MPI_Cancel(&r.first);  // never matched: nothing left to complete them
  reqs_.clear();
  int fin = 0;
  MPI_Finalized(&fin);
  if (we_initialized_ && !fin) MPI_Finalize();
}

void MpiEngine::run(const std::function<void()>& fn) {
  if (on_comm_thread()) {  // nested call from a task or a done() callback
    fn();
    return;
  }
  std::unique_lock<std::mutex> l(mu_);
  if (!started_ || stop_) throw Error("MPI call after comm::finalize() (or before comm::init())");
  if (q_.empty() && !busy_) {
    busy_ = true;
    l.unlock();
    struct Release {
      MpiEngine* e;
      ~Release() {
        bool wake;
        {
          std::lock_guard<std::mutex> g(e->mu_);
          e->busy_ = false;
          wake = !e->q_.empty();  // a task queued behind this call; else let the comm thread sleep
        }
        if (wake) e->cv_.notify_all();
      }
    } release{this};
    fn();
    return;
  }
  std::promise<void> p;
  std::future<void> f = p.get_future();
  q_.push_back([&fn, &p] {
    try {
      fn();
      p.set_value();
    } catch (...) {
      p.set_exception(std::current_exception());
    }
  });
  l.unlock();
  cv_.notify_all();
  f.get();
}

void MpiEngine::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!started_ || stop_) throw Error("asynchronous MPI call after comm::finalize()");
    q_.push_back(std::move(fn));
  }
  cv_.notify_all();
}

void MpiEngine::watch(MPI_Request r, std::function<void(int)> on_done) {
  reqs_.emplace_back(r, std::move(on_done));
}

void MpiEngine::progress() {
  for (size_t i = 0; i < reqs_.size();) {
    int flag = 0;
    MPI_Status st;
    int err = MPI_Test(&reqs_[i].first, &flag, &st);
    if (err != MPI_SUCCESS || flag) {
      auto cb = std::move(reqs_[i].second);
      reqs_.erase(reqs_.begin() + long(i));
      cb(err);
    } else {
      ++i;
    }
  }
}

void MpiEngine::loop() {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    if (!busy_ && !q_.empty()) {
      auto task = std::move(q_.front());
      q_.pop_front();
      busy_ = true;
      l.unlock();
      task();
      l.lock();
      busy_ = false;
      cv_.notify_all();
      continue;
    }
    if (!busy_ && !reqs_.empty() && !stop_) {
      busy_ = true;
      l.unlock();
      progress();
      l.lock();
      busy_ = false;
      cv_.notify_all();
      if (!reqs_.empty() && q_.empty()) cv_.wait_for(l, std::chrono::microseconds(20));
      continue;
    }
    if (stop_ && q_.empty() && !busy_) break;
    // A blocking call runs on its caller's thread (busy_) and need not make
    // any MPI call (the shared-memory allreduce does not), so pending
    // point-to-point requests are re-tested on a short timeout, not left to
    // a wake-up that may never come.
    if (!reqs_.empty())
      cv_.wait_for(l, std::chrono::microseconds(100));
    else
      cv_.wait(l);
  }
}

}  // namespace comm
}  // namespace ft
