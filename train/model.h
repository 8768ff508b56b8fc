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
};

struct ModelGraph {
  std::vector<Value> inputs;  // placeholders, fed from the dataset's columns in this order
  Value loss;                 // scalar training loss
  Value logits;               // optional (P, C): one row per prediction
  Value labels;               // optional (P) int labels of those rows (< 0 = ignored)
  std::map<std::string, Value> metrics;  // optional scalars, averaged over evaluation batches
};

class Model {
 public:
  virtual ~Model() = default;
  virtual ModelGraph build(Graph& g, const BuildContext& ctx) = 0;
};

}  // namespace train
}  // namespace ft
