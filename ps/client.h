// client.h — the worker side of a parameter-server job: pushes gradients to
// every server and pulls parameters back, asynchronously so that the next
// step's pull overlaps the worker's own work between steps.
//
//   pull(t)        ask every server for the parameters of step t
//   push(t, grads) send the gradient computed at step t (split by the plan) and
//                  ask for the parameters of step t+1 in the same message
//   wait(vars)     complete the outstanding pull and write the variables
//   snapshot(...)  blocking: current parameters and optimizer state, whole-variable
//   done()         tell every server this worker is finished
// At most one pull is outstanding. Waits longer than timeout_s throw ft::Error
// naming the server rank that did not answer.
#pragma once

#include <memory>
#include <vector>

#include "comm/communicator.h"
#include "optim/optimizer.h"
#include "ps/plan.h"
#include "ps/protocol.h"
#include "ps/waits.h"

namespace ft {
namespace ps {

class WorkerClient {
 public:
  // servers: the servers' world ranks, plan order.
  WorkerClient(comm::Communicator& world, const ShardPlan& plan, std::vector<int> servers, double timeout_s);
  ~WorkerClient();
  void pull(int64_t step);
  void push(int64_t step, const std::vector<const float*>& grads);
  bool pending() const { return pending_; }
  // Returns the step the parameters are for.
  int64_t wait(const std::vector<float*>& vars);
  // Completes any outstanding pull first. state may be null (parameters only);
  // otherwise it receives every server's optimizer state, reassembled per whole variable.
  void snapshot(const std::vector<float*>& vars, optim::OptimizerState* state);
  void done();
  // The counters each server sent with its latest reply.
  const ServerStats& server_stats(int s) const;
  int servers() const { return int(links_.size()); }

 private:
  struct Link;
  void send_request(int s, int64_t kind, int64_t step, size_t payload_bytes, int64_t flags = 0);
  void post_reply(int s);
  void wait_all(InFlight& f, const char* what);
  int64_t unpack_replies(const std::vector<float*>& vars);

  comm::Communicator& world_;
  const ShardPlan& plan_;
  double timeout_s_;
  std::vector<std::unique_ptr<Link>> links_;
  InFlight sends_, replies_;
  bool pending_ = false;
  bool done_ = false;
};

}  // namespace ps
}  // namespace ft
