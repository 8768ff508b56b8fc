// executor.h — compiles and runs a Graph.
//
// run(feeds, fetches) compiles a plan once per (fetch set, fed nodes, feed
// shapes) and caches it:
//   * the nodes the fetches need, in id (= topological) order, with concrete
//     shapes inferred from the feed shapes and a kernel chosen per
//     (op, device, dtype);
//   * a memory plan: every intermediate gets a buffer in one arena allocated
//     once per plan; a buffer is reused (best fit) once all readers of its
//     previous tensor have run, and the reuse is made safe under concurrency by
//     adding dependency edges from those readers to the new producer;
//   * dependency counts, so independent ready nodes run concurrently on the
//     thread pool and asynchronous ops (communication) complete through a
//     callback while other nodes keep running.
// Devices: the plan places every node (core/placement.h) on its requested
// device (the node's device_scope(), else the executor's default device) when
// that device has a kernel for it, else on "cpu", and inserts one copy step per
// (value, destination device) at the edges that cross devices. Each device has
// its own arena, planned the same way; copy steps use the Device's copy
// functions (core/device.h). A value fetched from a device is copied to the
// host, and run() synchronizes every device of the plan before it returns.
// On an all-cpu plan there are no copies and nothing else changes.
//
// Fetched tensors are host tensors (unless fetch_on_device, below): views into the plan's cpu arena, valid until
// the next run of the same plan (of any plan sharing its HostArena, below);
// clone() them to keep them. Variables and
// constants are read in place from the Graph; fed tensors are read in place
// (not copied) by cpu nodes and copied once per run to a device that reads them.
// A fed tensor already on a device (a staged input, core/input_stager.h) places
// its leaf there: it is read in place on that device and copied only to others.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/graph.h"
#include "core/op_registry.h"
#include "core/placement.h"
#include "core/thread_pool.h"

namespace ft {

// Per op type: total kernel time (ns) and count, summed over runs.
struct Profile {
  std::mutex mu;
  std::map<std::string, std::pair<int64_t, int64_t>> by_op;
  void add(const std::string& op, int64_t ns);
};

struct TraceEvent {
  int node;                  // graph node (copy steps between devices are not traced)
  int64_t start_ns, end_ns;  // steady clock; for async ops end = completion
  int thread;                // 0 = the calling thread
};

struct RunOptions {
  int64_t step = 0;
  bool training = true;
  const Resources* resources = nullptr;
  Profile* profile = nullptr;
  std::vector<TraceEvent>* trace = nullptr;  // appended to, if set
};

struct PlanStats {
  int nodes = 0;
  int buffers = 0;
  size_t arena_bytes = 0;      // planned peak of intermediates (all devices' arenas)
  size_t unplanned_bytes = 0;  // what one buffer per intermediate would take
  int reuse_edges = 0;
  int copies = 0;              // copy steps between devices
};

// Host memory for the cpu arenas of the plans of one or more executors that
// never run at the same time (a trainer's step and its evaluation): they take
// turns in the same bytes, so the memory is as big as the biggest plan, not the
// sum of all. A plan's views are rebound when the memory had to grow. Without
// one, each plan allocates its own arena when compiled.
class HostArena {
 public:
  // At least `bytes` of 64-byte-aligned memory; growing frees the old block first.
  char* reserve(size_t bytes);
  size_t bytes() const { return bytes_; }

 private:
  Tensor mem_;
  size_t bytes_ = 0;
};

// Device-resident state: one device's copies of a Graph's variables and
// constants, kept across runs. Plans of executors given it (set_resident) read
// these instead of copying the host values to the device every run; whatever
// updates a variable in place on the device (the optimizer) is seen by the next
// run. Each value is uploaded once, when first used (after a checkpoint was
// loaded into the Graph). The Graph's host values of variables are stale
// meanwhile: download() brings them back (before a checkpoint, an export).
class ResidentVariables {
 public:
  ResidentVariables(Graph& g, Device& d) : g_(g), dev_(d) {}
  Device& device() const { return dev_; }
  // The device copy of value node `node`, allocated and uploaded on first use.
  Tensor& of(int node);
  Tensor& of(const Value& v) { return of(v.node()); }
  void download();  // every held variable: device -> the Graph's host value
  size_t bytes() const;
  size_t size() const { return held_.size(); }

 private:
  Graph& g_;
  Device& dev_;
  mutable std::mutex mu_;
  std::map<int, Tensor> held_;
};

class Executor {
 public:
  using Feeds = std::vector<std::pair<Value, Tensor>>;

  // `device`: where nodes without a device_scope() go (with cpu fallback per op).
  explicit Executor(Graph& g, ThreadPool* pool = nullptr, std::string device = "cpu");
  ~Executor();

  std::vector<Tensor> run(const Feeds& feeds, const std::vector<Value>& fetches, const RunOptions& opt = {});

  // The plan that run() would use, compiled if needed: its stats and node order.
  const PlanStats& stats(const Feeds& feeds, const std::vector<Value>& fetches);
  // Stats of the plan the last run() used (zeros before the first run).
  const PlanStats& last_stats() const;
  std::vector<int> order(const Feeds& feeds, const std::vector<Value>& fetches);  // graph nodes only
  // The output shapes of every graph node that plan computes, resolved from the
  // feeds' shapes (a node a fused step absorbs has the shape of the step output
  // it feeds or becomes).
  std::map<int, std::vector<Shape>> shapes(const Feeds& feeds, const std::vector<Value>& fetches);
  // The placement of that plan (opens its devices; place_devices() needs none).
  const DevicePlacement& placement(const Feeds& feeds, const std::vector<Value>& fetches);
  const std::string& device() const { return device_; }
  // Plans compiled from now on take their cpu arena from `arena`, shared with
  // whatever else uses it; their fetched tensors are then valid until the next
  // run of any of those. Runs of executors sharing one must not overlap.
  void set_host_arena(std::shared_ptr<HostArena> arena) { host_arena_ = std::move(arena); }
  // Plans compiled from now on read variables and constants from `r`'s device
  // (placed there; cpu readers get a copy), and return fetched device values as
  // device tensors (Tensor::device_ptr()) when fetch_on_device, not host copies.
  void set_resident(std::shared_ptr<ResidentVariables> r) { resident_ = std::move(r); }
  void set_fetch_on_device(bool on) { fetch_on_device_ = on; }
  // Plans compiled from now on fuse conv2d or matmul -> bias add -> relu into one step
  // (the default), or run each node as built (for comparing the two).
  void set_fusion(bool on) { fuse_ = on; }

  struct Plan;

 private:
  Plan& plan_for(const Feeds& feeds, const std::vector<Value>& fetches);
  std::unique_ptr<Plan> compile(const Feeds& feeds, const std::vector<Value>& fetches);
  std::map<int, std::vector<int>> find_fusions(Plan& P, const DevicePlacement& placed,
                                               const std::map<int, size_t>& fed_index,
                                               const std::vector<Value>& fetches) const;
  Graph& g_;
  ThreadPool* pool_;
  std::string device_ = "cpu";
  std::map<std::string, std::unique_ptr<Plan>> plans_;
  const Plan* last_ = nullptr;
  std::shared_ptr<HostArena> host_arena_;
  std::shared_ptr<ResidentVariables> resident_;
  bool fetch_on_device_ = false;
  bool fuse_ = true;
};

int64_t now_ns();

}  // namespace ft
