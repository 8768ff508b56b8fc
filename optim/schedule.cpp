// schedule.cpp — learning-rate schedules.
#include "optim/schedule.h"

#include <algorithm>
#include <cmath>

#include "core/tensor.h"

namespace ft {
namespace optim {

std::string ConstantLR::describe() const { return "constant(lr=" + std::to_string(lr_) + ")"; }

StepLR::StepLR(double lr, int64_t step_size, double gamma) : lr_(lr), step_size_(step_size), gamma_(gamma) {
  if (step_size <= 0) throw Error("step schedule: step_size must be > 0, got " + std::to_string(step_size));
}

double StepLR::lr(int64_t step) const {
  return lr_ * std::pow(gamma_, double(std::max<int64_t>(step, 0) / step_size_));
}

std::string StepLR::describe() const {
  return "step(lr=" + std::to_string(lr_) + ", step_size=" + std::to_string(step_size_) +
         ", gamma=" + std::to_string(gamma_) + ")";
}

WarmupDecayLR::WarmupDecayLR(Decay decay, double lr, int64_t warmup, int64_t total_steps, double end_lr)
    : decay_(decay), lr_(lr), warmup_(warmup), total_(total_steps), end_lr_(end_lr) {
  const char* n = decay == Decay::Linear ? "warmup_linear" : "warmup_cosine";
  if (warmup < 0) throw Error(std::string(n) + " schedule: warmup must be >= 0, got " + std::to_string(warmup));
  if (total_steps <= warmup)
    throw Error(std::string(n) + " schedule: total_steps (" + std::to_string(total_steps) +
                ") must be greater than warmup (" + std::to_string(warmup) + ")");
}

double WarmupDecayLR::lr(int64_t step) const {
  if (step < 0) step = 0;
  if (step < warmup_) return lr_ * double(step + 1) / double(warmup_);
  double p = std::clamp(double(step - warmup_) / double(total_ - warmup_), 0.0, 1.0);
  if (decay_ == Decay::Linear) return lr_ + (end_lr_ - lr_) * p;
  return end_lr_ + (lr_ - end_lr_) * 0.5 * (1.0 + std::cos(M_PI * p));
}

std::string WarmupDecayLR::describe() const {
  return std::string(decay_ == Decay::Linear ? "warmup_linear" : "warmup_cosine") + "(lr=" + std::to_string(lr_) +
         ", warmup=" + std::to_string(warmup_) + ", total_steps=" + std::to_string(total_) +
         ", end_lr=" + std::to_string(end_lr_) + ")";
}

std::unique_ptr<LRSchedule> make_schedule(const ScheduleOptions& o) {
  if (o.lr < 0) throw Error("schedule: lr must be >= 0, got " + std::to_string(o.lr));
  if (o.type == "constant") return std::make_unique<ConstantLR>(o.lr);
  if (o.type == "step") return std::make_unique<StepLR>(o.lr, o.step_size, o.gamma);
  if (o.type == "warmup_linear")
    return std::make_unique<WarmupDecayLR>(WarmupDecayLR::Decay::Linear, o.lr, o.warmup, o.total_steps, o.end_lr);
  if (o.type == "warmup_cosine")
    return std::make_unique<WarmupDecayLR>(WarmupDecayLR::Decay::Cosine, o.lr, o.warmup, o.total_steps, o.end_lr);
  throw Error("unknown learning-rate schedule type '" + o.type +
              "' (expected constant, step, warmup_linear or warmup_cosine)");
}

}  // namespace optim
}  // namespace ft
