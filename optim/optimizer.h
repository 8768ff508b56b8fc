// optimizer.h — the Optimizer base: updates host f32 tensors in place, outside
// the graph, keeping per-parameter state (slots) keyed by name.
//
// A ParamRef is any contiguous f32 buffer with a name: a whole variable on a
// worker, or one chunk of a variable on a parameter server (name it e.g.
// "fc1/w:3"). State is keyed by that name, so a server calls step() with its own
// chunk tensors and chunk names and the state follows the chunks. LAMB's trust
// ratio is computed per ParamRef (per chunk when chunked).
//
// Each optimizer is an UpdateRule (optim/device_update.h): the formula and its
// hyperparameters. Host parameters run the host formulas; device-resident ones
// (Tensor::device_ptr(), core/executor.h ResidentVariables) run the update
// kernel the device's backend registered, with the slots allocated on the
// parameter's device and the gradient there too. state() returns host copies,
// and state loaded from a checkpoint moves to the device at the next step.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "optim/device_update.h"

namespace ft {
namespace optim {

struct ParamRef {
  std::string name;  // parameter (or chunk) name: the key of its state
  Tensor value;      // f32, updated in place
  Tensor grad;       // f32, same number of elements as value
};

// Optimizer state for checkpoints: "<param>/<slot>" -> tensor. Slots are f32
// tensors shaped like the parameter ("m", "v", "momentum"); "<param>/t" is an
// i64 scalar holding how many updates that parameter received.
struct OptimizerState {
  int64_t step = 0;  // number of step() calls
  std::map<std::string, Tensor> tensors;
};

// Decides per parameter name whether weight decay applies (true = decay).
using DecayFilter = std::function<bool(const std::string& name)>;

// Default: no decay for names with a path component (split on '/', chunk suffix
// after ':' ignored) that contains "LayerNorm", "layer_norm" or "bias", that is
// "b" / "beta" / "gamma", or that is "ln" optionally followed by '_' or a digit
// ("ln_f", "ln1").
bool default_decays(const std::string& name);
// No decay when the name contains any of `substrings`.
DecayFilter decay_unless_contains(std::vector<std::string> substrings);

class Optimizer {
 public:
  Optimizer(double lr, double weight_decay);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  virtual std::string type() const = 0;  // "sgd", "adam", ...
  // The formula and hyperparameters every update applies.
  virtual UpdateRule rule() const = 0;

  // Applies one update to every parameter with the current learning rate.
  // Thread-safe for calls with disjoint parameter names (a server applying
  // pushes for different chunks concurrently).
  void step(const std::vector<ParamRef>& params);

  void set_lr(double lr) { lr_ = lr; }
  // A pool for the host update: a large parameter's blocks are split over it
  // (the elementwise rules; the same bits at any thread count). None: the
  // calling thread alone.
  void set_pool(ThreadPool* pool) { pool_ = pool; }
  double lr() const { return lr_.load(); }
  double weight_decay() const { return weight_decay_; }
  void set_decay_filter(DecayFilter f) { decays_ = std::move(f); }
  bool decays(const std::string& name) const { return weight_decay_ != 0 && (!decays_ || decays_(name)); }
  int64_t steps() const { return steps_; }

  // The names of the per-parameter state slots ("m", "v", ...; none for plain SGD).
  std::vector<std::string> slots() const { return slot_names(); }
  OptimizerState state() const;
  // Replaces all state; parameters absent from `s` start fresh.
  void load_state(const OptimizerState& s);
  void reset();

 protected:
  // Per-parameter state: update count and the slot buffers (slot_names() order).
  struct Slots {
    int64_t t = 0;
    std::vector<Tensor> bufs;
  };
  virtual std::vector<std::string> slot_names() const = 0;
  std::atomic<double> last_ratio_{1.0};  // LAMB's trust ratio of the latest update computed on the host

 private:
  Slots& slots_for(const ParamRef& p);
  std::atomic<double> lr_;
  ThreadPool* pool_ = nullptr;
  double weight_decay_;
  DecayFilter decays_ = default_decays;
  std::atomic<int64_t> steps_{0};
  mutable std::mutex mu_;
  std::map<std::string, Slots> slots_;
};

}  // namespace optim
}  // namespace ft
