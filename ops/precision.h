// precision.h — reduced-precision support that runs anywhere (pure C++, no GPU):
// f32 <-> f16 / bf16 conversions with round-to-nearest-even (bit-identical to
// __float2half_rn / __float2bfloat16_rn for every non-NaN input; NaN stays NaN),
// and the dynamic loss scaler of mixed-precision training.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace ft {
namespace precision {

// IEEE binary16: overflow rounds to inf, NaN stays (quiet) NaN, subnormals kept.
uint16_t f32_to_f16_bits(float f);
float f16_bits_to_f32(uint16_t h);
// bfloat16 (the top 16 bits of an f32, rounded to nearest even).
uint16_t f32_to_bf16_bits(float f);
float bf16_bits_to_f32(uint16_t h);

// Converts between F32, F64, F16 and BF16 tensors (a new tensor, same shape).
Tensor convert(const Tensor& x, DType to);
// True when no element is inf or nan (F32, F64, F16, BF16).
bool all_finite(const Tensor& x);

// Dynamic loss scaling: the loss is multiplied by scale() before backward, the
// gradients by 1/scale() after. update(found_inf) is called once per step:
//   * inf/nan in any gradient: the step is skipped (returns false) and the scale
//     multiplied by backoff (not below min_scale); the clean-step count restarts;
//   * otherwise the step is applied (returns true); after growth_interval
//     consecutive clean steps the scale is multiplied by growth (up to max_scale).
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
  explicit LossScaler(const LossScalerConfig& c = {});
  double scale() const { return scale_; }
  bool update(bool found_inf);
  // CPU path: multiplies every gradient by 1/scale() in place; returns true when
  // all of them are finite afterwards (pass the negation to update()).
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

}  // namespace precision
}  // namespace ft
