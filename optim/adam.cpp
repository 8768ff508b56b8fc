// adam.cpp — Adam, AdamW and LAMB: their hyperparameters (the formulas are
// optim/device_update.cpp host_update and the device kernels).
#include "optim/adam.h"

namespace ft {
namespace optim {

Adam::Adam(const AdamConfig& c) : Optimizer(c.lr, c.weight_decay), c_(c) {
  if (c.beta1 < 0 || c.beta1 >= 1) throw Error("adam: beta1 must be in [0, 1), got " + std::to_string(c.beta1));
  if (c.beta2 < 0 || c.beta2 >= 1) throw Error("adam: beta2 must be in [0, 1), got " + std::to_string(c.beta2));
  if (c.eps <= 0) throw Error("adam: eps must be > 0, got " + std::to_string(c.eps));
}

UpdateRule Adam::rule_of(UpdateRule::Kind k) const {
  UpdateRule r;
  r.kind = k;
  r.beta1 = c_.beta1;
  r.beta2 = c_.beta2;
  r.eps = c_.eps;
  return r;
}

}  // namespace optim
}  // namespace ft
