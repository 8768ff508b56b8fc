// allreduce_algorithm.h — how the MPI backend chooses a host allreduce
// algorithm: an ordered list of candidates, built once from the configured
// preference (CommOptions::allreduce); each call runs the first candidate that
// applies to it. NCCL (device buffers) is the device communicator's
// (comm/device_comm.h), not a candidate here.
//
//   preference   candidates, in order
//   auto         shm (from shm_threshold bytes), ring (from ring_threshold), mpi
//   shm          shm (any size), mpi
//   ring         ring (any size), mpi
//   mpi          mpi
//
//   shm   applies when the message has at least min_bytes and the ranks share
//         a node (or it is not known yet: choosing it sets the shared window up,
//         collectively, and a "no" from that setup makes the call choose again);
//   ring  applies from min_bytes;
//   mpi   always applies (MPI_Allreduce in place), so the list never runs dry.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "comm/communicator.h"

namespace ft {
namespace comm {

// Whether the ranks of the communicator share a node through a shared-memory
// window: Unknown until the first allreduce that would use it sets it up.
enum class NodeSharing { Unknown, Yes, No };

// What a candidate decides on.
struct AllreduceQuery {
  size_t bytes = 0;
  NodeSharing sharing = NodeSharing::Unknown;
};

struct AllreduceCandidate {
  enum class Kind { Shm, Ring, Mpi };
  Kind kind;
  size_t min_bytes = 0;
  bool applies(const AllreduceQuery& q) const;
  const char* name() const;  // "shm", "ring", "mpi"
};

// The ordered list for o.allreduce, with o's thresholds (table above).
std::vector<AllreduceCandidate> allreduce_candidates(const CommOptions& o);
// The first candidate of `list` that applies to q (list must end with mpi).
const AllreduceCandidate& select_allreduce(const std::vector<AllreduceCandidate>& list, const AllreduceQuery& q);
// True when some candidate of the list is shared memory.
bool lists_shm(const std::vector<AllreduceCandidate>& list);

}  // namespace comm
}  // namespace ft
