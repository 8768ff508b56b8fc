// nn.h — umbrella header of flowtrain's Keras-style layers and model zoo.
#pragma once
#include "nn/attention.h"
#include "nn/conv_layers.h"
#include "nn/layer.h"
#include "nn/layers.h"
#include "nn/models.h"
#include "nn/sequential.h"
