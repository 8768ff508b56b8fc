// mpi_engine.h — the process-wide FIFO through which every MPI call is made:
// one comm thread, at most one thread inside MPI at a time (MPI_THREAD_SERIALIZED).
// Internal to comm/; the contract is the threading model in communicator.h.
#pragma once

#include <mpi.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace ft {
namespace comm {

class MpiEngine {
 public:
  static MpiEngine& get();

  // MPI_Init_thread (unless MPI is already initialized) and the comm thread.
  void start(int* argc, char*** argv);
  bool running();
  // Drains the queue, joins the comm thread, MPI_Finalize if start() initialized MPI.
  void stop();

  // Runs fn with exclusive MPI access after everything queued before it; on
  // the caller's thread when the engine is idle. Exceptions propagate.
  void run(const std::function<void()>& fn);
  // Queues fn to run on the comm thread (fn must not throw).
  void post(std::function<void()> fn);
  // Only from a task on the comm thread: completes `r` in the progress loop,
  // then calls on_done(error code) on the comm thread.
  void watch(MPI_Request r, std::function<void(int)> on_done);
  bool on_comm_thread() const { return std::this_thread::get_id() == thread_id_; }

 private:
  MpiEngine() = default;
  void loop();
  void progress();  // tests watched requests (comm thread, busy held)
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> q_;
  bool busy_ = false;     // a thread is inside MPI
  bool started_ = false;
  bool stop_ = false;
  bool we_initialized_ = false;
  std::thread thread_;
  std::thread::id thread_id_;
  std::vector<std::pair<MPI_Request, std::function<void(int)>>> reqs_;  // comm thread only
};

}  // namespace comm
}  // namespace ft
