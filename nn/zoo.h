// zoo.h — the model zoo, every model built from the layers of nn/ (tensor-parallel
// degree as a parameter; tp.size 1 is the plain model).
//
//   mlp_classifier   x (N, in) → fc1 .. fcL: Dense(h, relu) [→ Dropout] → fc<L+1>: Dense(classes)
//                    → logits (N, classes). Variables "fc<i>/w" (in, out) glorot, "fc<i>/b" (out).
//                    Dropout after hidden layer i is seeded seed + i (+ 1000003·tp.rank on a split
//                    activation). With tp.size k > 1 (Megatron): a hidden layer whose input is
//                    replicated is column-parallel when k divides its width (its output stays split),
//                    the next one row-parallel (partial sums allreduced), and so on; the output layer
//                    is row-parallel after a split layer, else column-parallel with an allgather when
//                    k divides classes, else replicated. Names and initial values are the unsplit
//                    model's.
//   cnn_classifier   the MNIST LeNet: x (N, 784) → (N, 1, 28, 28) → conv1: Conv2D(32, 3, relu)
//                    (N, 32, 26, 26) → MaxPool2D(2) (N, 32, 13, 13) → conv2: Conv2D(64, 3, relu)
//                    (N, 64, 11, 11) → MaxPool2D(2) (N, 64, 5, 5) → Flatten (N, 1600)
//                    → fc1: Dense(128, relu) [→ Dropout, seed + 1] → fc2: Dense(classes).
//                    Variables "conv<i>/w" (F, C, k, k) he, "conv<i>/b" (F, 1, 1), "fc<i>/w", "fc<i>/b".
//                    No tensor-parallel layers.
//   bert_mlm         BERT masked LM (nn/bert.h: bert_placeholders, bert_mlm, BertOptions with tp).
//
// mlp / lenet_cnn are the same networks as Keras-style Sequentials with default layer
// names ("dense_1", "conv2d_1" with a (F) bias) and name-seeded dropout.
#pragma once

#include <string>
#include <vector>

#include "nn/bert.h"
#include "nn/parallel.h"
#include "nn/sequential.h"

namespace ft {
namespace nn {

struct MlpOptions {
  std::vector<int64_t> hidden = {512, 512};  // hidden layer widths
  int64_t in = 784;                          // input width (mlp_classifier)
  int64_t classes = 10;
  std::string activation = "relu";           // of the hidden layers
  double dropout = 0;                        // after each hidden layer when > 0
  int64_t seed = 0;                          // dropout seeds (mlp_classifier): seed + i
};

struct CnnOptions {
  int64_t filters1 = 32, filters2 = 64, kernel = 3;
  int64_t hidden = 128;
  int64_t classes = 10;
  double dropout = 0;  // after the hidden dense layer when > 0
  int64_t seed = 0;    // its dropout seed (cnn_classifier): seed + 1
};

// x (N, o.in) → logits (N, o.classes); this rank's part of the model when tp.size > 1.
Value mlp_classifier(Graph& g, Value x, const MlpOptions& o, const TensorParallel& tp = {});
// x (N, 784) (or (N, H·W) square, or (N, 1, H, W)) → logits (N, o.classes).
// Throws ft::Error("cnn has no tensor-parallel layers (use mlp or bert)") when tp.size > 1.
Value cnn_classifier(Graph& g, Value x, const CnnOptions& o, const TensorParallel& tp = {});
// Whether a zoo model ("mlp", "cnn", "bert") has tensor-parallel layers.
bool supports_tensor_parallel(const std::string& model);

// The Keras-style Sequentials (default layer names).
Sequential mlp_model(const MlpOptions& o = {});
Sequential lenet_cnn_model(const CnnOptions& o = {});
// x (N, 784) or (N, ...) (flattened) -> logits (N, classes).
Value mlp(Graph& g, Value x, const MlpOptions& o = {});
// x (N, 1, H, W), or (N, H*W) with a square H*W (reshaped to (N, 1, H, W)) -> logits (N, classes).
Value lenet_cnn(Graph& g, Value x, const CnnOptions& o = {});

}  // namespace nn
}  // namespace ft
