// mpi_communicator.h — Communicator over an MPI communicator, host memory.
//
// All MPI calls go through the process-wide comm engine (one FIFO, one comm
// thread; see the threading model in communicator.h). Allreduce picks an
// algorithm by size: MPI_Allreduce(MPI_IN_PLACE) below ring_threshold, above it
// an in-place ring (reduce-scatter + allgather with MPI_Sendrecv into a
// persistent scratch buffer) that allocates nothing once warm, where Open MPI
// would allocate and fault in a temporary of the message size on every call.
#pragma once

#include <mpi.h>

#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.h"

namespace ft {
namespace comm {

class MpiCommunicator : public Communicator {
 public:
  enum class Algo { Auto, Mpi, Ring };

  // Wraps `c` (not freed unless owns). Requires comm::init() to have started MPI.
  MpiCommunicator(MPI_Comm c, bool owns);
  ~MpiCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "mpi"; }
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
  void barrier() override;
  std::shared_ptr<Communicator> split(int color, int key) override;

  void allreduce_async(void* data, int64_t count, DType dtype, ReduceOp op, std::function<void()> done) override;
  void send_async(const void* data, size_t bytes, int peer, int tag, std::function<void()> done) override;
  void recv_async(void* data, size_t bytes, int peer, int tag, std::function<void()> done) override;

  // Allreduce algorithm (default Auto: ring at and above ring_threshold bytes, default 16 MiB).
  void set_algorithm(Algo a) { algo_ = a; }
  void set_ring_threshold(size_t bytes) { ring_threshold_ = bytes; }
  // Ring reduce-scatter segment (default 0 = one segment per chunk). Small
  // segments keep the received data in cache but add a synchronization each:
  // on a host where ranks share cores with other work that costs more.
  void set_ring_segment(size_t bytes) { ring_segment_ = bytes; }
  size_t ring_segment() const { return ring_segment_; }
  size_t ring_threshold() const { return ring_threshold_; }
  MPI_Comm native() const { return comm_; }

 private:
  void allreduce_now(void* data, int64_t count, DType dtype, ReduceOp op);  // on the engine
  // Posts a non-blocking transfer (`start` fills the request) on the engine and
  // calls done() when it completes; errors become the sticky async error.
  void post_transfer(const char* call, std::function<int(MPI_Request*)> start, std::function<void()> done);
  void ring_allreduce(void* data, int64_t count, DType dtype, ReduceOp op);
  void check_mpi(int err, const char* call) const;
  MPI_Comm comm_;
  MPI_Comm ring_comm_ = MPI_COMM_NULL;  // duplicate: ring messages never match user tags
  bool owns_;
  int rank_ = 0, size_ = 1;
  Algo algo_ = Algo::Auto;
  // From comm_bench (np 2 and 4, one 2-core host): below 16 MiB Open MPI's
  // in-place allreduce is as fast or faster (fewer rounds at np 4); from
  // 16-32 MiB its per-call temporaries make the persistent ring win.
  size_t ring_threshold_ = size_t(16) << 20;
  size_t ring_segment_ = 0;  // few rounds: robust when ranks share cores with other work
  std::vector<char> scratch_;  // ring receive chunk, grown once and kept
};

// Low-level reduction used by the ring (and tests): dst[i] = dst[i] (op) src[i].
void reduce_into(void* dst, const void* src, int64_t count, DType dtype, ReduceOp op);
// data[i] /= n (mean finalization).
void divide_by(void* data, int64_t count, DType dtype, int n);
MPI_Datatype mpi_type(DType t);

}  // namespace comm
}  // namespace ft
