// trainer.h — the training loop behind `train`: builds the model from the
// config, the data loader (sharded per rank), the distribution strategy, the
// optimizer and schedule; runs steps, logs metrics, evaluates, checkpoints.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "core/core.h"
#include "optim/factory.h"
#include "optim/loss_scale.h"
#include "optim/schedule.h"
#include "train/config.h"
#include "train/metrics.h"
#include "train/model.h"

namespace ft {
namespace train {

struct TrainResult {
  int64_t steps = 0;
  double last_loss = 0;
  double eval_loss = 0;
  double eval_accuracy = 0;
  double samples_per_sec = 0;
  bool is_worker = true;  // false on parameter-server ranks
};

// Everything a strategy needs about the job.
struct TrainContext {
  const Config& cfg;
  comm::CommPtr world;
  Graph& g;
  Model& model;
  std::vector<Value> params;  // trainable variables, in creation order
  std::vector<Value> grads;   // d loss / d param, same order
  optim::Optimizer& opt;
  ThreadPool& pool;
  MetricsLog& metrics;
  Profile* profile = nullptr;  // set when train.profile: strategies pass it in RunOptions
  // distributed.model_parallel (train/mp.h): the data-parallel group gradients are
  // averaged over (the world when model_parallel = 1) and the model-parallel group
  // (null when model_parallel = 1).
  comm::CommPtr dp_comm = nullptr, mp_comm = nullptr;
  // Dynamic loss scaling (train.loss_scale; null = off): grads are d(loss * s)/d param
  // with s fed to the scalar placeholder `loss_scale`; the strategy unscales them
  // and skips the update when they are not finite.
  optim::LossScaler* scaler = nullptr;
  Value loss_scale{};
};

// How gradients become updates. allreduce-sync: average over ranks, update
// locally; ps-*: push to servers, pull parameters back.
class Strategy {
 public:
  virtual ~Strategy() = default;
  virtual std::string name() const = 0;
  // Called once, after the model and its gradients are built and before any step.
  virtual void setup(TrainContext& ctx) = 0;
  // One optimizer step on this rank's batch; returns the (rank-local) loss. With
  // ctx.scaler a step whose gradients are not finite changes no parameter and no
  // optimizer state (ctx.scaler counts it and lowers the scale).
  virtual double step(TrainContext& ctx, const Executor::Feeds& feeds, int64_t step, double lr) = 0;
  // Makes ctx.g's variables hold the current global parameters (for eval/checkpoint).
  virtual void sync_params(TrainContext& ctx) {}
  virtual void finish(TrainContext& ctx) {}
  // Extra numbers for the metrics record of a log step.
  virtual void log_fields(nlohmann::json& rec) {}
  // Where the executor should append its per-node timeline (train.trace_file); null = off.
  virtual void set_trace(std::vector<TraceEvent>* trace) {}
  // Ranks that read data (workers), and this rank's place among them.
  virtual bool is_worker(int rank) const { return true; }
  virtual int data_rank(int rank) const { return rank; }
  virtual int data_world(int size) const { return size; }
  // The worker that logs, evaluates and writes checkpoints.
  virtual bool is_chief(int rank) const { return rank == 0; }
  // Non-worker ranks (parameter servers) run this instead of the loop.
  virtual void serve(TrainContext& ctx) {}
};

std::unique_ptr<Strategy> make_allreduce_strategy(const Config& cfg);
// The strategy for distributed.mode (train/strategy.cpp).
std::unique_ptr<Strategy> make_strategy(const Config& cfg, const comm::CommPtr& world);

class Trainer {
 public:
  Trainer(Config cfg, comm::CommPtr world);
  // resume: "" = fresh start; a checkpoint folder (or the checkpoint dir) to continue from.
  TrainResult run(const std::string& resume = "");
  // On resume, start the optimizer afresh (its slots zero) instead of requiring
  // the checkpoint's optimizer state.
  void set_reset_optimizer(bool on) { reset_optimizer_ = on; }

 private:
  Config cfg_;
  comm::CommPtr world_;
  bool reset_optimizer_ = false;
};

// Threads for this rank: train.threads, or the node's cores divided by the ranks on it.
int threads_for_rank(const Config& cfg);

}  // namespace train
}  // namespace ft
