// loss_scale.h — dynamic loss scaling for mixed-precision training.
//
// The loss is multiplied by scale() before gradients are taken (so small fp16
// gradients do not flush to zero); unscale() multiplies the gradients by
// 1/scale() in fp32 and reports whether all of them are finite. update() is
// called once per step with the negation of that answer:
//   * inf/nan in any gradient: the step is skipped (returns false), the scale is
//     multiplied by backoff (not below min_scale) and the clean-step count restarts;
//   * otherwise the step is applied (returns true); after growth_interval
//     consecutive clean steps the scale is multiplied by growth (up to max_scale).
// scale(), clean_steps() and skipped_steps() are the whole state: restore() puts
// them back from a checkpoint.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace ft {
namespace optim {

struct LossScalerConfig {
  double init_scale = 65536.0;
  double growth = 2.0;
  double backoff = 0.5;
  int64_t growth_interval = 2000;
  double min_scale = 1.0;
  double max_scale = 16777216.0;  // 2^24
};

class LossScaler {
 public:
  explicit LossScaler(const LossScalerConfig& c = {});  // throws on an inconsistent config
  double scale() const { return scale_; }
  bool update(bool found_inf);
  // Multiplies every gradient (f32 or f64) by 1/scale() in place; returns true
  // when all of them are finite afterwards (pass the negation to update()).
  bool unscale(const std::vector<Tensor*>& grads) const;
  int64_t clean_steps() const { return clean_; }      // since the last scale change
  int64_t skipped_steps() const { return skipped_; }  // in total
  // Checkpointing.
  void restore(double scale, int64_t clean_steps, int64_t skipped_steps);
  const LossScalerConfig& config() const { return c_; }

 private:
  LossScalerConfig c_;
  double scale_;
  int64_t clean_ = 0;
  int64_t skipped_ = 0;
};

}  // namespace optim
}  // namespace ft
