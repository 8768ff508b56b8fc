// optim_config.h — the optimizer and learning-rate schedule described by the
// config's `optimizer:` section: what the parameter servers build to apply
// updates themselves (the same mapping the training loop uses).
#pragma once

#include <memory>

#include "optim/optimizer.h"
#include "optim/schedule.h"
#include "train/config.h"

namespace ft {
namespace train {

std::unique_ptr<optim::LRSchedule> schedule_from_config(const Config& c);
std::unique_ptr<optim::Optimizer> optimizer_from_config(const Config& c);

}  // namespace train
}  // namespace ft
