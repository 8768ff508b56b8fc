// adam.h — Adam (weight decay as L2 on the gradient), AdamW (decoupled weight
// decay, Loshchilov & Hutter) and LAMB (You et al. 2019). All bias-correct with
// the parameter's own update count t:
//   m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2;  mh = m/(1-b1^t);  vh = v/(1-b2^t)
//   Adam:  g = g + wd*w first;  w -= lr * mh/(sqrt(vh)+eps)
//   AdamW: w -= lr * (mh/(sqrt(vh)+eps) + wd*w)
//   LAMB:  u = mh/(sqrt(vh)+eps) + wd*w;  w -= lr * r * u,
//          r = ||w|| / ||u|| (r = 1 when either norm is 0), per ParamRef.
#pragma once

#include "optim/optimizer.h"

namespace ft {
namespace optim {

struct AdamConfig {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;
};

class Adam : public Optimizer {
 public:
  explicit Adam(const AdamConfig& c);
  std::string type() const override { return "adam"; }
  UpdateRule rule() const override { return rule_of(UpdateRule::kAdam); }
  const AdamConfig& config() const { return c_; }

 protected:
  std::vector<std::string> slot_names() const override { return {"m", "v"}; }
  UpdateRule rule_of(UpdateRule::Kind k) const;
  AdamConfig c_;
};

class AdamW : public Adam {
 public:
  explicit AdamW(const AdamConfig& c) : Adam(c) {}
  std::string type() const override { return "adamw"; }
  UpdateRule rule() const override { return rule_of(UpdateRule::kAdamW); }
};

class LAMB : public Adam {
 public:
  explicit LAMB(const AdamConfig& c) : Adam(c) {}
  std::string type() const override { return "lamb"; }
  UpdateRule rule() const override { return rule_of(UpdateRule::kLamb); }
  // Trust ratio of the most recent parameter update computed on the host (for
  // logging and tests; a GPU's stays on the device).
  double last_trust_ratio() const { return last_ratio_.load(); }
};

}  // namespace optim
}  // namespace ft
