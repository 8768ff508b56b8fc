// progress.h — a channel beside MPI through which one rank learns how many
// collectives another has entered (Inflight::entered(), comm/stall.h).
//
// With MPI_THREAD_SERIALIZED no thread can make an MPI call while the comm
// thread waits inside a collective, and a stopped rank would not answer an MPI
// request anyway. So each process opens one UDP socket (any interface, an
// ephemeral port) answered by a thread of its own; communicators gather every
// rank's address when they are made. Nothing is sent while training runs: a
// rank asks its peers only when its stall watch reports a collective (a few
// datagrams, resent every 100 ms until answered or timed out). A peer whose
// count is below the waiting collective's sequence number has not reached it;
// one that does not answer (stopped, hung in the kernel, its host gone) is
// counted as not arrived too.
#pragma once

#include <cstdint>
#include <vector>

namespace ft {
namespace comm {

// Where a process answers (trivially copyable: gathered as bytes).
struct ProgressAddress {
  uint64_t token = 0;  // random per process: a datagram for another process is ignored
  uint16_t port = 0;   // 0: no channel (the socket could not be opened)
  uint16_t n = 0;      // IPv4 addresses in ip[], network order; loopback last
  uint32_t ip[7] = {};
};

// This process's address; opens the socket and starts its thread on first call.
ProgressAddress progress_address();
// Each peer's count of collectives entered; -1 for a peer that gave no answer
// within timeout_s, -2 for one without a channel (port 0).
std::vector<int64_t> ask_progress(const std::vector<ProgressAddress>& peers, double timeout_s);

}  // namespace comm
}  // namespace ft
