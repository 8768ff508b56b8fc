// allreduce_algorithm.cpp — the candidate lists and their predicates.
#include "comm/allreduce_algorithm.h"

namespace ft {
namespace comm {

const char* allreduce_algorithm_name(AllreduceAlgorithm a) {
  switch (a) {
    case AllreduceAlgorithm::Auto: return "auto";
    case AllreduceAlgorithm::Shm: return "shm";
    case AllreduceAlgorithm::Ring: return "ring";
    case AllreduceAlgorithm::Mpi: return "mpi";
  }
  return "?";
}

AllreduceAlgorithm parse_allreduce_algorithm(const std::string& s) {
  for (AllreduceAlgorithm a :
       {AllreduceAlgorithm::Auto, AllreduceAlgorithm::Shm, AllreduceAlgorithm::Ring, AllreduceAlgorithm::Mpi})
    if (s == allreduce_algorithm_name(a)) return a;
  throw Error("unknown allreduce algorithm '" + s + "' (expected auto, shm, ring or mpi)");
}

bool AllreduceCandidate::applies(const AllreduceQuery& q) const {
  if (q.bytes < min_bytes) return false;
  switch (kind) {
    case Kind::Shm: return q.sharing != NodeSharing::No;
    case Kind::Ring:
    case Kind::Mpi: return true;
  }
  return false;
}

const char* AllreduceCandidate::name() const {
  switch (kind) {
    case Kind::Shm: return "shm";
    case Kind::Ring: return "ring";
    case Kind::Mpi: return "mpi";
  }
  return "?";
}

std::vector<AllreduceCandidate> allreduce_candidates(const CommOptions& o) {
  using K = AllreduceCandidate::Kind;
  switch (o.allreduce) {
    case AllreduceAlgorithm::Auto: return {{K::Shm, o.shm_threshold}, {K::Ring, o.ring_threshold}, {K::Mpi, 0}};
    case AllreduceAlgorithm::Shm: return {{K::Shm, 0}, {K::Mpi, 0}};
    case AllreduceAlgorithm::Ring: return {{K::Ring, 0}, {K::Mpi, 0}};
    case AllreduceAlgorithm::Mpi: return {{K::Mpi, 0}};
  }
  return {{K::Mpi, 0}};
}

const AllreduceCandidate& select_allreduce(const std::vector<AllreduceCandidate>& list, const AllreduceQuery& q) {
  for (const AllreduceCandidate& c : list)
    if (c.applies(q)) return c;
  throw Error("no allreduce algorithm applies to a message of " + std::to_string(q.bytes) + " bytes");
}

bool lists_shm(const std::vector<AllreduceCandidate>& list) {
  for (const AllreduceCandidate& c : list)
    if (c.kind == AllreduceCandidate::Kind::Shm) return true;
  return false;
}

}  // namespace comm
}  // namespace ft
