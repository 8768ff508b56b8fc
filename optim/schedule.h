// schedule.h — learning-rate schedules, separate from optimizers: the training
// loop calls opt.set_lr(schedule.lr(step)) with step = 0 for the first update.
//   constant:       lr
//   step:           lr * gamma^floor(step / step_size)
//   warmup_linear:  lr*(step+1)/warmup while step < warmup, then linear from lr
//                   to end_lr at total_steps (held after)
//   warmup_cosine:  same warmup, then end_lr + (lr-end_lr)*(1+cos(pi*p))/2,
//                   p = (step-warmup)/(total_steps-warmup) clamped to [0, 1]
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace ft {
namespace optim {

class LRSchedule {
 public:
  virtual ~LRSchedule() = default;
  virtual double lr(int64_t step) const = 0;
  virtual std::string describe() const = 0;
};

class ConstantLR : public LRSchedule {
 public:
  explicit ConstantLR(double lr) : lr_(lr) {}
  double lr(int64_t) const override { return lr_; }
  std::string describe() const override;

 private:
  double lr_;
};

class StepLR : public LRSchedule {
 public:
  StepLR(double lr, int64_t step_size, double gamma);
  double lr(int64_t step) const override;
  std::string describe() const override;

 private:
  double lr_;
  int64_t step_size_;
  double gamma_;
};

// Warmup followed by linear or cosine decay.
class WarmupDecayLR : public LRSchedule {
 public:
  enum class Decay { Linear, Cosine };
  WarmupDecayLR(Decay decay, double lr, int64_t warmup, int64_t total_steps, double end_lr = 0);
  double lr(int64_t step) const override;
  std::string describe() const override;

 private:
  Decay decay_;
  double lr_;
  int64_t warmup_, total_;
  double end_lr_;
};

struct ScheduleOptions {
  std::string type = "constant";  // constant | step | warmup_linear | warmup_cosine
  double lr = 0.01;
  int64_t warmup = 0;
  int64_t total_steps = 0;        // warmup_linear, warmup_cosine
  int64_t step_size = 0;          // step
  double gamma = 0.1;             // step
  double end_lr = 0;              // warmup_linear, warmup_cosine
};

// Throws ft::Error naming an unknown type or an invalid field.
std::unique_ptr<LRSchedule> make_schedule(const ScheduleOptions& o);

}  // namespace optim
}  // namespace ft
