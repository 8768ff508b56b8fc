// optim_config.cpp — config -> optimizer and learning-rate schedule.
#include "train/optim_config.h"

#include "core/thread_pool.h"
#include "optim/factory.h"

namespace ft {
namespace train {

std::unique_ptr<optim::Optimizer> optimizer_from_config(const RunConfig& c) {
  auto opt = optim::make_optimizer(c.optimizer.options);
  opt->set_pool(&ThreadPool::global());  // the run's threads (train.threads)
  return opt;
}

std::unique_ptr<optim::LRSchedule> schedule_from_config(const RunConfig& c) {
  const OptimizerConfig& o = c.optimizer;
  const double lr = o.options.lr;
  if (o.schedule == "constant") return std::make_unique<optim::ConstantLR>(lr);
  if (o.schedule == "step") return std::make_unique<optim::StepLR>(lr, o.step_size, o.gamma);
  auto d = o.schedule == "warmup_linear" ? optim::WarmupDecayLR::Decay::Linear : optim::WarmupDecayLR::Decay::Cosine;
  return std::make_unique<optim::WarmupDecayLR>(d, lr, o.warmup, c.train.steps, o.min_lr);
}

}  // namespace train
}  // namespace ft
