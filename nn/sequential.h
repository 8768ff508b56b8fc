// sequential.h — a stack of layers applied in order. Opens no name scope of its
// own unless named(), so its layers' variables are "dense_1/w", ...
#pragma once

#include <memory>
#include <type_traits>
#include <vector>

#include "nn/layer.h"

namespace ft {
namespace nn {

class Sequential : public LayerBase<Sequential> {
 public:
  Sequential() = default;
  std::string kind() const override { return "sequential"; }

  template <class L, class = std::enable_if_t<std::is_base_of_v<Layer, std::decay_t<L>>>>
  Sequential& add(L&& layer) {
    return add(std::shared_ptr<Layer>(std::make_shared<std::decay_t<L>>(std::forward<L>(layer))));
  }
  Sequential& add(std::shared_ptr<Layer> layer);

  size_t size() const { return layers_.size(); }
  Layer& at(size_t i) const { return *layers_.at(i); }
  // Variables of all layers, in layer order.
  std::vector<Value> all_variables() const;

 protected:
  Value forward(Graph& g, Value x) override;
  bool scoped() const override { return !name().empty(); }

 private:
  std::vector<std::shared_ptr<Layer>> layers_;
};

}  // namespace nn
}  // namespace ft
