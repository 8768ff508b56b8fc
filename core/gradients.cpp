// gradients.cpp
#include "core/gradients.h"

#include <map>
#include <optional>

#include "core/op_registry.h"

namespace ft {

std::vector<Value> gradients(const Value& y, const std::vector<Value>& xs) {
  Graph& g = y.graph();
  const int n = y.node() + 1;
  // Nodes that reach y, and nodes reachable from some x.
  std::vector<char> to_y(size_t(n), 0), from_x(size_t(n), 0);
  to_y[size_t(y.node())] = 1;
  for (int id = n - 1; id >= 0; --id)
    if (to_y[size_t(id)])
      for (const Output& o : g.node(id).inputs) to_y[size_t(o.node)] = 1;
  for (const Value& x : xs)
    if (x.node() < n) from_x[size_t(x.node())] = 1;
  for (int id = 0; id < n; ++id)
    if (!from_x[size_t(id)])
      for (const Output& o : g.node(id).inputs)
        if (from_x[size_t(o.node)]) { from_x[size_t(id)] = 1; break; }

  auto scope = g.name_scope("grad");
  std::map<Output, std::vector<Value>> acc;
  auto summed = [&](const Output& o) -> Value {
    auto it = acc.find(o);
    if (it == acc.end() || it->second.empty()) return Value();
    auto& v = it->second;
    if (v.size() > 1) v = {g.add1("add_n", v)};
    return v[0];
  };
  acc[y.output()].push_back(g.add1("ones_like", {y}));

  for (int id = y.node(); id >= 0; --id) {
    if (!to_y[size_t(id)] || !from_x[size_t(id)]) continue;
    const Node node = g.node(id);  // a copy: grad rules add nodes (and may reallocate)
    if (node.inputs.empty()) continue;
    // Backward nodes run where their forward op was placed (partitioning, devices).
    std::optional<Graph::Scope> place;
    if (!node.device.empty()) place.emplace(g.device_scope(node.device));
    GradCtx ctx{g, node, {}, {}, {}};
    bool any = false;
    for (size_t i = 0; i < node.out_shapes.size(); ++i) {
      Value gv = summed({id, int(i)});
      any = any || gv.defined();
      ctx.grads.push_back(gv);
      ctx.outputs.emplace_back(&g, id, int(i));
    }
    if (!any) continue;
    const OpDef& def = OpRegistry::get().at(node.op);
    if (!def.grad) throw Error("gradients: op '" + node.name + "' (" + node.op + ") has no gradient rule");
    for (const Output& o : node.inputs) ctx.inputs.emplace_back(&g, o.node, o.index);
    std::vector<Value> gin = def.grad(ctx);
    FT_CHECK(gin.size() == node.inputs.size(),
             "gradient rule of " + node.op + " returned " + std::to_string(gin.size()) + " grads");
    for (size_t i = 0; i < gin.size(); ++i) {
      const Output& o = node.inputs[i];
      if (!gin[i].defined() || !from_x[size_t(o.node)]) continue;
      if (!is_float(g.node(o.node).out_dtypes[size_t(o.index)])) continue;
      acc[o].push_back(gin[i]);
    }
  }

  std::vector<Value> out;
  for (const Value& x : xs) {
    std::optional<Graph::Scope> place;  // a variable's gradient is summed where it lives
    if (!g.node(x.node()).device.empty()) place.emplace(g.device_scope(g.node(x.node()).device));
    Value gv = x.node() < n ? summed(x.output()) : Value();
    out.push_back(gv.defined() ? gv : g.add1("zeros_like", {x}));
  }
  return out;
}

}  // namespace ft
