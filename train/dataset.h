// dataset.h — the Dataset interface: examples as columns of tensors whose first
// dimension is the example index, a training and an evaluation split.
//
// Column i feeds ModelGraph::inputs[i] (train/model.h). The Trainer serves any
// dataset the same way (data/loader.h): each rank takes its shard of every
// global batch, the order of an epoch is a permutation that depends only on
// (train.seed, epoch), the next batch is prefetched on a thread, and the
// position is saved in checkpoints so a resume continues with the same batches.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace ft {
namespace train {

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual std::vector<Tensor> train() const = 0;
  virtual std::vector<Tensor> eval() const = 0;
  virtual std::string describe() const = 0;  // one line for the log
  // Files the run folder keeps beside the checkpoints (name -> contents), e.g.
  // the vocab.txt a text dataset used or built.
  virtual std::map<std::string, std::string> artifacts() const { return {}; }
  // Sizes a model may take from its data rather than from its config
  // (BuildContext::data): e.g. "features" and "classes" of a table.
  virtual std::map<std::string, int64_t> dims() const { return {}; }
};

// A dataset held in memory as given.
class TensorDataset : public Dataset {
 public:
  TensorDataset(std::vector<Tensor> train, std::vector<Tensor> eval, std::string describe,
                std::map<std::string, std::string> artifacts = {})
      : train_(std::move(train)), eval_(std::move(eval)), describe_(std::move(describe)),
        artifacts_(std::move(artifacts)) {}
  std::vector<Tensor> train() const override { return train_; }
  std::vector<Tensor> eval() const override { return eval_; }
  std::string describe() const override { return describe_; }
  std::map<std::string, std::string> artifacts() const override { return artifacts_; }

 private:
  std::vector<Tensor> train_, eval_;
  std::string describe_;
  std::map<std::string, std::string> artifacts_;
};

}  // namespace train
}  // namespace ft
