// server.h — one parameter-server rank: holds its pieces of the variables (a
// flat f32 buffer laid out by the ShardPlan), applies workers' gradients with a
// server-side optimizer, and answers pulls.
//
// One thread (the caller of run()) handles every message, applies every update
// and copies parameters into replies, so a reply never holds half an update
// (per-shard consistency without torn reads); the comm thread only completes
// transfers.
//
// async (ps-async): each push is applied on arrival with lr(step of the push).
//   Stale synchronous parallel: a worker's pull for step t is answered once
//   t - (steps pushed by the slowest active worker) <= staleness; staleness 0
//   keeps workers in lock step.
// sync (ps-sync): the server waits for one gradient per active worker for a
//   step, sums them in worker-rank order, divides by their number and applies
//   once; pulls for step t+1 are answered after that.
// Workers that sent Done no longer count. A worker that has not been heard from
// for stall_s seconds while others wait for it (their pulls held for its
// gradient) ends run() with an ft::Error naming the worker's rank; the train
// program then aborts the job.
#pragma once

#include <functional>
#include <string>
#include <memory>
#include <vector>

#include "comm/communicator.h"
#include "optim/optimizer.h"
#include "ps/plan.h"
#include "ps/protocol.h"
#include "ps/waits.h"

namespace ft {
namespace ps {

struct ServerOptions {
  bool sync = false;
  int64_t staleness = 0;                     // async: bound on the step gap
  double stall_s = 60;                       // silent-worker timeout
  std::string stall_key = "distributed.stall_warning_s";  // the setting stall_s came from (error lines)
  std::function<double(int64_t step)> lr;    // learning rate for a worker's step
  // Called after each update with its step and steady-clock start and end (ns): the timeline.
  std::function<void(int64_t step, int64_t start_ns, int64_t end_ns)> on_apply;
};

class ParameterServer {
 public:
  // index: this server's number in the plan; workers: the workers' world ranks.
  ParameterServer(comm::Communicator& world, const ShardPlan& plan, int index, std::vector<int> workers,
                  optim::Optimizer& opt, ServerOptions o);
  ~ParameterServer();
  // Copies this server's pieces out of whole variables (flat f32, plan.vars order).
  void set_values(const std::vector<const float*>& vars);
  // Loads this server's part of whole-variable optimizer state (a checkpoint).
  void load_state(const optim::OptimizerState& whole);
  // Serves until every worker sent Done.
  void run();
  const ServerStats& stats() const { return stats_; }
  const Tensor& values() const { return params_; }  // this server's flat buffer

 private:
  struct Worker;
  void post_recv(int w);
  void handle(int w);
  void apply(const float* grad, int64_t step);
  void apply_sync_if_complete();
  void grant_pulls();
  void reply(int w, int64_t step);
  void send_state(int w);
  void check_stall();
  int64_t slowest_clock() const;  // steps pushed by the slowest active worker (-1: one not heard yet)

  comm::Communicator& world_;
  const ShardPlan& plan_;
  int index_;
  optim::Optimizer& opt_;
  ServerOptions o_;
  Tensor params_;                 // (server_elems) f32, 64-byte aligned
  size_t n_ = 0;                  // its elements
  std::vector<float> sum_;        // sync: the aggregated gradient
  std::vector<std::unique_ptr<Worker>> workers_;
  Inbox inbox_;
  InFlight sends_;
  int64_t sync_step_ = -1;        // sync: the step being aggregated (-1 before the first pull)
  ServerStats stats_;
};

}  // namespace ps
}  // namespace ft
