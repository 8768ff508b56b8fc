// zoo.cpp — MLP and LeNet CNN from nn layers (see zoo.h for structure and names).
#include "nn/zoo.h"

#include <cmath>

#include "nn/conv_layers.h"
#include "nn/layers.h"

namespace ft {
namespace nn {
namespace {

// The MLP's layers. zoo_names: "fc<i>" and dropout seeded seed + i, split over tp
// as zoo.h says; else default names, name-seeded dropout and no split.
Sequential mlp_layers(const MlpOptions& o, const TensorParallel& tp, bool zoo_names) {
  Sequential m;
  bool split = false;  // is the running activation split over tp?
  int64_t i = 0;
  auto named = [&](Dense d) { return zoo_names ? d.named("fc" + std::to_string(i)) : d; };
  for (int64_t units : o.hidden) {
    ++i;
    Dense d = named(Dense(units, o.activation));
    int64_t seed = o.seed + i;
    if (split) {
      d.parallel(tp, Split::Rows);
      split = false;
    } else if (units % tp.size == 0) {
      d.parallel(tp, Split::Columns);
      split = true;
      seed += 1000003 * int64_t(tp.rank);
    }
    m.add(d);
    if (o.dropout > 0) m.add(zoo_names ? Dropout(o.dropout, seed) : Dropout(o.dropout));
  }
  ++i;
  Dense out = named(Dense(o.classes));
  if (split) out.parallel(tp, Split::Rows);
  else if (o.classes % tp.size == 0) out.parallel(tp, Split::Columns, /*gather_output=*/true);
  m.add(out);
  return m;
}

// The LeNet's layers. zoo_names: "conv<i>" with (F, 1, 1) biases, "fc<i>", dropout
// seeded seed + 1; else default names and name-seeded dropout.
Sequential lenet_layers(const CnnOptions& o, bool zoo_names) {
  Sequential m;
  auto conv = [&](int64_t filters, const char* name) {
    Conv2D c(filters, o.kernel, 1, 0, "relu");
    if (zoo_names) c.named(name).image_bias();
    return c;
  };
  auto dense = [&](int64_t units, const char* act, const char* name) {
    Dense d(units, act);
    if (zoo_names) d.named(name);
    return d;
  };
  m.add(conv(o.filters1, "conv1")).add(MaxPool2D(2));
  m.add(conv(o.filters2, "conv2")).add(MaxPool2D(2));
  m.add(Flatten()).add(dense(o.hidden, "relu", "fc1"));
  if (o.dropout > 0) m.add(zoo_names ? Dropout(o.dropout, o.seed + 1) : Dropout(o.dropout));
  m.add(dense(o.classes, "", "fc2"));
  return m;
}

// (N, H·W) with a square H·W → (N, 1, H, W); (N, C, H, W) as it is.
Value as_image(Value x, const char* who) {
  if (x.rank() == 2) {
    const int64_t n = x.shape()[1];
    const int64_t s = static_cast<int64_t>(std::llround(std::sqrt(double(n))));
    if (n < 0 || s * s != n)
      throw Error(std::string(who) + ": a rank-2 input needs a square number of features, got " +
                  shape_str(x.shape()));
    x = reshape(x, {-1, 1, s, s});
  }
  if (x.rank() != 4)
    throw Error(std::string(who) + ": input must be (N, C, H, W) or (N, H*W), got " + shape_str(x.shape()));
  return x;
}

}  // namespace

Value mlp_classifier(Graph& g, Value x, const MlpOptions& o, const TensorParallel& tp) {
  if (x.rank() != 2 || (x.shape()[1] >= 0 && x.shape()[1] != o.in))
    throw Error("mlp_classifier: input must be (N, " + std::to_string(o.in) + "), got " + shape_str(x.shape()));
  tp.part(tp.size, "mlp_classifier");  // checks rank and size
  Sequential m = mlp_layers(o, tp, true);
  return m(g, x);
}

Value cnn_classifier(Graph& g, Value x, const CnnOptions& o, const TensorParallel& tp) {
  if (tp.enabled()) throw Error("cnn has no tensor-parallel layers (use mlp or bert)");
  Sequential m = lenet_layers(o, true);
  return m(g, as_image(x, "cnn_classifier"));
}

bool supports_tensor_parallel(const std::string& model) { return model == "mlp" || model == "bert"; }

Sequential mlp_model(const MlpOptions& o) { return mlp_layers(o, {}, false); }
Sequential lenet_cnn_model(const CnnOptions& o) { return lenet_layers(o, false); }

Value mlp(Graph& g, Value x, const MlpOptions& o) {
  if (x.rank() > 2) x = Flatten()(g, x);
  Sequential m = mlp_model(o);
  return m(g, x);
}

Value lenet_cnn(Graph& g, Value x, const CnnOptions& o) {
  Sequential m = lenet_cnn_model(o);
  return m(g, as_image(x, "lenet_cnn"));
}

}  // namespace nn
}  // namespace ft
