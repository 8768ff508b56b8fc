// optim_config.cpp — config -> optimizer and schedule.
#include "train/optim_config.h"

#include "optim/factory.h"

namespace ft {
namespace train {

std::unique_ptr<optim::LRSchedule> schedule_from_config(const Config& c) {
  const std::string t = c.s("optimizer.schedule.type");
  const double lr = c.f("optimizer.lr");
  if (t == "constant") return std::make_unique<optim::ConstantLR>(lr);
  if (t == "step")
    return std::make_unique<optim::StepLR>(lr, c.i("optimizer.schedule.step_size"), c.f("optimizer.schedule.gamma"));
  auto d = t == "warmup_linear" ? optim::WarmupDecayLR::Decay::Linear : optim::WarmupDecayLR::Decay::Cosine;
  return std::make_unique<optim::WarmupDecayLR>(d, lr, c.i("optimizer.schedule.warmup"), c.i("train.steps"),
                                                c.f("optimizer.schedule.min_lr"));
}

std::unique_ptr<optim::Optimizer> optimizer_from_config(const Config& c) {
  optim::OptimizerOptions o;
  o.type = c.s("optimizer.type");
  o.lr = c.f("optimizer.lr");
  o.beta1 = c.f("optimizer.beta1");
  o.beta2 = c.f("optimizer.beta2");
  o.eps = c.f("optimizer.eps");
  o.weight_decay = c.f("optimizer.weight_decay");
  o.momentum = c.f("optimizer.momentum");
  o.nesterov = c.b("optimizer.nesterov");
  return optim::make_optimizer(o);
}

}  // namespace train
}  // namespace ft
