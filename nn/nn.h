// nn.h — umbrella header of flowtrain's layers (plain or tensor-parallel) and model zoo.
#pragma once
#include "nn/attention.h"
#include "nn/bert.h"
#include "nn/conv_layers.h"
#include "nn/layer.h"
#include "nn/layers.h"
#include "nn/parallel.h"
#include "nn/sequential.h"
#include "nn/zoo.h"
