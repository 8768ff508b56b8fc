// update.h — the one update path of every strategy, between the gradient
// reduction and the optimizer step (train/strategy.h):
//
//   unscale   with dynamic loss scaling (train.loss_scale; fp16 by default), the
//             gradients of loss * s are divided by s; a non-finite one skips the
//             step on every rank alike (the ranks of a model-parallel group, which
//             hold different slices, agree through one max-allreduce of the flag)
//             and lowers s; clean steps raise it;
//   clip      by global norm (train.clip_norm);
//   check     debug.check_numerics: the first non-finite gradient stops the run,
//             named with its step as the log counts it (from 1).
// Then the strategy applies the gradients: this rank's optimizer (allreduce-sync),
// or a push whose update the parameter servers apply with the same optimizer
// (ps-*). The loss scale is a scalar placeholder fed every step (feeds()).
#pragma once

#include <memory>
#include <vector>

#include "comm/communicator.h"
#include "core/core.h"
#include "optim/loss_scale.h"
#include "train/config.h"
#include "train/state.h"

namespace ft {
namespace train {

class Update {
 public:
  // Loss scaling is on when train.loss_scale > 0, or for fp16 (from 65536).
  // `agree`: the group whose ranks must take the same skip decision (may be null).
  Update(const RunConfig& cfg, comm::CommPtr agree);
  // The scalar placeholder the loss is multiplied by (undefined without scaling);
  // call once, on the graph the gradients are taken on.
  Value scale_input(Graph& g);
  bool scaling() const { return scaler_ != nullptr; }
  double initial_scale() const { return init_scale_; }
  // The loss-scale feed of the next step (empty without scaling).
  const Executor::Feeds& feeds();
  // Unscale / skip, clip, check, in place; false = skip this step's update.
  bool prepare(std::vector<Tensor>& grads, const std::vector<Value>& params, int64_t step);
  // Checkpointed state.
  void save(TrainState& s) const;
  void restore(const TrainState& s);
  double scale() const;
  int64_t skipped_steps() const;

 private:
  double clip_norm_;
  bool check_numerics_;
  double init_scale_ = 0;
  comm::CommPtr agree_;
  std::unique_ptr<optim::LossScaler> scaler_;
  Value scale_in_;
  Tensor scale_ = Tensor::empty({}, DType::F32);
  Executor::Feeds feeds_;
};

}  // namespace train
}  // namespace ft
