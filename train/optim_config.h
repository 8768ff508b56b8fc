// optim_config.h — the optimizer and the learning-rate schedule of the config's
// `optimizer:` section. Parameter servers build the same schedule to compute the
// learning rate of each worker's step.
#pragma once

#include <memory>

#include "optim/optimizer.h"
#include "optim/schedule.h"
#include "train/config.h"

namespace ft {
namespace train {

std::unique_ptr<optim::Optimizer> optimizer_from_config(const RunConfig& c);
std::unique_ptr<optim::LRSchedule> schedule_from_config(const RunConfig& c);

}  // namespace train
}  // namespace ft
