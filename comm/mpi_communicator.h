// mpi_communicator.h — Communicator over an MPI communicator, host memory.
//
// All MPI calls go through the process-wide comm engine (one FIFO, one comm
// thread; see the threading model in communicator.h). Each allreduce runs the
// first candidate of a list built once from CommOptions::allreduce
// (comm/allreduce_algorithm.h); auto lists shm, ring, mpi:
//   * shm: shared memory (comm/shm_allreduce.h) from shm_threshold when ranks
//     share a node: a reduce-scatter/allgather through one MPI-3 shared window,
//     hierarchical (MPI_Allreduce of each shard between nodes) when the job
//     spans nodes with equal rank counts; waiting ranks sleep on a futex;
//   * ring: from ring_threshold, an in-place ring (reduce-scatter + allgather
//     with MPI_Sendrecv into a persistent scratch buffer) that allocates
//     nothing once warm, where Open MPI would allocate and fault in a
//     temporary of the message size per call;
//   * mpi: MPI_Allreduce(MPI_IN_PLACE), below that.
#pragma once

#include <mpi.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "comm/allreduce_algorithm.h"
#include "comm/communicator.h"
#include "comm/progress.h"
#include "comm/shm_allreduce.h"

namespace ft {
namespace comm {

class MpiCommunicator : public Communicator {
 public:
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
  void alltoall(const void* send, void* recv, int64_t count, DType dtype) override;
  void send(const void* data, size_t bytes, int peer, int tag) override;
  void recv(void* data, size_t bytes, int peer, int tag) override;
  void barrier() override;
  std::shared_ptr<Communicator> split(int color, int key) override;

  void allreduce_async(void* data, int64_t count, DType dtype, ReduceOp op, DoneFn done) override;
  // Shared memory reduces straight from and to the spans; otherwise the base
  // version (fusion buffer).
  void allreduce_spans_async(int64_t key, std::vector<Span> spans, DType dtype, ReduceOp op, DoneFn done) override;
  void send_async(const void* data, size_t bytes, int peer, int tag, DoneFn done) override;
  void recv_async(void* data, size_t bytes, int peer, int tag, DoneFn done) override;

  // Takes the options and rebuilds the candidate list; collective: when the
  // list has shm, sets the shared window up now rather than at the first
  // shared-memory allreduce.
  void configure(const CommOptions& options) override;
  // Ranks that the oldest collective in progress on this rank still waits
  // for: under shared memory, the ranks of this node whose barrier flag is
  // behind; otherwise (ring, MPI, NCCL, another node's ranks) those whose
  // count of collectives entered, asked over the progress channel
  // (comm/progress.h), is below this one's sequence number, or that do not
  // answer. Empty when none is waiting. Takes up to half a second.
  std::vector<int> not_arrived() const override;
  std::string allreduce_summary() const override;
  std::string host_of(int rank) const override {
    return rank >= 0 && size_t(rank) < hosts_.size() ? hosts_[size_t(rank)] : "";
  }
  const CommOptions& options() const { return opts_; }
  const std::vector<AllreduceCandidate>& candidates() const { return candidates_; }

  // Single settings, not collective (tests, benchmarks): each changes one
  // option (and rebuilds the list); shared-memory settings take effect before
  // the window is set up.
  void set_algorithm(AllreduceAlgorithm a) { opts_.allreduce = a; rebuild(); }
  void set_shm_threshold(size_t bytes) { opts_.shm_threshold = bytes; rebuild(); }
  void set_shm_slot(size_t bytes) { opts_.shm_slot = bytes; }
  void set_shm_node_size(int n) { opts_.shm_node_size = n; }
  void set_ring_threshold(size_t bytes) { opts_.ring_threshold = bytes; rebuild(); }
  void set_ring_segment(size_t bytes) { opts_.ring_segment = bytes; }
  size_t ring_segment() const { return opts_.ring_segment; }
  size_t ring_threshold() const { return opts_.ring_threshold; }
  size_t shm_threshold() const { return opts_.shm_threshold; }
  // "shared memory, 2 ranks per node x 1 node" or "" (not set up / not applicable).
  std::string shm_description() const { return shm_state_.load() == 1 ? shm_->describe() : ""; }
  MPI_Comm native() const { return comm_; }

 private:
  void rebuild() { candidates_ = allreduce_candidates(opts_); }
  NodeSharing sharing() const;
  // On the engine: the first candidate that applies to `bytes`. Choosing shm
  // before node sharing is known sets the window up (collective: every rank
  // reaches the same call) and, if the ranks share no node, chooses again.
  AllreduceCandidate choose(size_t bytes);
  void allreduce_now(void* data, int64_t count, DType dtype, ReduceOp op);  // on the engine
  // Posts a non-blocking transfer (`start` fills the request) on the engine and
  // calls done() with its status when it completes (errors are also sticky).
  void post_transfer(const char* call, std::function<int(MPI_Request*)> start, DoneFn done);
  void ring_allreduce(void* data, int64_t count, DType dtype, ReduceOp op);
  void check_mpi(int err, const char* call) const;
  MPI_Comm comm_;
  MPI_Comm ring_comm_ = MPI_COMM_NULL;  // duplicate: ring messages never match user tags
  bool owns_;
  int rank_ = 0, size_ = 1;
  CommOptions opts_;
  std::vector<AllreduceCandidate> candidates_ = allreduce_candidates(CommOptions{});
  std::atomic<int> shm_state_{0};  // 0 not tried, 1 set up, -1 not applicable (set on the engine)
  std::unique_ptr<ShmAllreduce> shm_;
  std::vector<char> scratch_;  // ring receive chunk, grown once and kept
  std::vector<std::string> hosts_;  // host of each rank (stall lines, errors)
  std::vector<ProgressAddress> progress_;  // each rank's progress channel (stall lines)
};

// Low-level reduction used by the ring (and tests): dst[i] = dst[i] (op) src[i].
void reduce_into(void* dst, const void* src, int64_t count, DType dtype, ReduceOp op);
// data[i] /= n (mean finalization).
void divide_by(void* data, int64_t count, DType dtype, int n);
MPI_Datatype mpi_type(DType t);

}  // namespace comm
}  // namespace ft
