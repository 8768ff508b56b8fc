// stall.h — stall detection for collectives. Graph communication kernels note
// each collective when it is issued and clear it on completion; a StallWatch
// thread reports any collective that has waited longer than a threshold,
// naming the bucket and its tensors, once per collective (then again at every
// further multiple of the threshold). Every rank that waits prints the line,
// and names the ranks that have not arrived with their hosts: the backend's
// not_arrived() (shared-memory flags, else the progress channel of
// comm/progress.h).
// With a timeout, a collective waiting that long calls on_timeout with a line
// naming this rank, its host and the ranks missing (the trainer ends the job);
// a rank that cannot name them waits min(2 s, timeout) longer, so that one
// that can ends the job first.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ft {
namespace comm {

// Process-wide table of collectives in flight: key -> (start time, description).
// It also counts the gradient collectives this process has entered and left
// (begin/end): the collectives of a data-parallel group run in one order on
// every rank, so a rank whose count of entered collectives is below the
// sequence number of the one this rank waits on has not reached it
// (comm/progress.h asks the peers for theirs when a stall is reported).
class Inflight {
 public:
  static Inflight& get();
  void begin(int64_t key, const std::string& what);
  void end(int64_t key);
  struct Entry {
    double start_s;
    std::string what;
    int warned = 0;
  };
  // Collectives entered and left by this process (relaxed reads; any thread).
  int64_t entered() const { return entered_.load(std::memory_order_relaxed); }
  int64_t left() const { return left_.load(std::memory_order_relaxed); }
  // Calls f for entries older than `after_s` seconds (updates their warned count).
  void overdue(double after_s, const std::function<void(int64_t, const Entry&, double)>& f);
  // The oldest entry in flight: false when none; else its key, entry and age.
  bool oldest(int64_t* key, Entry* e, double* waited);

 private:
  std::mutex mu_;
  std::map<int64_t, Entry> m_;
  std::atomic<int64_t> entered_{0}, left_{0};
};

// Notes a blocking collective as in flight for its scope (keys unique among
// those in flight: buckets are 0.., the step boundary kStepKey, model-parallel
// collectives kMpKey + node id).
class InflightScope {
 public:
  InflightScope(int64_t key, const std::string& what) : key_(key) { Inflight::get().begin(key, what); }
  ~InflightScope() { Inflight::get().end(key_); }
  InflightScope(const InflightScope&) = delete;
  InflightScope& operator=(const InflightScope&) = delete;

 private:
  int64_t key_;
};
constexpr int64_t kMpKey = int64_t(1) << 40;
constexpr int64_t kStepKey = kMpKey - 1;  // the ranks' agreement at a step boundary (Strategy::agree_stop)

double monotonic_s();

class StallWatch {
 public:
  // describe(key) names the bucket's tensors; log(line) prints it;
  // not_arrived(key), when given and non-empty, names the ranks still missing
  // from the collective noted under key.
  StallWatch(int rank, double threshold_s, std::function<std::string(int64_t)> describe,
             std::function<void(const std::string&)> log,
             std::function<std::vector<int>(int64_t)> not_arrived = {});
  // Where ranks run (host_of(rank), "" when unknown), and the timeout: 0 waits
  // forever; else on_timeout(line) once, for the first collective that waits
  // timeout_s. Call before the first collective.
  void set_hosts(std::function<std::string(int)> host_of);
  void set_timeout(double timeout_s, std::function<void(const std::string&)> on_timeout);
  ~StallWatch();
  StallWatch(const StallWatch&) = delete;
  StallWatch& operator=(const StallWatch&) = delete;
  int warnings() const { return warnings_.load(); }

 private:
  void loop();
  std::string who(const std::vector<int>& ranks) const;  // "rank 3 (ft-b)", "ranks 1 (a), 3 (b)"
  int rank_;
  double threshold_;
  std::function<std::string(int64_t)> describe_;
  std::function<void(const std::string&)> log_;
  std::function<std::vector<int>(int64_t)> not_arrived_;
  std::function<std::string(int)> host_of_;
  double timeout_ = 0;
  std::function<void(const std::string&)> on_timeout_;
  bool timed_out_ = false;
  std::atomic<int> warnings_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace comm
}  // namespace ft
