// local_communicator.h — the world-size-1 backend: collectives are no-ops or
// copies, so a single process runs the same code path as a distributed job.
// Send/recv to rank 0 (itself) work through an in-process mailbox keyed by tag.
#pragma once

#include <deque>
#include <map>
#include <mutex>
#include <vector>

#include "comm/communicator.h"

namespace ft {
namespace comm {

class LocalCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string backend() const override { return "local"; }
  using Communicator::allgather;  // the Tensor overloads
  using Communicator::allreduce;
  using Communicator::broadcast;
  using Communicator::reduce_scatter;

  void allreduce(void* data, int64_t count, DType dtype, ReduceOp op) override;
  void broadcast(void* data, int64_t count, DType dtype, int root) override;
  void allgather(const void* send, void* recv, int64_t count, DType dtype) override;
  void reduce_scatter(const void* send, void* recv, int64_t count, DType dtype, ReduceOp op) override;
  void send(const void* data, size_t bytes, int peer, int tag) override;
  void recv(void* data, size_t bytes, int peer, int tag) override;
  void barrier() override {}
  std::shared_ptr<Communicator> split(int color, int key) override;

  void allreduce_async(void* data, int64_t count, DType dtype, ReduceOp op, DoneFn done) override;
  void send_async(const void* data, size_t bytes, int peer, int tag, DoneFn done) override;
  void recv_async(void* data, size_t bytes, int peer, int tag, DoneFn done) override;

 private:
  struct PendingRecv {
    void* data;
    size_t bytes;
    DoneFn done;
  };
  void check_peer(int peer, const char* call) const;
  Status failed(const std::string& message);  // a failed status, also kept as the sticky error
  std::mutex mu_;
  std::map<int, std::deque<std::vector<char>>> mail_;       // tag -> sent messages
  std::map<int, std::deque<PendingRecv>> waiting_;          // tag -> posted receives
};

}  // namespace comm
}  // namespace ft
