// layer.h — the Layer base of the Keras-style API: a layer builds graph ops on
// an input Value and owns the variables it creates.
//
// The first call on a graph picks the layer's name ("<kind>_<i>", i = 1, 2, ...
// the first free index under the current name scope, e.g. "dense_1") unless one
// was set with named(), and creates its variables under that scope
// ("dense_1/w", "dense_1/b"). Later calls on the same graph share the variables.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nn/parallel.h"
#include "ops/ops.h"

namespace ft {
namespace nn {

class Layer {
 public:
  virtual ~Layer() = default;
  virtual std::string kind() const = 0;  // "dense", "conv2d", ... (the default name prefix)

  Value operator()(Graph& g, Value x);
  Value build(Graph& g, Value x) { return (*this)(g, x); }

  const std::string& name() const { return name_; }  // "" until built, unless named()
  void set_name(std::string n) { name_ = std::move(n); user_named_ = !name_.empty(); }
  // The variables created so far, in creation order.
  std::vector<Value> variables() const;

 protected:
  virtual Value forward(Graph& g, Value x) = 0;
  // Whether the layer opens a name scope of its own (containers may not).
  virtual bool scoped() const { return true; }
  // Creates variable `name` under the layer's scope on the first build; returns
  // the existing one on later builds (its shape must match).
  Value variable(Graph& g, const std::string& name, const Shape& shape, const Initializer& init,
                 DType dtype = DType::F32);
  // The same for this rank's part of a weight of `full_shape` split along `axis`
  // over tp (nn/parallel.h split_variable); with tp.size 1 the whole weight.
  Value variable(Graph& g, const std::string& name, const Shape& full_shape, int axis, const Initializer& init,
                 const TensorParallel& tp, DType dtype = DType::F32);
  // Builds `child` on x under this layer's scope; its variables count as this
  // layer's ("<child name>/w", ...).
  Value sublayer(Layer& child, Graph& g, Value x);
  // Throws ft::Error "<layer name> (<kind>): <why>".
  [[noreturn]] void fail(const std::string& why) const;

 private:
  std::string name_;
  bool user_named_ = false;
  Graph* graph_ = nullptr;
  std::vector<std::pair<std::string, Value>> vars_;
};

// Applies an activation by name: "" or "linear" (identity), "relu", "gelu",
// "tanh", "sigmoid", "softmax". Throws ft::Error naming an unknown one.
Value activation(Value x, const std::string& name);
void check_activation(const std::string& name);

// Layers are held by shared_ptr in containers; derive from this to get a
// chainable named() returning the concrete type.
template <class Derived>
class LayerBase : public Layer {
 public:
  Derived& named(std::string n) & {
    set_name(std::move(n));
    return static_cast<Derived&>(*this);
  }
  Derived&& named(std::string n) && {
    set_name(std::move(n));
    return static_cast<Derived&&>(*this);
  }
};

}  // namespace nn
}  // namespace ft
