// protocol.h — the messages between parameter-server workers and servers.
//
// Worker -> server, tag kTagRequest: a Request header, followed for a Push by
// the server's share of the gradient (plan.server_elems[s] f32, buffer order).
// Server -> worker, tag kTagReply: a Reply header followed by the server's
// parameters (same layout), the answer to Pull, Push (parameters for step+1)
// and Snapshot. A Snapshot is further answered by the size of the serialized
// optimizer state (int64, kTagStateLen) and the state itself (kTagState).
// Messages of one (pair, tag) arrive in send order (MPI non-overtaking).
#pragma once

#include <cstdint>

namespace ft {
namespace ps {

constexpr int kTagRequest = 3100, kTagReply = 3101, kTagStateLen = 3102, kTagState = 3103;

enum Kind : int64_t {
  kPull = 1,      // send me the parameters for `step` (once the staleness bound allows)
  kPush = 2,      // gradient computed at `step`; then send me the parameters for step+1
  kSnapshot = 3,  // send me the current parameters now (and the optimizer state if flags & kWithState)
  kDone = 4,      // this worker is finished
};

constexpr int64_t kWithState = 1;

struct Request {
  int64_t kind = 0;
  int64_t step = 0;
  int64_t flags = 0;
  int64_t reserved = 0;
};

// Histogram bins: bin i counts value i; the last bin counts everything larger.
constexpr int kHistBins = 32;

// Cumulative counters of one server, carried by every reply.
struct ServerStats {
  int64_t applied = 0;    // optimizer updates applied
  int64_t opt_steps = 0;  // the server optimizer's step() count
  int64_t bytes_in = 0;   // request bytes received
  int64_t bytes_out = 0;  // reply bytes sent
  int64_t max_staleness = 0;
  // Staleness at apply: the pushing worker's step minus the slowest active
  // worker's clock (steps pushed), 0 when it is not ahead.
  int64_t staleness[kHistBins] = {};
  // Update delay at apply: updates applied to this server between the pull the
  // gradient was computed from and its own application.
  int64_t delay[kHistBins] = {};
};

struct Reply {
  int64_t step = 0;  // the step these parameters are for (Pull/Push), or -1 (Snapshot)
  int64_t reserved = 0;
  ServerStats stats;
};

inline void hist_add(int64_t* h, int64_t v) { ++h[v < 0 ? 0 : v >= kHistBins - 1 ? kHistBins - 1 : v]; }

}  // namespace ps
}  // namespace ft
