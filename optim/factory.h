// factory.h — builds an optimizer from a small options struct (the config's
// `optimizer:` section) and binds graph variables to ParamRefs.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/graph.h"
#include "optim/optimizer.h"

namespace ft {
namespace optim {

struct OptimizerOptions {
  std::string type = "sgd";  // sgd | momentum | nesterov | adam | adamw | lamb
  double lr = 0.01;
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;
  double momentum = 0.9;     // momentum, nesterov
  bool nesterov = false;     // momentum
  // Names containing any of these get no weight decay; empty = default_decays().
  std::vector<std::string> no_decay;
};

// Throws ft::Error naming an unknown type or an invalid value.
std::unique_ptr<Optimizer> make_optimizer(const OptimizerOptions& o);

// ParamRefs for graph variables: value = the graph's tensor (updated in place),
// grad = the matching fetched gradient. Names are the variables' names.
std::vector<ParamRef> bind(Graph& g, const std::vector<Value>& vars, const std::vector<Tensor>& grads);

}  // namespace optim
}  // namespace ft
