// mpi_communicator.h — Communicator over an MPI communicator, host memory.
//
// All MPI calls go through the process-wide comm engine (one FIFO, one comm
// thread; see the threading model in communicator.h). Allreduce picks an
// algorithm (Auto):
//   * shared memory (comm/shm_allreduce.h) from shm_threshold up when ranks
//     share a node: a reduce-scatter/allgather through one MPI-3 shared window,
//     hierarchical (MPI_Allreduce of each shard between nodes) when the job
//     spans nodes with equal rank counts; waiting ranks sleep on a futex;
//   * otherwise MPI_Allreduce(MPI_IN_PLACE) below ring_threshold, above it an
//     in-place ring (reduce-scatter + allgather with MPI_Sendrecv into a
//     persistent scratch buffer) that allocates nothing once warm, where Open
//     MPI would allocate and fault in a temporary of the message size per call.
#pragma once

#include <mpi.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "comm/shm_allreduce.h"

namespace ft {
namespace comm {

class MpiCommunicator : public Communicator {
 public:
  enum class Algo { Auto, Mpi, Ring, Shm };

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
  // Shared memory reduces straight from and to the spans; otherwise the base
  // version (fusion buffer).
  void allreduce_spans_async(int64_t key, std::vector<Span> spans, DType dtype, ReduceOp op,
                             std::function<void()> done) override;
  void send_async(const void* data, size_t bytes, int peer, int tag, std::function<void()> done) override;
  void recv_async(void* data, size_t bytes, int peer, int tag, std::function<void()> done) override;

  // Allreduce algorithm (default Auto: shared memory at and above
  // shm_threshold when ranks share a node, else ring at and above
  // ring_threshold bytes (16 MiB), else MPI_Allreduce). Shm falls back to Auto
  // where shared memory does not apply (one rank per node).
  void set_algorithm(Algo a) { algo_ = a; }
  // Shared-memory settings; they take effect before the first shared-memory
  // allreduce (which sets up the window, collectively). slot = bytes per rank
  // and round (two slots per rank are mapped); node_size > 0 groups
  // consecutive ranks into pseudo-nodes (tests of the hierarchical path).
  void set_shm_threshold(size_t bytes) { shm_threshold_ = bytes; }
  void set_shm_slot(size_t bytes) { shm_slot_ = bytes; }
  void set_shm_node_size(int n) { shm_node_size_ = n; }
  // "shared memory, 2 ranks per node x 1 node" or "" (not set up / not applicable).
  std::string shm_description() const { return shm_state_.load() == 1 ? shm_->describe() : ""; }
  // Collective: sets the shared window up now rather than at the first
  // shared-memory allreduce (no-op when the algorithm would not use it).
  void setup_shm();
  // Ranks of this node that a shared-memory allreduce in progress on this rank
  // still waits for (empty when none is waiting). Safe from any thread.
  std::vector<int> shm_not_arrived() const {
    return shm_state_.load() == 1 ? shm_->not_arrived() : std::vector<int>{};
  }
  void set_ring_threshold(size_t bytes) { ring_threshold_ = bytes; }
  // Ring reduce-scatter segment (default 0 = one segment per chunk). Small
  // segments keep the received data in cache but add a synchronization each:
  // on a host where ranks share cores with other work that costs more.
  void set_ring_segment(size_t bytes) { ring_segment_ = bytes; }
  size_t ring_segment() const { return ring_segment_; }
  size_t ring_threshold() const { return ring_threshold_; }
  size_t shm_threshold() const { return shm_threshold_; }
  MPI_Comm native() const { return comm_; }

 private:
  void allreduce_now(void* data, int64_t count, DType dtype, ReduceOp op);  // on the engine
  // Posts a non-blocking transfer (`start` fills the request) on the engine and
  // calls done() when it completes; errors become the sticky async error.
  void post_transfer(const char* call, std::function<int(MPI_Request*)> start, std::function<void()> done);
  void ring_allreduce(void* data, int64_t count, DType dtype, ReduceOp op);
  bool wants_shm(size_t bytes) const;  // the algorithm setting asks for shared memory
  bool use_shm(size_t bytes);         // and it applies; sets the window up on first use (collective)
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
  size_t shm_threshold_ = 0;  // comm_bench: shared memory is as fast or faster at every size
  size_t shm_slot_ = size_t(4) << 20;
  int shm_node_size_ = 0;
  std::atomic<int> shm_state_{0};  // 0 not tried, 1 set up, -1 not applicable (set on the engine)
  std::unique_ptr<ShmAllreduce> shm_;
  std::vector<char> scratch_;  // ring receive chunk, grown once and kept
};

// Low-level reduction used by the ring (and tests): dst[i] = dst[i] (op) src[i].
void reduce_into(void* dst, const void* src, int64_t count, DType dtype, ReduceOp op);
// data[i] /= n (mean finalization).
void divide_by(void* data, int64_t count, DType dtype, int n);
MPI_Datatype mpi_type(DType t);

}  // namespace comm
}  // namespace ft
