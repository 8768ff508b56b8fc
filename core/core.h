// core.h — umbrella header of flowtrain's core: tensors, graphs, gradients, devices, placement, executor.
#pragma once
#include "core/device.h"
#include "core/executor.h"
#include "core/gradients.h"
#include "core/graph.h"
#include "core/input_stager.h"
#include "core/op_registry.h"
#include "core/placement.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
