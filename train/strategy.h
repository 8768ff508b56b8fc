// strategy.h — how ranks cooperate on a step: only what differs between
// distribution strategies lives here.
//
//   roles()    which ranks read data and step (workers), which one logs, evaluates and
//              checkpoints (chief), and each worker's shard of the data;
//   setup()    the graph rewrite (allreduce buckets) and the ranks' set-up (the
//              broadcast of initial values, the parameter servers' shards);
//   compute()  forward, backward and the gradient reduction of one step;
//   apply()    where the prepared gradients update the parameters: on this rank's
//              optimizer (allreduce-sync) or on the servers (ps-*: a push);
//   agree_stop() whether the ranks stop at this step boundary (a signal arrived);
//   comm_plan() what one step communicates (--dry-run).
// Everything else (unscaling, clipping, the non-finite check: train/update.h; data,
// checkpoints, evaluation, logging: train/trainer.h) is the same for every strategy.
// A strategy is chosen by name from the registry (train/registry.h), with the
// capabilities that the config's validation checks once.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "comm/bucketing.h"
#include "comm/communicator.h"
#include "core/core.h"
#include "optim/optimizer.h"
#include "train/config.h"
#include "train/model.h"
#include "train/timeline.h"

namespace ft {
namespace train {

// What a strategy supports; a config that asks for more is an error at load.
struct StrategyCaps {
  bool model_parallel = false;   // distributed.model_parallel > 1
  bool mixed_precision = false;  // precision fp16 | bf16, train.loss_scale
  bool device_comm = false;      // distributed.backend nccl
};

struct Roles {
  bool worker = true;  // reads data and runs steps (false: a parameter server)
  bool chief = false;  // logs, evaluates and checkpoints
  int data_rank = 0;   // this worker's shard of each global batch, of data_world
  int data_world = 1;
};

// What a strategy works on; owned by the Trainer for one fit().
struct StepContext {
  const RunConfig& cfg;
  comm::CommPtr world;
  comm::CommPtr dp_comm;  // the data-parallel group (the world without model parallelism)
  comm::CommPtr mp_comm;  // the model-parallel group (null without)
  Graph& g;
  const ModelGraph& model;
  std::vector<Value> params;  // trainable variables, in creation order
  std::vector<Value> grads;   // d loss / d param, same order
  optim::Optimizer& opt;
  ThreadPool& pool;
  Profile* profile = nullptr;                // train.profile
  std::vector<TraceEvent>* trace = nullptr;  // train.trace, while steps are traced
  Timeline* timeline = nullptr;              // train.trace: spans besides graph nodes (waits, server applies)
  Executor::Feeds extra;                     // fed every step besides the batch (the loss scale)
  // Host memory the step's executors share with the evaluation's (they never run
  // at once): the peak is the larger plan, not both.
  std::shared_ptr<HostArena> host_arena;
  // Device-resident state (set by a strategy's setup when the run keeps it on
  // the device): the variables the step and the evaluation read there, which
  // the optimizer updates in place; sync_params() brings the host values back.
  std::shared_ptr<ResidentVariables> resident;
};

struct StepResult {
  double loss = 0;             // the logged loss (the global mean where the strategy reduces it)
  std::vector<Tensor> grads;   // in params order, reduced where the strategy reduces
};

// --dry-run lines for the model-parallel collectives and transfers of a graph:
// count and output bytes per op type, unknown dims counted as `batch`.
std::vector<std::string> mp_collectives(const Graph& g, int64_t batch);

// The allreduce strategy's gradient plan: the gradients in the order backward
// produces them (ascending gradient node id: the last layer's first) and their
// fusion buckets of bucket_mb. `order[k]` indexes params/grads; the bucketer's
// tensor k is params[order[k]]. bench/scale_plan predicts from the same plan.
struct GradientPlan {
  std::vector<int> order;
  comm::GradientBucketer bucketer{0};
};
GradientPlan plan_gradient_buckets(const std::vector<Value>& params, const std::vector<Value>& grads, double bucket_mb);

class Strategy {
 public:
  virtual ~Strategy() = default;
  virtual std::string name() const = 0;
  virtual Roles roles(int rank, int size) const = 0;
  virtual void setup(StepContext& ctx) = 0;
  virtual StepResult compute(StepContext& ctx, const Executor::Feeds& batch, int64_t step) = 0;
  // Whether compute() takes the batch on ctx.resident's device: the trainer then
  // uploads each step's batch one step ahead (core/input_stager.h).
  virtual bool stages_inputs(const StepContext& ctx) const { return false; }
  virtual void apply(StepContext& ctx, const std::vector<Tensor>& grads, int64_t step, double lr) = 0;
  // Makes ctx.g's variables the current global parameters (before evaluation and checkpoints).
  virtual void sync_params(StepContext& ctx) {}
  // Non-worker ranks run this instead of the loop.
  virtual void serve(StepContext& ctx) {}
  virtual void finish(StepContext& ctx) {}
  // Extra fields of a metrics record.
  virtual void log_fields(nlohmann::json& rec) const {}
  // Whether every rank stops now: called by every worker at each step boundary
  // with this rank's wish (a signal arrived). The default agrees over the world
  // (one 4-byte allreduce); strategies whose workers do not step together decide
  // per rank.
  virtual bool agree_stop(StepContext& ctx, bool local);
  // --dry-run: the communication of one step, one line each (buckets with bytes,
  // shards per server, model-parallel collectives), and the planned arena of the
  // training step for `batch`.
  virtual std::vector<std::string> comm_plan(StepContext& ctx) const { return {}; }
  virtual size_t arena_bytes(StepContext& ctx, const Executor::Feeds& batch) { return 0; }
};

}  // namespace train
}  // namespace ft
