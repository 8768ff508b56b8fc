// shm_allreduce.h — allreduce through shared memory among the ranks of one
// node, hierarchical across nodes. Internal to the MPI backend.
//
// The ranks of a node (MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)) share one
// MPI-3 window (MPI_Win_allocate_shared). Each rank owns two slots of
// slot_bytes (double buffering) and a flag word. One call, per round of at most
// slot_bytes:
//   1. copy in: each rank copies its data into its slot;
//   2. barrier;
//   3. reduce: local rank l reduces shard l of every slot into its own slot
//      (and, across nodes, allreduces that shard with MPI over the ranks with
//      the same local rank on the other nodes); Mean divides here;
//   4. barrier;
//   5. copy out: each rank copies every shard from its owner's slot.
// No third barrier: the next round writes the other slot, and a slot is only
// written again after a barrier every rank reaches after its copy-out.
//
// Waiting is a spin of up to a millisecond, then a futex sleep on the peer's
// flag, so a rank that waits long for a slower one gives its core back.
// On a single node no MPI call is involved, so MpiCommunicator runs it on the
// calling (compute) thread: no comm thread competes for the cores.
#pragma once

#include <mpi.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "comm/communicator.h"

namespace ft {
namespace comm {

class ShmAllreduce {
 public:
  // Collective over `comm`. Returns nullptr when shared memory does not help:
  // one rank per node, or nodes with different rank counts. node_size > 0
  // groups consecutive ranks into "nodes" of that many (tests of the
  // hierarchical path on one host); 0 asks MPI which ranks share memory.
  static std::unique_ptr<ShmAllreduce> create(MPI_Comm comm, size_t slot_bytes, int node_size);
  // The ranks of `comm` on this process's kernel (the same boot id: containers
  // and network namespaces of one machine count together); collective.
  static int ranks_on_this_kernel(MPI_Comm comm);
  bool spins() const { return spin_ns_ > 0; }  // waiters spin before they sleep
  ~ShmAllreduce();
  ShmAllreduce(const ShmAllreduce&) = delete;
  ShmAllreduce& operator=(const ShmAllreduce&) = delete;

  // In place; every rank of `comm` calls it with the same count, dtype and op.
  // Runs on the MPI engine (the cross-node step calls MPI).
  void allreduce(void* data, int64_t count, DType dtype, ReduceOp op);
  // The same over the concatenation of spans (src gathered into the slot,
  // results scattered to dst): no fusion-buffer copies.
  void allreduce(const std::vector<Communicator::Span>& spans, DType dtype, ReduceOp op);

  int local_size() const { return local_size_; }
  int nodes() const { return nodes_; }
  size_t slot_bytes() const { return slot_bytes_; }
  std::string describe() const;  // "shared memory, 2 ranks per node x 1 node"
  // While this rank waits in a barrier: the ranks (of the communicator) of its
  // node that have not arrived yet; empty otherwise. Any thread may call it.
  std::vector<int> not_arrived() const;

 private:
  ShmAllreduce() = default;
  void barrier();
  char* slot(int local_rank, int set) const;
  MPI_Comm node_ = MPI_COMM_NULL, cross_ = MPI_COMM_NULL;
  MPI_Win win_ = MPI_WIN_NULL;
  int world_size_ = 1, local_rank_ = 0, local_size_ = 1, nodes_ = 1;
  size_t slot_bytes_ = 0;
  std::vector<char*> base_;                  // each local rank's segment
  std::vector<std::atomic<uint32_t>*> flag_;  // each local rank's arrival count
  // A waiter spins this long before it sleeps: waking a sleeping rank costs
  // a reschedule (on a VM an interrupt to a halted vCPU), and the ranks of a
  // node usually arrive within a millisecond of each other. 0 when the node,
  // or the machine its kernel runs (containers, network namespaces), has more
  // ranks than cores.
  int64_t spin_ns_ = 1000000;
  uint32_t seq_ = 0;                          // barriers passed by this rank
  std::atomic<uint32_t> waiting_{0};          // seq_ while in a barrier, else 0
  std::vector<int> node_ranks_;               // communicator rank of each local rank
  uint64_t rounds_ = 0;                       // slot set = rounds_ & 1
  std::mutex mu_;  // one allreduce at a time per rank (caller and comm thread may both call)
};

}  // namespace comm
}  // namespace ft
