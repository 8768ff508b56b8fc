// partition.cpp — placement, cut edges and per-rank graphs with Send/Recv (see partition.h).
#include "core/partition.h"

#include <algorithm>
#include <set>
#include <tuple>

#include "core/op_registry.h"

namespace ft {
namespace {

// Nodes the fetches need (all nodes if there are no fetches).
std::vector<char> needed(const Graph& g, const std::vector<Value>& fetches) {
  if (fetches.empty()) return std::vector<char>(size_t(g.num_nodes()), 1);
  return g.needed_by(fetches);
}

// Concrete output shapes of every node, with placeholders at their fed shapes.
std::vector<std::vector<Shape>> infer_shapes(Graph& g, const PartitionOptions& opt) {
  std::vector<std::vector<Shape>> shapes(size_t(g.num_nodes()));
  const OpRegistry& reg = OpRegistry::get();
  for (int id = 0; id < g.num_nodes(); ++id) {
    const Node& n = g.node(id);
    if (n.op == "placeholder") {
      auto it = opt.feed_shapes.find(n.name);
      shapes[size_t(id)] = {it != opt.feed_shapes.end() ? it->second : n.out_shapes[0]};
      continue;
    }
    if (g.has_value(id)) {
      shapes[size_t(id)] = {g.value(id).shape()};
      continue;
    }
    ShapeCtx ctx{n, {}, {}, {}, {}};
    for (const Output& o : n.inputs) {
      ctx.in_shapes.push_back(shapes[size_t(o.node)][size_t(o.index)]);
      ctx.in_dtypes.push_back(g.node(o.node).out_dtypes[size_t(o.index)]);
    }
    reg.at(n.op).shape(ctx);
    shapes[size_t(id)] = ctx.out_shapes;
  }
  return shapes;
}

std::string edge_key(const Graph& g, const Output& o, int to) {
  return g.node(o.node).name + ":" + std::to_string(o.index) + "->" + std::to_string(to);
}

}  // namespace

int rank_of_device(const std::string& device) {
  if (device.rfind("rank:", 0) != 0) return -1;
  try {
    size_t used = 0;
    int r = std::stoi(device.substr(5), &used);
    return used == device.size() - 5 && r >= 0 ? r : -1;
  } catch (const std::exception&) {
    return -1;
  }
}

std::vector<int> place(const Graph& g, const PartitionOptions& opt) {
  if (opt.num_ranks < 1 || opt.default_rank < 0 || opt.default_rank >= opt.num_ranks)
    throw Error("partition: default rank " + std::to_string(opt.default_rank) + " is not among " +
                std::to_string(opt.num_ranks) + " rank(s)");
  std::vector<int> p(size_t(g.num_nodes()));
  for (int id = 0; id < g.num_nodes(); ++id) {
    const Node& n = g.node(id);
    int r = rank_of_device(n.device);
    if (r < 0 && n.device.rfind("rank:", 0) == 0)
      throw Error("partition: node '" + n.name + "' has a malformed placement '" + n.device + "'");
    if (r >= opt.num_ranks)
      throw Error("partition: node '" + n.name + "' is placed on " + n.device + ", but there are only " +
                  std::to_string(opt.num_ranks) + " rank(s)");
    if (r < 0) r = n.inputs.empty() ? opt.default_rank : p[size_t(n.inputs[0].node)];
    p[size_t(id)] = r;
  }
  return p;
}

std::vector<CutEdge> cut_edges(const Graph& g, const std::vector<int>& placement, const PartitionOptions& opt) {
  std::vector<char> need = needed(g, opt.fetches);
  std::set<std::tuple<int, int, int>> seen;  // (producer, output, reader rank)
  for (int id = 0; id < g.num_nodes(); ++id) {
    if (!need[size_t(id)]) continue;
    for (const Output& o : g.node(id).inputs)
      if (placement[size_t(o.node)] != placement[size_t(id)]) seen.insert({o.node, o.index, placement[size_t(id)]});
  }
  std::vector<CutEdge> cuts;
  for (const auto& [node, index, to] : seen) {  // sorted: source order
    CutEdge e;
    e.src = {node, index};
    e.from = placement[size_t(node)];
    e.to = to;
    e.tag = opt.tag_base + int64_t(cuts.size());
    e.key = edge_key(g, e.src, to);
    e.dtype = g.node(node).out_dtypes[size_t(index)];
    cuts.push_back(e);
  }
  return cuts;
}

Value Partition::operator[](const Value& src) const {
  auto it = local.find(src.output());
  if (it == local.end())
    throw Error("partition: '" + src.name() + "' is placed on rank " + std::to_string(placement.at(size_t(src.node()))) +
                " and not received on rank " + std::to_string(rank));
  return it->second;
}

std::vector<Value> Partition::targets(const std::vector<Value>& src_fetches) const {
  std::vector<Value> t;
  for (const Value& v : src_fetches) t.push_back((*this)[v]);
  t.insert(t.end(), sends.begin(), sends.end());
  t.insert(t.end(), recvs.begin(), recvs.end());
  return t;
}

Partition partition(Graph& g, int rank, const PartitionOptions& opt) {
  if (rank < 0 || rank >= opt.num_ranks)
    throw Error("partition: rank " + std::to_string(rank) + " is not among " + std::to_string(opt.num_ranks));
  const OpRegistry& reg = OpRegistry::get();
  if (!reg.find("send") || !reg.find("recv"))
    throw Error("partition: the send and recv ops are not registered (call comm::register_ops() first)");
  Partition P;
  P.rank = rank;
  P.graph = std::make_unique<Graph>(g.seed());
  Graph& out = *P.graph;
  P.placement = place(g, opt);
  P.cuts = cut_edges(g, P.placement, opt);
  const std::vector<char> need = needed(g, opt.fetches);
  const std::vector<std::vector<Shape>> shapes = infer_shapes(g, opt);
  for (CutEdge& e : P.cuts) {
    e.shape = shapes[size_t(e.src.node)][size_t(e.src.index)];
    if (!fully_defined(e.shape))
      throw Error("partition: cut edge " + e.key + " has shape " + shape_str(e.shape) +
                  " (give the placeholders' shapes in PartitionOptions::feed_shapes)");
  }
  std::map<std::pair<Output, int>, const CutEdge*> edge_of;  // (src, to) -> edge
  std::map<Output, std::vector<const CutEdge*>> sends_of;     // src -> edges leaving this rank
  for (const CutEdge& e : P.cuts) {
    edge_of[{e.src, e.to}] = &e;
    if (e.from == rank) sends_of[e.src].push_back(&e);
  }
  std::map<int, bool> trainable;
  for (const VariableInfo& v : g.variable_info()) trainable[v.node] = v.trainable;
  std::map<int, int> new_id;  // source node id -> id in out

  auto input_of = [&](const Output& o) -> Value {
    auto it = P.local.find(o);
    if (it != P.local.end()) return it->second;
    const CutEdge* e = edge_of.at({o, rank});  // a remote value: receive it once
    Value r = out.add1("recv", {},
                       {{"shape", e->shape}, {"dtype", int64_t(e->dtype)}, {"peer", int64_t(e->from)},
                        {"tag", e->tag}, {"key", e->key}},
                       "cut/recv/" + g.node(o.node).name);
    P.recvs.push_back(r);
    P.local[o] = r;
    return r;
  };

  for (int id = 0; id < g.num_nodes(); ++id) {
    if (!need[size_t(id)] || P.placement[size_t(id)] != rank) continue;
    const Node& n = g.node(id);
    std::vector<Value> outs;
    if (n.op == "placeholder") {
      outs = {out.placeholder(n.name, shapes[size_t(id)][0], n.out_dtypes[0])};
    } else if (n.op == "variable") {
      outs = {out.variable(n.name, g.value(id).shape(), init::zeros(), n.out_dtypes[0], trainable[id])};
      out.value(outs[0]) = g.value(id);  // shared storage
    } else if (g.has_value(id)) {
      outs = {out.constant(g.value(id), n.name)};
    } else {
      std::vector<Value> ins;
      for (const Output& o : n.inputs) ins.push_back(input_of(o));
      outs = out.add(n.op, ins, n.attrs, n.name);
    }
    Node& nn = out.mutable_node(outs[0].node());
    nn.device = n.device;
    new_id[id] = nn.id;
    for (int c : n.control_inputs)
      if (new_id.count(c)) out.add_control_input(nn.id, new_id[c]);
    for (size_t i = 0; i < outs.size(); ++i) {
      Output o{id, int(i)};
      P.local[o] = outs[i];
      auto it = sends_of.find(o);
      if (it == sends_of.end()) continue;
      for (const CutEdge* e : it->second)
        P.sends.push_back(out.add1("send", {outs[i]}, {{"peer", int64_t(e->to)}, {"tag", e->tag}, {"key", e->key}},
                                   "cut/send/" + e->key));
    }
  }
  return P;
}

}  // namespace ft
