// layer.cpp — Layer naming, variable creation and activations.
#include "nn/layer.h"

namespace ft {
namespace nn {

namespace {
// The first "<kind>_<i>" such that no node lives under "<scope>/<kind>_<i>/".
std::string unique_layer_name(const Graph& g, const std::string& kind) {
  for (int i = 1;; ++i) {
    std::string cand = kind + "_" + std::to_string(i);
    std::string prefix = g.scoped(cand) + "/";
    bool used = false;
    for (int n = 0; n < g.num_nodes() && !used; ++n) used = g.node(n).name.compare(0, prefix.size(), prefix) == 0;
    if (!used) return cand;
  }
}
}  // namespace

Value Layer::operator()(Graph& g, Value x) {
  if (!x.defined()) fail("input is undefined");
  if (graph_ != &g) {  // first build on this graph
    graph_ = &g;
    vars_.clear();
    if (!user_named_) name_.clear();
  }
  if (!scoped()) return forward(g, x);
  if (name_.empty()) name_ = unique_layer_name(g, kind());
  auto scope = g.name_scope(name_);
  return forward(g, x);
}

std::vector<Value> Layer::variables() const {
  std::vector<Value> v;
  for (const auto& kv : vars_) v.push_back(kv.second);
  return v;
}

Value Layer::variable(Graph& g, const std::string& name, const Shape& shape, const Initializer& init, DType dtype) {
  return variable(g, name, shape, 0, init, TensorParallel{}, dtype);
}

Value Layer::variable(Graph& g, const std::string& name, const Shape& full_shape, int axis, const Initializer& init,
                      const TensorParallel& tp, DType dtype) {
  for (const auto& kv : vars_) {
    if (kv.first != name) continue;
    Shape local = full_shape;
    if (tp.enabled()) local[size_t(axis < 0 ? axis + int(local.size()) : axis)] /= tp.size;
    if (kv.second.shape() != local)
      fail("variable '" + name + "' was built with shape " + shape_str(kv.second.shape()) + ", now needs " +
           shape_str(local) + " (input shape changed between calls)");
    return kv.second;
  }
  Value v = split_variable(g, name, full_shape, axis, init, tp, dtype);
  vars_.emplace_back(name, v);
  return v;
}

Value Layer::sublayer(Layer& child, Graph& g, Value x) {
  Value y = child(g, x);
  for (const auto& kv : child.vars_) {
    const std::string key = child.name() + "/" + kv.first;
    bool known = false;
    for (const auto& mine : vars_) known = known || mine.first == key;
    if (!known) vars_.emplace_back(key, kv.second);
  }
  return y;
}

void Layer::fail(const std::string& why) const {
  throw Error("layer '" + (name_.empty() ? kind() : name_) + "' (" + kind() + "): " + why);
}

void check_activation(const std::string& name) {
  static const char* known[] = {"", "linear", "relu", "gelu", "tanh", "sigmoid", "softmax"};
  for (const char* k : known)
    if (name == k) return;
  throw Error("unknown activation '" + name + "' (expected relu, gelu, tanh, sigmoid, softmax, linear or \"\")");
}

Value activation(Value x, const std::string& name) {
  if (name.empty() || name == "linear") return x;
  if (name == "relu") return relu(x);
  if (name == "gelu") return gelu(x);
  if (name == "tanh") return tanh(x);
  if (name == "sigmoid") return sigmoid(x);
  if (name == "softmax") return softmax(x);
  check_activation(name);
  return x;
}

}  // namespace nn
}  // namespace ft
