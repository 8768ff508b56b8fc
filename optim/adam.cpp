// adam.cpp — Adam, AdamW and LAMB updates (Eigen maps over the flat buffers).
#include "optim/adam.h"

#include <Eigen/Core>
#include <cmath>

namespace ft {
namespace optim {

namespace {
using Arr = Eigen::Map<Eigen::ArrayXf>;
using CArr = Eigen::Map<const Eigen::ArrayXf>;

// Updates the moments with gradient (g + wd*w) and returns the bias corrections.
struct Moments {
  float c1, c2;  // 1/(1-b1^t), 1/(1-b2^t)
};
template <class G>
Moments update_moments(Arr& m, Arr& v, const G& g, const AdamConfig& c, int64_t t) {
  const float b1 = float(c.beta1), b2 = float(c.beta2);
  m = b1 * m + (1 - b1) * g;
  v = b2 * v + (1 - b2) * g.square();
  return {float(1.0 / (1.0 - std::pow(c.beta1, double(t)))), float(1.0 / (1.0 - std::pow(c.beta2, double(t))))};
}
}  // namespace

Adam::Adam(const AdamConfig& c) : Optimizer(c.lr, c.weight_decay), c_(c) {
  if (c.beta1 < 0 || c.beta1 >= 1) throw Error("adam: beta1 must be in [0, 1), got " + std::to_string(c.beta1));
  if (c.beta2 < 0 || c.beta2 >= 1) throw Error("adam: beta2 must be in [0, 1), got " + std::to_string(c.beta2));
  if (c.eps <= 0) throw Error("adam: eps must be > 0, got " + std::to_string(c.eps));
}

void Adam::update(Slots& s, float* wp, const float* gp, int64_t n, double lr, double wd) {
  Arr w(wp, n), m(s.buf(0), n), v(s.buf(1), n);
  CArr g(gp, n);
  Moments k = wd != 0 ? update_moments(m, v, g + float(wd) * w, c_, s.t) : update_moments(m, v, g, c_, s.t);
  const float a = float(lr), eps = float(c_.eps);
  w -= a * (m * k.c1) / ((v * k.c2).sqrt() + eps);
}

void AdamW::update(Slots& s, float* wp, const float* gp, int64_t n, double lr, double wd) {
  Arr w(wp, n), m(s.buf(0), n), v(s.buf(1), n);
  CArr g(gp, n);
  Moments k = update_moments(m, v, g, c_, s.t);
  const float a = float(lr), eps = float(c_.eps), d = float(wd);
  w -= a * ((m * k.c1) / ((v * k.c2).sqrt() + eps) + d * w);
}

void LAMB::update(Slots& s, float* wp, const float* gp, int64_t n, double lr, double wd) {
  Arr w(wp, n), m(s.buf(0), n), v(s.buf(1), n);
  CArr g(gp, n);
  Moments k = update_moments(m, v, g, c_, s.t);
  const float eps = float(c_.eps), d = float(wd);
  Eigen::ArrayXf u = (m * k.c1) / ((v * k.c2).sqrt() + eps) + d * w;
  const double wn = std::sqrt(w.cast<double>().square().sum());
  const double un = std::sqrt(u.cast<double>().square().sum());
  const double r = (wn > 0 && un > 0) ? wn / un : 1.0;
  last_ratio_ = r;
  w -= float(lr * r) * u;
}

}  // namespace optim
}  // namespace ft
