// clip.cpp — global-norm gradient clipping (a device tensor through its device kernels).
#include "optim/clip.h"

#include <Eigen/Core>
#include <cmath>

#include "optim/device_update.h"

namespace ft {
namespace optim {

double global_norm(const std::vector<Tensor>& grads) {
  double ss = 0;
  for (const Tensor& g : grads) {
    if (g.dtype() == DType::F32 && g.device_ptr()) {  // on a device: its kernel
      Device& d = *g.device_ptr();
      ss += device_update_for(d, [] { return std::string("a gradient"); }).sum_squares(d, static_cast<const float*>(g.raw()), g.numel());
    } else if (g.dtype() == DType::F32)
      ss += host_sum_squares(g.data<float>(), g.numel());
    else if (g.dtype() == DType::F64)
      ss += Eigen::Map<const Eigen::ArrayXd>(g.data<double>(), g.numel()).square().sum();
    else
      throw Error(std::string("global_norm: gradient of dtype ") + dtype_name(g.dtype()) + " (need f32 or f64)");
  }
  return std::sqrt(ss);
}

double clip_by_global_norm(const std::vector<Tensor>& grads, double max_norm) {
  if (max_norm <= 0) throw Error("clip_by_global_norm: max_norm must be > 0, got " + std::to_string(max_norm));
  const double norm = global_norm(grads);
  if (!std::isfinite(norm) || norm <= max_norm) return norm;
  const double s = max_norm / norm;
  for (Tensor g : grads) {
    if (g.dtype() == DType::F32 && g.device_ptr()) {
      Device& d = *g.device_ptr();
      device_update_for(d, [] { return std::string("a gradient"); }).scale(d, static_cast<float*>(g.raw()), g.numel(), float(s));
    } else if (g.dtype() == DType::F32) {
      host_scale(g.data<float>(), g.numel(), float(s));
    } else {
      Eigen::Map<Eigen::ArrayXd>(g.data<double>(), g.numel()) *= s;
    }
  }
  return norm;
}

double clip_by_global_norm(const std::vector<ParamRef>& params, double max_norm) {
  std::vector<Tensor> grads;
  for (const ParamRef& p : params) grads.push_back(p.grad);
  return clip_by_global_norm(grads, max_norm);
}

}  // namespace optim
}  // namespace ft
