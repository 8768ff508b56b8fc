// sequential.cpp — Sequential container.
#include "nn/sequential.h"

namespace ft {
namespace nn {

Sequential& Sequential::add(std::shared_ptr<Layer> layer) {
  if (!layer) throw Error("Sequential::add: null layer");
  layers_.push_back(std::move(layer));
  return *this;
}

Value Sequential::forward(Graph& g, Value x) {
  for (auto& l : layers_) x = (*l)(g, x);
  return x;
}

std::vector<Value> Sequential::all_variables() const {
  std::vector<Value> v;
  for (const auto& l : layers_) {
    auto* s = dynamic_cast<const Sequential*>(l.get());
    auto lv = s ? s->all_variables() : l->variables();
    v.insert(v.end(), lv.begin(), lv.end());
  }
  return v;
}

}  // namespace nn
}  // namespace ft
