// update.cpp
#include "train/update.h"

#include <cmath>

#include "core/device.h"
#include "optim/clip.h"
#include "optim/device_update.h"

namespace ft {
namespace train {

Update::Update(const RunConfig& cfg, comm::CommPtr agree)
    : clip_norm_(cfg.train.clip_norm), check_numerics_(cfg.debug.check_numerics), agree_(std::move(agree)) {
  init_scale_ = cfg.train.loss_scale;
  if (init_scale_ == 0 && cfg.precision == "fp16") init_scale_ = 65536;
  if (init_scale_ > 0) {
    optim::LossScalerConfig lc;
    lc.init_scale = init_scale_;
    lc.growth_interval = cfg.train.loss_scale_window;
    lc.max_scale = std::max(lc.max_scale, init_scale_);
    scaler_ = std::make_unique<optim::LossScaler>(lc);
  }
}

Value Update::scale_input(Graph& g) {
  if (scaler_) {
    scale_in_ = g.placeholder("loss_scale", {}, DType::F32);
    feeds_ = {{scale_in_, scale_}};
  }
  return scale_in_;
}

const Executor::Feeds& Update::feeds() {
  if (scaler_) scale_.data<float>()[0] = float(scaler_->scale());
  return feeds_;
}

bool Update::prepare(std::vector<Tensor>& grads, const std::vector<Value>& params, int64_t step) {
  // Gradients on a device go through the kernels its backend registered
  // (optim/device_update.h): unscaling, clipping and the check run there.
  // The reduced gradients are the same on every rank of the data-parallel group,
  // so every rank takes the same decision.
  if (scaler_) {
    std::vector<Tensor*> gp;
    for (Tensor& t : grads) gp.push_back(&t);
    int32_t overflow = scaler_->unscale(gp) ? 0 : 1;
    if (agree_) agree_->allreduce(&overflow, 1, DType::I32, comm::ReduceOp::Max);
    if (!scaler_->update(overflow != 0)) return false;  // skipped: parameters and optimizer state unchanged
  }
  if (clip_norm_ > 0) optim::clip_by_global_norm(grads, clip_norm_);
  if (check_numerics_)
    for (size_t i = 0; i < grads.size(); ++i) {
      const Tensor& g = grads[i];
      Device* d = g.device_ptr();
      const bool finite = d ? optim::device_update_for(*d, [&] { return "the gradient of '" + params[i].name() + "'"; })
                                  .all_finite(*d, static_cast<const float*>(g.raw()), g.numel())
                            : optim::host_all_finite(g.data<float>(), g.numel());
      if (!finite)
        throw Error("step " + std::to_string(step + 1) + ": gradient of '" + params[i].name() + "' is not finite");
    }
  return true;
}

void Update::save(TrainState& s) const {
  if (!scaler_) return;
  s.has_loss_scale = true;
  s.loss_scale = scaler_->scale();
  s.loss_scale_clean_steps = scaler_->clean_steps();
  s.skipped_steps = scaler_->skipped_steps();
}

void Update::restore(const TrainState& s) {
  if (scaler_ && s.has_loss_scale) scaler_->restore(s.loss_scale, s.loss_scale_clean_steps, s.skipped_steps);
}

double Update::scale() const { return scaler_ ? scaler_->scale() : 1.0; }
int64_t Update::skipped_steps() const { return scaler_ ? scaler_->skipped_steps() : 0; }

}  // namespace train
}  // namespace ft
