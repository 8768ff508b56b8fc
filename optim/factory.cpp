// factory.cpp — optimizer factory and variable binding.
#include "optim/factory.h"

#include "optim/adam.h"
#include "optim/sgd.h"

namespace ft {
namespace optim {

std::unique_ptr<Optimizer> make_optimizer(const OptimizerOptions& o) {
  std::unique_ptr<Optimizer> opt;
  AdamConfig ac{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay};
  if (o.type == "sgd") opt = std::make_unique<SGD>(o.lr, o.weight_decay);
  else if (o.type == "momentum") opt = std::make_unique<Momentum>(o.lr, o.momentum, o.nesterov, o.weight_decay);
  else if (o.type == "nesterov") opt = std::make_unique<Momentum>(o.lr, o.momentum, true, o.weight_decay);
  else if (o.type == "adam") opt = std::make_unique<Adam>(ac);
  else if (o.type == "adamw") opt = std::make_unique<AdamW>(ac);
  else if (o.type == "lamb") opt = std::make_unique<LAMB>(ac);
  else
    throw Error("unknown optimizer type '" + o.type + "' (expected sgd, momentum, nesterov, adam, adamw or lamb)");
  if (!o.no_decay.empty()) opt->set_decay_filter(decay_unless_contains(o.no_decay));
  return opt;
}

std::vector<ParamRef> bind(Graph& g, const std::vector<Value>& vars, const std::vector<Tensor>& grads) {
  if (vars.size() != grads.size())
    throw Error("optim::bind: " + std::to_string(vars.size()) + " variables but " + std::to_string(grads.size()) +
                " gradients");
  std::vector<ParamRef> refs;
  refs.reserve(vars.size());
  for (size_t i = 0; i < vars.size(); ++i) refs.push_back({vars[i].name(), g.value(vars[i]), grads[i]});
  return refs;
}

}  // namespace optim
}  // namespace ft
