// models.h — the model zoo: builders that return logits.
//   mlp:       [Flatten] → Dense(h, relu) for each hidden size [→ Dropout] → Dense(classes)
//   lenet_cnn: (N, 1, 28, 28) → Conv2D(32,3) → ReLU → MaxPool2D(2) → Conv2D(64,3) → ReLU
//              → MaxPool2D(2) → Flatten → Dense(128, relu) → Dropout → Dense(classes)
#pragma once

#include <vector>

#include "nn/sequential.h"

namespace ft {
namespace nn {

struct MlpOptions {
  std::vector<int64_t> hidden = {512, 512};
  int64_t classes = 10;
  std::string activation = "relu";
  double dropout = 0;  // after each hidden layer when > 0
};

struct CnnOptions {
  int64_t filters1 = 32, filters2 = 64, kernel = 3;
  int64_t hidden = 128;
  int64_t classes = 10;
  double dropout = 0.5;
};

Sequential mlp_model(const MlpOptions& o = {});
Sequential lenet_cnn_model(const CnnOptions& o = {});

// x (N, 784) or (N, ...) (flattened) -> logits (N, classes).
Value mlp(Graph& g, Value x, const MlpOptions& o = {});
// x (N, 1, H, W), or (N, H*W) with a square H*W (reshaped to (N, 1, H, W)) -> logits (N, classes).
Value lenet_cnn(Graph& g, Value x, const CnnOptions& o = {});

}  // namespace nn
}  // namespace ft
