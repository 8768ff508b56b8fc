// loss_scale.h — dynamic loss scaling for fp16 training. The loss is multiplied
// by scale() before gradients are taken; unscale() divides the gradients back,
// reports whether they are all finite (apply the step) or not (skip it), and
// adapts the scale: backoff on overflow, growth after growth_interval clean steps.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace ft {
namespace optim {

struct LossScaleOptions {
  double init_scale = 65536.0;
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  int64_t growth_interval = 2000;
  double min_scale = 1.0;
  double max_scale = 16777216.0;  // 2^24
};

class DynamicLossScaler {
 public:
  explicit DynamicLossScaler(const LossScaleOptions& o = {});
  double scale() const { return scale_; }
  // Divides f32/f64 gradients by scale() in place. Returns false (and backs off)
  // when any value is inf or NaN: the caller skips the optimizer step.
  bool unscale(const std::vector<Tensor>& grads);
  int64_t skipped() const { return skipped_; }
  int64_t good_steps() const { return good_; }
  // For checkpoints.
  void restore(double scale, int64_t good_steps, int64_t skipped = 0);

 private:
  LossScaleOptions o_;
  double scale_;
  int64_t good_ = 0, skipped_ = 0;
};

}  // namespace optim
}  // namespace ft
