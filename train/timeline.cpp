// timeline.cpp
#include "train/timeline.h"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "comm/mp_ops.h"
#include "train/safetensors.h"

namespace ft {
namespace train {
namespace {

constexpr int kClockTag = 0x7e11, kGatherTag = 0x7e12;

std::string lane_name(int lane) {
  if (lane == kCommLane) return "comm";
  if (lane == kServerLane) return "server apply";
  return "compute thread " + std::to_string(lane);
}

bool is_comm_op(const std::string& op) {
  return op == "allreduce_bucket" || op == "send" || op == "recv" || comm::is_mp_collective(op);
}

}  // namespace

int64_t Timeline::now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Timeline::Timeline(comm::CommPtr world, std::string role, size_t max_spans)
    : world_(std::move(world)), role_(std::move(role)), max_(max_spans) {
  comm::Communicator& w = *world_;
  const int n = w.size(), me = w.rank();
  std::vector<int64_t> offsets(size_t(n), 0);
  for (int r = 1; r < n; ++r) {
    if (me == 0) {
      int64_t best_rtt = INT64_MAX, best = 0;
      for (int k = 0; k < 8; ++k) {
        int64_t t0 = now_ns(), tr = 0;
        w.send(&t0, sizeof(t0), r, kClockTag);
        w.recv(&tr, sizeof(tr), r, kClockTag);
        const int64_t t1 = now_ns();
        if (t1 - t0 < best_rtt) {
          best_rtt = t1 - t0;
          best = tr - (t0 + t1) / 2;
        }
      }
      offsets[size_t(r)] = best;
    } else if (me == r) {
      for (int k = 0; k < 8; ++k) {
        int64_t t0 = 0;
        w.recv(&t0, sizeof(t0), 0, kClockTag);
        const int64_t tr = now_ns();
        w.send(&tr, sizeof(tr), 0, kClockTag);
      }
    }
  }
  std::vector<int64_t> shared(offsets);
  shared.push_back(me == 0 ? now_ns() : 0);
  if (n > 1) w.broadcast(shared.data(), int64_t(shared.size()), DType::I64, 0);
  offset_ = shared[size_t(me)];
  origin_ = shared.back();
}

void Timeline::span(Span s) {
  std::lock_guard<std::mutex> lock(mu_);
  if (events_.size() >= max_) {
    ++dropped_;
    return;
  }
  nlohmann::json e = {{"name", s.name}, {"cat", s.cat}, {"ph", "X"}, {"pid", world_->rank()}, {"tid", s.lane},
                      {"ts", double(s.start_ns - offset_ - origin_) / 1e3},
                      {"dur", double(std::max<int64_t>(0, s.end_ns - s.start_ns)) / 1e3}};
  if (!s.args.is_null()) e["args"] = std::move(s.args);
  events_.push_back(std::move(e));
  if (std::find(lanes_.begin(), lanes_.end(), s.lane) == lanes_.end()) lanes_.push_back(s.lane);
}

void Timeline::step(int64_t step, int64_t t_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  events_.push_back({{"name", "step " + std::to_string(step)}, {"cat", "step"}, {"ph", "i"}, {"s", "p"},
                     {"pid", world_->rank()}, {"ts", double(t_ns - offset_ - origin_) / 1e3}});
}

void Timeline::add_graph(const Graph& g, const std::vector<TraceEvent>& events, int64_t batch) {
  for (const TraceEvent& e : events) {
    const Node& n = g.node(e.node);
    Span s{n.name, n.op, e.thread, e.start_ns, e.end_ns, nullptr};
    if (is_comm_op(n.op)) {
      s.lane = kCommLane;
      double bytes = 0;
      std::vector<std::string> names;
      for (const Output& in : n.inputs) {
        const Node& src = g.node(in.node);
        Shape sh = src.out_shapes.at(size_t(in.index));
        for (auto& d : sh)
          if (d < 0) d = batch;
        bytes += double(numel(sh)) * double(dtype_size(src.out_dtypes.at(size_t(in.index))));
        if (names.size() < 8) names.push_back(src.name);
      }
      s.args = {{"bytes", bytes}, {"tensors", names}, {"inputs", n.inputs.size()}};
    }
    span(std::move(s));
  }
}

size_t Timeline::write(const std::string& path) {
  comm::Communicator& w = *world_;
  const int me = w.rank(), n = w.size();
  nlohmann::json meta = nlohmann::json::array();
  meta.push_back({{"name", "process_name"}, {"ph", "M"}, {"pid", me}, {"args", {{"name", "rank " + std::to_string(me) + " (" + role_ + ")"}}}});
  meta.push_back({{"name", "process_sort_index"}, {"ph", "M"}, {"pid", me}, {"args", {{"sort_index", me}}}});
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int lane : lanes_) {
      meta.push_back({{"name", "thread_name"}, {"ph", "M"}, {"pid", me}, {"tid", lane}, {"args", {{"name", lane_name(lane)}}}});
      meta.push_back({{"name", "thread_sort_index"}, {"ph", "M"}, {"pid", me}, {"tid", lane}, {"args", {{"sort_index", lane}}}});
    }
    for (auto& e : events_) meta.push_back(std::move(e));
    events_ = nlohmann::json::array();
  }
  std::string mine = meta.dump();
  const auto sizes = n > 1 ? w.allgather_u64(mine.size()) : std::vector<uint64_t>{mine.size()};
  const auto dropped = n > 1 ? w.allgather_u64(dropped_) : std::vector<uint64_t>{dropped_};
  if (me != 0) {
    w.send(mine.data(), mine.size(), 0, kGatherTag);
    return 0;
  }
  nlohmann::json all = nlohmann::json::parse(mine);
  for (int r = 1; r < n; ++r) {
    std::string buf(size_t(sizes[size_t(r)]), '\0');
    w.recv(buf.data(), buf.size(), r, kGatherTag);
    for (auto& e : nlohmann::json::parse(buf)) all.push_back(std::move(e));
  }
  uint64_t lost = 0;
  for (uint64_t d : dropped) lost += d;
  nlohmann::json doc = {{"traceEvents", all}, {"displayTimeUnit", "ms"},
                        {"otherData", {{"ranks", n}, {"dropped_spans", lost}, {"clock", "rank 0's steady clock, offsets measured at start"}}}};
  std::filesystem::path p(path);
  std::error_code ec;
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), ec);
  write_file_atomic(path, doc.dump());
  return all.size();
}

}  // namespace train
}  // namespace ft
