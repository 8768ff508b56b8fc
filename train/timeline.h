// timeline.h — one Chrome/Perfetto trace (chrome://tracing, ui.perfetto.dev) of
// every rank of a run, on one clock.
//
// At start (a collective) each rank's steady clock is compared with rank 0's by
// a few ping-pongs over the communicator; the sample with the shortest round
// trip gives the offset (t_rank - (t0 + t1) / 2), as NTP does. At the end
// (write(), a collective) every rank sends its events, shifted onto rank 0's
// clock, and rank 0 writes one file:
//   pid = world rank, named "rank r (worker | chief | server)";
//   lanes (tid): "compute thread t" for the executor's threads, "comm" for
//   collectives, transfers and parameter-server waits (args: bytes, tensors),
//   "server apply" for a parameter server's updates;
//   step markers: an instant event "step N" (cat "step") at each traced step's start.
// Bounded: the trainer records train.trace_steps steps, and spans beyond
// max_spans are dropped (and counted in otherData).
#pragma once

#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "core/executor.h"

namespace ft {
namespace train {

constexpr int kCommLane = 1000;
constexpr int kServerLane = 1001;

struct Span {
  std::string name, cat;
  int lane = 0;
  int64_t start_ns = 0, end_ns = 0;  // steady clock (Timeline::now_ns)
  nlohmann::json args;               // null = none
};

class Timeline {
 public:
  // Collective over `world`. `role`: "worker", "chief" or "server".
  Timeline(comm::CommPtr world, std::string role, size_t max_spans);
  static int64_t now_ns();
  void span(Span s);  // thread-safe
  void step(int64_t step, int64_t t_ns);
  // The executor's node events of `g`; unknown dims (-1) count as `batch` in bytes.
  void add_graph(const Graph& g, const std::vector<TraceEvent>& events, int64_t batch);
  // Collective: rank 0 writes `path` and returns its event count (0 elsewhere).
  size_t write(const std::string& path);
  int64_t offset_ns() const { return offset_; }

 private:
  comm::CommPtr world_;
  std::string role_;
  size_t max_;
  int64_t offset_ = 0, origin_ = 0;  // this rank's clock minus rank 0's; rank 0's start
  std::mutex mu_;
  nlohmann::json events_ = nlohmann::json::array();
  std::vector<int> lanes_;
  size_t dropped_ = 0;
};

}  // namespace train
}  // namespace ft
