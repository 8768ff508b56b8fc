// loss_scale.cpp — dynamic loss scaling.
#include "optim/loss_scale.h"

#include <Eigen/Core>
#include <algorithm>

namespace ft {
namespace optim {

DynamicLossScaler::DynamicLossScaler(const LossScaleOptions& o) : o_(o), scale_(o.init_scale) {
  if (o.init_scale <= 0 || o.min_scale <= 0 || o.min_scale > o.max_scale)
    throw Error("loss scale: need 0 < min_scale <= max_scale and init_scale > 0");
  if (o.growth_factor < 1 || o.backoff_factor <= 0 || o.backoff_factor >= 1)
    throw Error("loss scale: need growth_factor >= 1 and backoff_factor in (0, 1)");
  if (o.growth_interval <= 0) throw Error("loss scale: growth_interval must be > 0");
}

bool DynamicLossScaler::unscale(const std::vector<Tensor>& grads) {
  bool finite = true;
  for (Tensor g : grads) {
    if (g.dtype() == DType::F32) {
      Eigen::Map<Eigen::ArrayXf> a(g.data<float>(), g.numel());
      a *= float(1.0 / scale_);
      finite = finite && a.isFinite().all();
    } else if (g.dtype() == DType::F64) {
      Eigen::Map<Eigen::ArrayXd> a(g.data<double>(), g.numel());
      a *= 1.0 / scale_;
      finite = finite && a.isFinite().all();
    } else {
      throw Error(std::string("loss scale: gradient of dtype ") + dtype_name(g.dtype()) + " (need f32 or f64)");
    }
  }
  if (!finite) {
    scale_ = std::max(o_.min_scale, scale_ * o_.backoff_factor);
    good_ = 0;
    ++skipped_;
    return false;
  }
  if (++good_ >= o_.growth_interval) {
    scale_ = std::min(o_.max_scale, scale_ * o_.growth_factor);
    good_ = 0;
  }
  return true;
}

void DynamicLossScaler::restore(double scale, int64_t good_steps, int64_t skipped) {
  if (scale <= 0) throw Error("loss scale: restored scale must be > 0");
  scale_ = scale;
  good_ = good_steps;
  skipped_ = skipped;
}

}  // namespace optim
}  // namespace ft
