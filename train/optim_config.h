// optim_config.h — the learning-rate schedule described by the config's
// `optimizer:` section: what parameter servers use to compute the learning
// rate of each worker's step (the same mapping the training loop uses).
#pragma once

#include <memory>

#include "optim/schedule.h"
#include "train/config.h"

namespace ft {
namespace train {

std::unique_ptr<optim::LRSchedule> schedule_from_config(const Config& c);

}  // namespace train
}  // namespace ft
