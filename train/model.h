// model.h — the Model interface: what a user's model, or one of the zoo's, gives
// the Trainer (train/trainer.h). A model builds its forward graph and loss on a
// Graph; the Trainer adds gradients, the strategy's rewrite (buckets, servers) and
// the update, so one model trains under every strategy.
//
// Contract:
//   * build() creates variables with deterministic names (they are seeded by name,
//     checkpointed by name, and sharded by name across parameter servers);
//   * inputs are placeholders with the batch dimension -1, in the order of the
//     dataset's columns (train/dataset.h); their shapes and dtypes are checked
//     against the dataset before the first step;
//   * loss is a scalar; logits (P, C) with labels (P) (int, < 0 = not counted)
//     give accuracy in evaluation; metrics are other scalars averaged over the
//     evaluation batches.
// With tensor parallelism (distributed.model_parallel > 1, a model registered as
// supporting it) build() gets this rank's share in ctx.tp and builds its part of
// the layers (nn/parallel.h).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/core.h"
#include "nn/parallel.h"
#include "train/config.h"

namespace ft {
namespace train {

struct BuildContext {
  const Config& cfg;      // the run's keys: a model reads its own section here
  nn::TensorParallel tp;  // this rank's share of a tensor-parallel model (size 1 = all of it)
  uint64_t seed = 0;      // train.seed, for dropout and other seeded ops
  std::map<std::string, int64_t> data;  // the dataset's dims() ("features", "classes"), when it has them
};

struct ModelGraph {
  std::vector<Value> inputs;  // placeholders, fed from the dataset's columns in this order
  Value loss;                 // scalar training loss
  Value logits;               // optional (P, C): one row per prediction
  Value labels;               // optional (P) int labels of those rows (< 0 = ignored)
  std::map<std::string, Value> metrics;  // optional scalars, averaged over evaluation batches
  std::vector<Value> statistics;  // PassModel: per-batch sums the Trainer totals each pass
  Value predictions;          // optional (N) or (N, K): what `train --predict` writes per row
                              // (classifiers without it write the argmax of logits)
};

class Model {
 public:
  virtual ~Model() = default;
  virtual ModelGraph build(Graph& g, const BuildContext& ctx) = 0;
};

// What one pass of a PassModel reports: metrics for the log (e.g. inertia) and
// whether it has converged.
struct PassResult {
  std::map<std::string, double> metrics;
  bool converged = false;
};

// A model fitted by passes over its data rather than by gradient steps (k-means,
// naive Bayes). build() gives the prediction graph (logits: the highest scores
// the predicted class or cluster) and ModelGraph::statistics. Each pass, the
// Trainer runs the statistics over every training row of this rank's shard,
// sums them over batches in f64 and over the ranks (one allreduce), and hands
// the totals to update(), which sets the model's (non-trainable) variables, so
// every rank holds the same model. distributed.mode allreduce-sync only.
class PassModel : public Model {
 public:
  // Before the passes: constants from the whole training split, which every rank
  // holds, and when `fresh` (not resuming) the initial state, the same on every
  // rank. Returns files to keep in the run folder (name -> contents).
  virtual std::map<std::string, std::string> init(Graph& g, const std::vector<Tensor>& train, uint64_t seed,
                                                  bool fresh) = 0;
  // After pass `pass` (0-based): totals[i] is statistics[i] summed over the training split.
  virtual PassResult update(Graph& g, const std::vector<Tensor>& totals, int64_t pass) = 0;
  virtual int64_t max_passes() const = 0;
};

}  // namespace train
}  // namespace ft
