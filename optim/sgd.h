// sgd.h — plain SGD and SGD with (Nesterov) momentum; weight decay as L2
// (added to the gradient): g' = g + wd*w.
//   SGD:      w -= lr * g'
//   Momentum: v = mu*v + g';  w -= lr * v            (Nesterov: w -= lr * (g' + mu*v))
#pragma once

#include "optim/optimizer.h"

namespace ft {
namespace optim {

class SGD : public Optimizer {
 public:
  explicit SGD(double lr, double weight_decay = 0) : Optimizer(lr, weight_decay) {}
  std::string type() const override { return "sgd"; }
  UpdateRule rule() const override { return UpdateRule{}; }

 protected:
  std::vector<std::string> slot_names() const override { return {}; }
};

class Momentum : public Optimizer {
 public:
  Momentum(double lr, double momentum = 0.9, bool nesterov = false, double weight_decay = 0);
  std::string type() const override { return nesterov_ ? "nesterov" : "momentum"; }
  double momentum() const { return mu_; }
  bool nesterov() const { return nesterov_; }
  UpdateRule rule() const override {
    UpdateRule r;
    r.kind = UpdateRule::kMomentum;
    r.momentum = mu_;
    r.nesterov = nesterov_;
    return r;
  }

 protected:
  std::vector<std::string> slot_names() const override { return {"momentum"}; }

 private:
  double mu_;
  bool nesterov_;
};

}  // namespace optim
}  // namespace ft
