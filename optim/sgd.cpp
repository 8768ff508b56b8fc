// sgd.cpp — SGD with momentum: checks its hyperparameters (the formulas are
// optim/device_update.cpp host_update and the device kernels).
#include "optim/sgd.h"

namespace ft {
namespace optim {

Momentum::Momentum(double lr, double momentum, bool nesterov, double weight_decay)
    : Optimizer(lr, weight_decay), mu_(momentum), nesterov_(nesterov) {
  if (momentum < 0 || momentum >= 1) throw Error("momentum optimizer: momentum must be in [0, 1), got " + std::to_string(momentum));
}

}  // namespace optim
}  // namespace ft
