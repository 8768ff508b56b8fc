// model.h — builds the configured model (model.type) as a graph with its loss.
#pragma once

#include <string>
#include <vector>

#include "core/core.h"
#include "nn/parallel.h"
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

// The dataset of a task as loader columns: the first dim of each column is the
// example index; column i feeds Model::inputs[i].
struct TaskData {
  std::vector<Tensor> train;
  std::vector<Tensor> eval;
  int64_t vocab_size = 0;  // bert: size of the vocabulary the data was tokenized with
  std::string describe;    // one line for the log
};

// Loads the data model.type needs from data.dir (clear errors on bad files).
TaskData load_task_data(const Config& cfg);

// Builds the model named by cfg model.type into g. With tp.size > 1 this rank's
// part of a tensor-parallel model (nn/parallel.h): MLP hidden layers alternate
// column- and row-parallel; BERT splits attention heads and the FFN.
Model build_model(Graph& g, const Config& cfg, const TaskData& data, const nn::TensorParallel& tp = {});

}  // namespace train
}  // namespace ft
