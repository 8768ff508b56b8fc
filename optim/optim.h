// optim.h — umbrella header of flowtrain's optimizers: Optimizer and ParamRef,
// SGD/Momentum/Adam/AdamW/LAMB, learning-rate schedules, clipping, loss scaling, the factory.
#pragma once
#include "optim/adam.h"
#include "optim/clip.h"
#include "optim/factory.h"
#include "optim/loss_scale.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"
#include "optim/sgd.h"
