// optim_config.cpp — config -> learning-rate schedule.
#include "train/optim_config.h"

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

}  // namespace train
}  // namespace ft
