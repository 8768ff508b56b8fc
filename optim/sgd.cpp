// sgd.cpp — SGD and momentum updates (Eigen maps over the flat buffers).
#include "optim/sgd.h"

#include <Eigen/Core>

namespace ft {
namespace optim {

namespace {
using Arr = Eigen::Map<Eigen::ArrayXf>;
using CArr = Eigen::Map<const Eigen::ArrayXf>;
}  // namespace

void SGD::update(Slots&, float* wp, const float* gp, int64_t n, double lr, double wd) {
  Arr w(wp, n);
  CArr g(gp, n);
  const float a = float(lr), d = float(wd);
  if (d != 0) w -= a * (g + d * w);
  else w -= a * g;
}

Momentum::Momentum(double lr, double momentum, bool nesterov, double weight_decay)
    : Optimizer(lr, weight_decay), mu_(momentum), nesterov_(nesterov) {
  if (momentum < 0 || momentum >= 1) throw Error("momentum optimizer: momentum must be in [0, 1), got " + std::to_string(momentum));
}

void Momentum::update(Slots& s, float* wp, const float* gp, int64_t n, double lr, double wd) {
  Arr w(wp, n), v(s.buf(0), n);
  CArr g(gp, n);
  const float a = float(lr), d = float(wd), mu = float(mu_);
  v = mu * v + g + d * w;
  if (nesterov_) w -= a * (g + d * w + mu * v);
  else w -= a * v;
}

}  // namespace optim
}  // namespace ft
