// model.h — builds the configured model (model.type) as a graph with its loss.
#pragma once

#include <string>
#include <vector>

#include "core/core.h"
#include "train/config.h"

namespace ft {
namespace train {

struct Model {
  std::vector<Value> inputs;  // placeholders, fed from the loader's batch columns in this order
  Value logits;               // (P, C): one row per prediction
  Value labels;               // (P) int labels of those rows (< 0 = ignored)
  Value loss;                 // scalar: mean cross-entropy over counted rows
  std::string task;           // "classify" (MNIST) or "mlm" (BERT)
};

// Builds the model named by cfg model.type into g. `vocab_size` is used by bert.
Model build_model(Graph& g, const Config& cfg);

}  // namespace train
}  // namespace ft
