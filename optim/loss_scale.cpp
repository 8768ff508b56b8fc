// loss_scale.cpp — the dynamic loss scaler.
#include "optim/loss_scale.h"

#include "optim/device_update.h"

#include <Eigen/Core>
#include <algorithm>
#include <string>

namespace ft {
namespace optim {

LossScaler::LossScaler(const LossScalerConfig& c) : c_(c), scale_(c.init_scale) {
  if (!(c.init_scale > 0)) throw Error("LossScaler: init_scale must be > 0, got " + std::to_string(c.init_scale));
  if (!(c.growth > 1)) throw Error("LossScaler: growth must be > 1, got " + std::to_string(c.growth));
  if (!(c.backoff > 0 && c.backoff < 1))
    throw Error("LossScaler: backoff must be in (0, 1), got " + std::to_string(c.backoff));
  if (c.growth_interval < 1)
    throw Error("LossScaler: growth_interval must be >= 1, got " + std::to_string(c.growth_interval));
  if (!(c.min_scale > 0 && c.min_scale <= c.max_scale))
    throw Error("LossScaler: need 0 < min_scale <= max_scale");
}

bool LossScaler::update(bool found_inf) {
  if (found_inf) {
    scale_ = std::max(c_.min_scale, scale_ * c_.backoff);
    clean_ = 0;
    ++skipped_;
    return false;
  }
  if (++clean_ >= c_.growth_interval) {
    scale_ = std::min(c_.max_scale, scale_ * c_.growth);
    clean_ = 0;
  }
  return true;
}

bool LossScaler::unscale(const std::vector<Tensor*>& grads) const {
  const double inv = 1.0 / scale_;
  bool finite = true;
  for (Tensor* g : grads) {
    if (g->dtype() == DType::F32 && g->device_ptr()) {  // on a device: its kernel
      Device& d = *g->device_ptr();
      finite = device_update_for(d, [] { return std::string("a gradient"); }).unscale(d, static_cast<float*>(g->raw()), g->numel(), inv) && finite;
    } else if (g->dtype() == DType::F32) {
      finite = host_unscale(g->data<float>(), g->numel(), inv) && finite;
    } else if (g->dtype() == DType::F64) {
      Eigen::Map<Eigen::ArrayXd> a(g->data<double>(), g->numel());
      a *= inv;
      finite = finite && a.isFinite().all();
    } else {
      throw Error(std::string("LossScaler::unscale: gradients must be f32 or f64, got ") + dtype_name(g->dtype()));
    }
  }
  return finite;
}

void LossScaler::restore(double scale, int64_t clean_steps, int64_t skipped_steps) {
  if (!(scale > 0)) throw Error("LossScaler::restore: scale must be > 0, got " + std::to_string(scale));
  scale_ = scale;
  clean_ = clean_steps;
  skipped_ = skipped_steps;
}

}  // namespace optim
}  // namespace ft
