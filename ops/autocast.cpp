// autocast.cpp — copies a graph, running GEMM-class nodes in f16/bf16.
#include "ops/autocast.h"

#include <algorithm>

#include "ops/ops.h"

namespace ft {

const std::vector<std::string>& autocast_ops() {
  static const std::vector<std::string> ops = {"matmul", "conv2d"};
  return ops;
}

Autocast::Autocast(Graph& src, Graph& dst, DType half, bool in_kernel) : src_(&src) {
  ops::register_all();
  if (half != DType::F16 && half != DType::BF16)
    throw Error(std::string("autocast: the half dtype must be f16 or bf16, got ") + dtype_name(half));
  if (dst.num_nodes() != 0) throw Error("autocast: the destination graph must be empty");
  const auto& gemm = autocast_ops();
  outs_.resize(size_t(src.num_nodes()));
  main_.resize(size_t(src.num_nodes()), -1);
  for (int id = 0; id < src.num_nodes(); ++id) {
    const Node& n = src.node(id);
    auto dev = dst.device_scope(n.device);
    std::vector<Value> ins;
    for (const Output& o : n.inputs) ins.push_back(outs_[size_t(o.node)][size_t(o.index)]);
    bool to_half = std::find(gemm.begin(), gemm.end(), n.op) != gemm.end();
    for (const Value& v : ins)
      if (is_float(v.dtype()) && v.dtype() != DType::F32) to_half = false;
    std::vector<Value> made;
    int main_node = -1;  // the node that carries n's name and control inputs
    if (src.has_value(id) && n.op == "variable") {
      bool trainable = true;
      for (const auto& vi : src.variable_info())
        if (vi.node == id) trainable = vi.trainable;
      const Tensor& t = src.value(id);
      Value v = dst.variable(n.name, t.shape(), init::zeros(), t.dtype(), trainable);
      dst.value(v) = src.value(id);  // shared storage: the f32 master weights
      made = {v};
    } else if (src.has_value(id)) {
      made = {dst.constant(src.value(id), n.name)};
    } else if (to_half && in_kernel && n.op == "matmul") {
      AttrMap at = n.attrs;
      at.set("half", int64_t(half));
      made = dst.add(n.op, ins, at, n.name);
      ++rewritten_;
    } else if (to_half) {
      std::vector<Value> hin;
      for (size_t i = 0; i < ins.size(); ++i)
        hin.push_back(is_float(ins[i].dtype()) ? dst.add1("cast", {ins[i]}, {{"to", int64_t(half)}},
                                                          n.name + "/autocast_in" + std::to_string(i))
                                               : ins[i]);
      std::vector<Value> h = dst.add(n.op, hin, n.attrs, n.name);
      main_node = h[0].node();
      for (size_t k = 0; k < h.size(); ++k)
        made.push_back(is_float(h[k].dtype())
                           ? dst.add1("cast", {h[k]}, {{"to", int64_t(DType::F32)}}, n.name + "/autocast_out")
                           : h[k]);
      ++rewritten_;
    } else {
      made = dst.add(n.op, ins, n.attrs, n.name);
    }
    if (main_node < 0) main_node = made.empty() ? dst.num_nodes() - 1 : made[0].node();
    if (dst.node(main_node).name != n.name)
      throw Error("autocast: node '" + n.name + "' clashes with a cast the pass inserted; rename it");
    for (int dep : n.control_inputs) dst.add_control_input(main_node, main_[size_t(dep)]);
    outs_[size_t(id)] = std::move(made);
    main_[size_t(id)] = main_node;
  }
}

Value Autocast::operator()(const Value& v) const {
  if (!v.defined()) return v;
  if (&v.graph() != src_) throw Error("autocast: value '" + v.name() + "' is not from the source graph");
  return outs_.at(size_t(v.node())).at(size_t(v.index()));
}

}  // namespace ft
