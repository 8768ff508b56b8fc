// models.cpp — MLP and LeNet-style CNN.
#include "nn/models.h"

#include <cmath>

#include "nn/conv_layers.h"
#include "nn/layers.h"

namespace ft {
namespace nn {

Sequential mlp_model(const MlpOptions& o) {
  Sequential m;
  for (int64_t h : o.hidden) {
    m.add(Dense(h, o.activation));
    if (o.dropout > 0) m.add(Dropout(o.dropout));
  }
  m.add(Dense(o.classes));
  return m;
}

Sequential lenet_cnn_model(const CnnOptions& o) {
  Sequential m;
  m.add(Conv2D(o.filters1, o.kernel)).add(ReLU()).add(MaxPool2D(2));
  m.add(Conv2D(o.filters2, o.kernel)).add(ReLU()).add(MaxPool2D(2));
  m.add(Flatten()).add(Dense(o.hidden, "relu"));
  if (o.dropout > 0) m.add(Dropout(o.dropout));
  m.add(Dense(o.classes));
  return m;
}

Value mlp(Graph& g, Value x, const MlpOptions& o) {
  if (x.rank() > 2) x = Flatten()(g, x);
  Sequential m = mlp_model(o);
  return m(g, x);
}

Value lenet_cnn(Graph& g, Value x, const CnnOptions& o) {
  if (x.rank() == 2) {
    const int64_t n = x.shape()[1];
    const int64_t s = static_cast<int64_t>(std::llround(std::sqrt(double(n))));
    if (n < 0 || s * s != n)
      throw Error("lenet_cnn: a rank-2 input needs a square number of features, got " + shape_str(x.shape()));
    x = reshape(x, {-1, 1, s, s});
  }
  if (x.rank() != 4) throw Error("lenet_cnn: input must be (N, C, H, W) or (N, H*W), got " + shape_str(x.shape()));
  Sequential m = lenet_cnn_model(o);
  return m(g, x);
}

}  // namespace nn
}  // namespace ft
