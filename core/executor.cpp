// executor.cpp — plan compilation (order, shapes, kernels, memory) and the scheduler.
#include "core/executor.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <exception>
#include <memory>
#include <set>
#include <thread>
#include <sstream>

#include "core/device.h"
#include "core/memory_info.h"

namespace ft {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void Profile::add(const std::string& op, int64_t ns) {
  std::lock_guard<std::mutex> l(mu);
  auto& e = by_op[op];
  e.first += ns;
  e.second += 1;
}

struct Executor::Plan {
  struct Step {
    int node;                                   // graph node id; -1 for a copy
    const Node* n = nullptr;                    // the graph node, or the copy's own Node
    std::vector<std::pair<size_t, int>> ins;    // (step, output) read, in input order
    Device* dev = nullptr;                      // where it runs and its outputs live
    const Kernel* kernel = nullptr;
    bool async = false;
    bool alias = false;
    bool leaf = false;
    std::unique_ptr<KernelCtx> ctx;
    std::vector<int> succ;
    int deps = 0;
    std::vector<int> absorbed;  // graph nodes this (fused) step computes as well
    std::vector<int> absorbed_after;  // and those of them after its node in graph order
  };
  std::vector<Step> steps;                 // in order
  std::map<int, size_t> pos;               // node id -> index in steps
  std::vector<std::vector<Tensor>> slots;  // per step, per output
  std::vector<std::pair<size_t, size_t>> fed;  // (step index, feed index)
  std::vector<std::pair<size_t, int>> fetch;   // (step index, output)
  Tensor arena;                            // the cpu arena (own, without a HostArena)
  std::shared_ptr<HostArena> host_arena;   // or the shared one, bound at each run
  size_t host_bytes = 0;                   // what it needs of it
  char* host_base = nullptr;               // where the views below point now
  std::vector<std::pair<Tensor*, size_t>> host_views;  // slot, offset in the cpu arena
  std::vector<std::shared_ptr<void>> device_arenas;  // other devices' arenas
  std::vector<Device*> devices;            // non-host devices with steps (synchronized at the end of run)
  std::deque<Node> copy_nodes;             // the copies' Nodes (names for errors and profiles)
  std::deque<Node> fused_nodes;            // the fused steps' Nodes
  std::map<int, std::vector<int>> fused_after;  // head node -> the nodes after it that its step computes
  std::map<Output, Output> moved;          // such a node's output -> (head node, output of the fused step)
  std::deque<Kernel> copy_kernels;
  DevicePlacement placement;
  PlanStats stats;
  bool any_async = false;
};

Executor::Executor(Graph& g, ThreadPool* pool, std::string device)
    : g_(g), pool_(pool ? pool : &ThreadPool::global()), device_(std::move(device)) {}
Executor::~Executor() = default;

namespace {
std::string plan_key(const Executor::Feeds& feeds, const std::vector<Value>& fetches) {
  std::ostringstream o;
  for (const auto& f : feeds)
    o << f.first.node() << shape_str(f.second.shape()) << int(f.second.dtype()) << f.second.device() << ";";
  o << "|";
  for (const auto& v : fetches) o << v.node() << ":" << v.index() << ",";
  return o.str();
}
}  // namespace

Executor::Plan& Executor::plan_for(const Feeds& feeds, const std::vector<Value>& fetches) {
  std::string key = plan_key(feeds, fetches);
  auto it = plans_.find(key);
  if (it == plans_.end()) it = plans_.emplace(key, compile(feeds, fetches)).first;
  return *it->second;
}

const PlanStats& Executor::stats(const Feeds& feeds, const std::vector<Value>& fetches) {
  return plan_for(feeds, fetches).stats;
}

const PlanStats& Executor::last_stats() const {
  static const PlanStats none;
  return last_ ? last_->stats : none;
}

const DevicePlacement& Executor::placement(const Feeds& feeds, const std::vector<Value>& fetches) {
  return plan_for(feeds, fetches).placement;
}

std::vector<int> Executor::order(const Feeds& feeds, const std::vector<Value>& fetches) {
  std::vector<int> o;
  for (const auto& s : plan_for(feeds, fetches).steps) {
    o.insert(o.end(), s.absorbed.begin(), s.absorbed.end());
    if (s.node >= 0) o.push_back(s.node);
    o.insert(o.end(), s.absorbed_after.begin(), s.absorbed_after.end());
  }
  return o;
}

std::map<int, std::vector<Shape>> Executor::shapes(const Feeds& feeds, const std::vector<Value>& fetches) {
  const Plan& P = plan_for(feeds, fetches);
  std::map<int, std::vector<Shape>> out;
  for (size_t si = 0; si < P.steps.size(); ++si) {
    const Plan::Step& st = P.steps[si];
    if (st.node < 0) continue;
    std::vector<Shape> own;
    for (const Tensor& t : P.slots[si]) own.push_back(t.shape());
    for (int a : st.absorbed) out[a] = {own[0]};
    for (int a : st.absorbed_after) out[a] = {own[size_t(P.moved.at(Output{a, 0}).index)]};
    if (!st.absorbed_after.empty()) own.resize(g_.node(st.node).out_shapes.size());  // the node's own outputs
    out[st.node] = std::move(own);
  }
  return out;
}

// Fusion, where nothing else reads the intermediates and the steps share a device
// that has the fused op's kernel for the dtype:
//   conv2d | matmul -> add(bias) [-> relu]   conv2d_bias_act | matmul_bias_act
//     (bias (O, 1, 1) or (1, O, 1, 1) for conv2d, (N) for matmul): the bias and
//     ReLU applied as the product is written (oneDNN post-ops for convolutions;
//     for matmul on each block of rows right after its GEMM, while in cache);
//   relu_grad(max_pool2d_grad(g, argmax, y), y), argmax from max_pool2d(y)
//     max_pool2d_grad_relu: the ReLU's mask applied as the pooled gradient is
//     scattered, read from the pool's output (the value each window took);
//   cast(sparse_softmax_cross_entropy_grad(..)) to f16/bf16
//     sparse_softmax_cross_entropy_grad_cast: the gradient written in half;
//   sparse_softmax_cross_entropy_grad dx read by sum_to_like(dx, bias (C))
//     [and otherwise only by a cast to f16/bf16]
//     sparse_softmax_cross_entropy_grad_bias: one step with two outputs, dx
//     (or its cast) and the bias gradient, the f32 gradient read once.
// The fused step sits at the last node of the chain, so fetching that node
// still works. The one with two outputs sits at the gradient's node instead;
// the sum and the cast come after it in graph order, and their readers read
// the fused step's outputs (P.moved). "Nothing else reads" counts every reader in the plan: data
// inputs, control inputs, fetches and device copies; a fed or constant node is
// never fused away. The add's gradient passes g through unchanged (it reads
// neither input), and relu_grad reads the relu's output, so a training plan
// keeps the forward pattern. Returns head node -> the nodes it absorbs (in
// order); the fused Nodes go to P.fused_nodes.
std::map<int, std::vector<int>> Executor::find_fusions(Plan& P, const DevicePlacement& placed,
                                                        const std::map<int, size_t>& fed_index,
                                                        const std::vector<Value>& fetches) const {
  const OpRegistry& reg = OpRegistry::get();
  std::map<int, int> readers;  // node -> reads of any of its outputs
  std::map<int, std::vector<int>> data_readers;  // node -> the nodes that read it as data, once per read
  std::map<int, int> other_reads;  // node -> control inputs and device copies of it
  for (int id : placed.nodes) {
    const Node& n = g_.node(id);
    for (const Output& o : n.inputs) readers[o.node]++, data_readers[o.node].push_back(id);
    for (int c : n.control_inputs) readers[c]++, other_reads[c]++;
  }
  std::set<int> fetched;
  for (const Value& v : fetches) readers[v.node()]++, fetched.insert(v.node());
  for (const DeviceCopy& c : placed.copies) readers[c.src.node]++, other_reads[c.src.node]++;
  const std::set<int> in_plan(placed.nodes.begin(), placed.nodes.end());
  auto sole = [&](int id) {
    return in_plan.count(id) && readers[id] == 1 && !fed_index.count(id) && !g_.has_value(id);
  };
  std::map<int, std::vector<int>> out;
  std::set<int> taken;
  // A producer absorbed into the node h that reads it, as one fused node at h.
  auto fuse_two = [&](int id, const Node& h, int pid, const Node& p, const std::string& op, std::vector<Output> inputs,
                      AttrMap attrs) {
    Node f;
    f.id = id;
    f.op = op;
    f.name = h.name;
    f.device = h.device;
    f.inputs = std::move(inputs);
    f.control_inputs = p.control_inputs;
    f.control_inputs.insert(f.control_inputs.end(), h.control_inputs.begin(), h.control_inputs.end());
    f.attrs = std::move(attrs);
    f.out_shapes = h.out_shapes;
    f.out_dtypes = h.out_dtypes;
    P.fused_nodes.push_back(std::move(f));
    out[id] = {pid};
    taken.insert(pid);
    taken.insert(id);
  };
  for (auto it = placed.nodes.rbegin(); it != placed.nodes.rend(); ++it) {  // the longest chain first
    const int id = *it;
    if (taken.count(id)) continue;
    const Node& h = g_.node(id);
    // sparse_softmax_cross_entropy_grad and the bias gradient that reads it [and
    // its cast to half]: one step at the gradient's node, with two outputs.
    if (h.op == "sparse_softmax_cross_entropy_grad") {
      const std::string& dev = placed.device[size_t(id)];
      if (fed_index.count(id) || g_.has_value(id) || h.out_dtypes[0] != DType::F32 || h.out_shapes[0].size() != 2 ||
          !reg.find_kernel("sparse_softmax_cross_entropy_grad_bias", dev, DType::F32))
        continue;
      const int64_t C = h.out_shapes[0][1];
      if (C < 0) continue;  // the bias gradient's shape must be known to match it
      // A reader that can move into the step: computed here, on this device, read
      // as data or fetched, and ordered by nothing but its inputs.
      auto movable = [&](int r) {
        const Node& rn = g_.node(r);
        return in_plan.count(r) && !taken.count(r) && !other_reads[r] && placed.device[size_t(r)] == dev &&
               !fed_index.count(r) && !g_.has_value(r) && rn.control_inputs.empty() && rn.inputs[0] == Output{id, 0};
      };
      int sum = -1, to_half = -1;
      bool others = other_reads[id] > 0 || fetched.count(id);
      for (int r : data_readers[id]) {
        const Node& rn = g_.node(r);
        if (sum < 0 && rn.op == "sum_to_like" && rn.out_shapes[0] == Shape{C} && rn.out_dtypes[0] == DType::F32 &&
            movable(r))
          sum = r;
        else if (to_half < 0 && rn.op == "cast" &&
                 (rn.out_dtypes[0] == DType::F16 || rn.out_dtypes[0] == DType::BF16) && movable(r))
          to_half = r;
        else
          others = true;
      }
      if (sum < 0) continue;
      if (others) to_half = -1;  // dx is read in f32 as well: the step writes it in f32, the cast stays
      Node f;
      f.id = id;
      f.op = "sparse_softmax_cross_entropy_grad_bias";
      f.name = h.name;
      f.device = h.device;
      f.inputs = h.inputs;
      f.control_inputs = h.control_inputs;
      f.attrs = h.attrs;
      const DType to = to_half >= 0 ? g_.node(to_half).out_dtypes[0] : DType::F32;
      if (to != DType::F32) f.attrs.set("to", int64_t(to));
      f.out_shapes = {h.out_shapes[0], Shape{C}};
      f.out_dtypes = {to, DType::F32};
      P.fused_nodes.push_back(std::move(f));
      std::vector<int>& after = P.fused_after[id];
      after = {sum};
      P.moved[Output{sum, 0}] = Output{id, 1};
      if (to_half >= 0) {
        after.push_back(to_half);
        P.moved[Output{to_half, 0}] = Output{id, 0};
      }
      std::sort(after.begin(), after.end());
      taken.insert(after.begin(), after.end());
      taken.insert(id);
      continue;
    }
    // cast(sparse_softmax_cross_entropy_grad(..)) to f16/bf16: the logits' gradient
    // written in half as it is computed, the f32 one never stored.
    if (h.op == "cast") {
      const Output so = h.inputs[0];
      const Node& sg = g_.node(so.node);
      const DType to = h.out_dtypes[0];
      const std::string& dev = placed.device[size_t(id)];
      if (sg.op != "sparse_softmax_cross_entropy_grad" || so.index != 0 || !sole(so.node) || taken.count(so.node) ||
          sg.out_dtypes[0] != DType::F32 || (to != DType::F16 && to != DType::BF16) ||
          placed.device[size_t(so.node)] != dev ||
          !reg.find_kernel("sparse_softmax_cross_entropy_grad_cast", dev, DType::F32))
        continue;
      AttrMap attrs = sg.attrs;
      attrs.set("to", int64_t(to));
      fuse_two(id, h, so.node, sg, "sparse_softmax_cross_entropy_grad_cast", sg.inputs, attrs);
      continue;
    }
    // relu_grad(max_pool2d_grad(g, argmax, y), y): the mask applied as the
    // gradient is scattered (max_pool2d_grad_relu), dx never stored unmasked.
    if (h.op == "relu_grad") {
      const Output po = h.inputs[0];
      const Node& p = g_.node(po.node);
      if (p.op != "max_pool2d_grad" || po.index != 0 || !sole(po.node) || taken.count(po.node) ||
          !(p.inputs[2] == h.inputs[1]) || placed.device[size_t(po.node)] != placed.device[size_t(id)] ||
          !reg.find_kernel("max_pool2d_grad_relu", placed.device[size_t(id)], h.out_dtypes[0]))
        continue;
      const Output argmax = p.inputs[1];
      const Node& pool = g_.node(argmax.node);  // the forward pool, whose output is the mask
      if (pool.op != "max_pool2d" || argmax.index != 1 || !(pool.inputs[0] == h.inputs[1]) ||
          !in_plan.count(argmax.node) || placed.device[size_t(argmax.node)] != placed.device[size_t(id)])
        continue;
      std::vector<Output> inputs = p.inputs;
      inputs.push_back(Output{argmax.node, 0});
      fuse_two(id, h, po.node, p, "max_pool2d_grad_relu", inputs, p.attrs);
      continue;
    }
    int add_id = id;
    std::string act;
    if (h.op == "relu") {
      add_id = h.inputs[0].node;
      act = "relu";
      if (h.inputs[0].index != 0 || !sole(add_id) || taken.count(add_id)) continue;
    } else if (h.op != "add") {
      continue;
    }
    const Node& a = g_.node(add_id);
    if (a.op != "add") continue;
    const std::string& dev = placed.device[size_t(id)];
    for (int side = 0; side < 2; ++side) {
      const Output mo = a.inputs[size_t(side)], bo = a.inputs[size_t(1 - side)];
      const Node& m = g_.node(mo.node);
      if ((m.op != "conv2d" && m.op != "matmul") || !sole(mo.node) || taken.count(mo.node)) continue;
      if (placed.device[size_t(add_id)] != dev || placed.device[size_t(mo.node)] != dev) continue;
      const Shape& y = m.out_shapes[0];
      const Shape& b = g_.node(bo.node).out_shapes[size_t(bo.index)];
      bool per_channel;
      if (m.op == "conv2d") {
        const int64_t o = y.size() == 4 ? y[1] : -1;
        per_channel = o > 0 && ((b.size() == 3 && b[0] == o && b[1] == 1 && b[2] == 1) ||
                                (b.size() == 4 && b[0] == 1 && b[1] == o && b[2] == 1 && b[3] == 1));
      } else {
        per_channel = y.size() >= 2 && y.back() > 0 && b == Shape{y.back()};
      }
      const DType t = m.out_dtypes[0];
      const std::string fused_op = m.op + "_bias_act";
      if (!per_channel || a.out_shapes[0] != y || g_.node(bo.node).out_dtypes[size_t(bo.index)] != t ||
          !reg.find_kernel(fused_op, dev, t))
        continue;
      Node f;
      f.id = id;
      f.op = fused_op;
      f.name = h.name;
      f.device = h.device;
      f.inputs = {m.inputs[0], m.inputs[1], bo};
      for (const Node* n : {&m, &a, &h}) f.control_inputs.insert(f.control_inputs.end(), n->control_inputs.begin(), n->control_inputs.end());
      f.attrs = m.attrs;
      f.attrs.set("act", act);
      f.out_shapes = h.out_shapes;
      f.out_dtypes = h.out_dtypes;
      P.fused_nodes.push_back(std::move(f));
      std::vector<int>& absorbed = out[id];
      absorbed.push_back(mo.node);
      if (add_id != id) absorbed.push_back(add_id);
      taken.insert(absorbed.begin(), absorbed.end());
      taken.insert(id);
      break;
    }
  }
  return out;
}

std::unique_ptr<Executor::Plan> Executor::compile(const Feeds& feeds, const std::vector<Value>& fetches) {
  auto plan = std::make_unique<Plan>();
  Plan& P = *plan;
  const OpRegistry& reg = OpRegistry::get();
  std::map<int, size_t> fed_index;
  for (size_t i = 0; i < feeds.size(); ++i) fed_index[feeds[i].first.node()] = i;

  // 1. the nodes the fetches need, each on a device, and the copies between devices
  PlaceOptions po;
  po.device = device_;
  po.fetches = fetches;
  if (resident_) po.resident = resident_->device().name();
  po.fetch_on_device = fetch_on_device_;
  for (const auto& f : fed_index) {
    po.fed.insert(f.first);
    const Tensor& t = feeds[f.second].second;
    if (t.device_ptr()) po.fed_on[f.first] = t.device();  // a staged input, already on its device
  }
  P.placement = place_devices(g_, po);
  const DevicePlacement& placed = P.placement;
  std::map<std::string, Device*> devs;
  for (const std::string& d : placed.devices()) {
    devs[d] = &ft::device(d);  // throws a one-line error when the device is not present
    if (!devs[d]->is_host()) P.devices.push_back(devs[d]);
  }
  std::map<Output, std::vector<const DeviceCopy*>> copies_of;  // producer output -> its copies
  for (const DeviceCopy& c : placed.copies) copies_of[c.src].push_back(&c);
  std::map<std::pair<Output, std::string>, size_t> copy_step;  // (value, to) -> step

  // 1b. fusion: conv2d or matmul -> add(bias) [-> relu], max_pool2d_grad -> relu_grad
  std::map<int, std::vector<int>> fused = fuse_ ? find_fusions(P, placed, fed_index, fetches)
                                                : std::map<int, std::vector<int>>{};
  std::set<int> absorbed;
  for (const auto& f : fused) absorbed.insert(f.second.begin(), f.second.end());
  for (const auto& f : P.fused_after) absorbed.insert(f.second.begin(), f.second.end());
  std::map<int, const Node*> fused_node;
  for (const Node& f : P.fused_nodes) fused_node[f.id] = &f;

  // 2. order, shapes, kernels; each copy right after its producer
  for (int id : placed.nodes) {  // id order = topological order
    if (absorbed.count(id)) continue;
    const Node& n = fused_node.count(id) ? *fused_node.at(id) : g_.node(id);
    const std::string& dev = placed.device[size_t(id)];
    size_t si = P.steps.size();
    P.pos[id] = si;
    P.steps.emplace_back();
    Plan::Step& st = P.steps.back();
    st.node = id;
    st.n = &n;
    st.dev = devs.at(dev);
    if (fused.count(id)) st.absorbed = fused.at(id);
    if (P.fused_after.count(id)) st.absorbed_after = P.fused_after.at(id);
    std::vector<Shape> shapes;
    std::vector<DType> dtypes;
    if (fed_index.count(id)) {
      const Tensor& t = feeds[fed_index[id]].second;
      const Shape& decl = n.out_shapes[0];
      bool ok = t.dtype() == n.out_dtypes[0] && t.rank() == int(decl.size());
      for (size_t d = 0; ok && d < decl.size(); ++d) ok = decl[d] < 0 || decl[d] == t.shape()[d];
      if (!ok)
        throw Error("feed for '" + n.name + "': got " + shape_str(t.shape()) + " " + dtype_name(t.dtype()) +
                    ", expected " + shape_str(decl) + " " + dtype_name(n.out_dtypes[0]));
      shapes = {t.shape()};
      dtypes = {t.dtype()};
      st.leaf = true;
      P.fed.emplace_back(si, fed_index[id]);
    } else if (n.op == "placeholder") {
      throw Error("placeholder '" + n.name + "' must be fed");
    } else if (g_.has_value(id)) {
      shapes = {g_.value(id).shape()};
      dtypes = {g_.value(id).dtype()};
      st.leaf = true;
    } else {
      const OpDef& def = reg.at(n.op);
      ShapeCtx ctx{n, {}, {}, {}, {}};
      for (Output o : n.inputs) {
        if (auto m = P.moved.find(o); m != P.moved.end()) o = m->second;  // computed by a fused step
        auto c = copy_step.find({o, dev});
        size_t from = c != copy_step.end() ? c->second : P.pos.at(o.node);
        int index = c != copy_step.end() ? 0 : o.index;
        st.ins.emplace_back(from, index);
        const Tensor& in = P.slots[from][size_t(index)];
        ctx.in_shapes.push_back(in.shape());
        ctx.in_dtypes.push_back(in.dtype());
      }
      def.shape(ctx);
      for (const Shape& s : ctx.out_shapes)
        if (!fully_defined(s)) ctx.fail("output shape " + shape_str(s) + " is not known at run time");
      shapes = ctx.out_shapes;
      dtypes = ctx.out_dtypes;
      DType kd = dispatch_dtype(n, ctx.in_dtypes);
      st.kernel = reg.find_kernel(n.op, dev, kd);
      if (!st.kernel)
        throw Error("op '" + n.name + "' (" + n.op + "): no kernel for device " + dev + " and dtype " + dtype_name(kd));
      st.async = def.is_async;
      st.alias = def.alias_input0;
      P.any_async = P.any_async || st.async;
    }
    std::vector<Tensor> outs;
    for (size_t i = 0; i < shapes.size(); ++i) outs.push_back(Tensor::view(nullptr, shapes[i], dtypes[i]));
    P.slots.push_back(std::move(outs));
    for (size_t i = 0; i < shapes.size(); ++i) {
      auto it = copies_of.find({id, int(i)});
      if (it == copies_of.end()) continue;
      for (const DeviceCopy* c : it->second) {
        Device* from = devs.at(c->from);
        Device* to = devs.at(c->to);
        P.copy_nodes.emplace_back();
        Node& cn = P.copy_nodes.back();
        cn.op = "copy";
        cn.name = "copy/" + n.name + ":" + std::to_string(i) + "->" + c->to;
        cn.device = c->to;
        P.copy_kernels.push_back(Kernel{[from, to](KernelCtx& k) {
                                          copy_between(*from, k.in(0).raw(), *to, k.out(0).raw(), k.in(0).bytes());
                                        },
                                        {}});
        size_t ci = P.steps.size();
        copy_step[{c->src, c->to}] = ci;
        P.steps.emplace_back();
        Plan::Step& cs = P.steps.back();
        cs.node = -1;
        cs.n = &cn;
        cs.dev = to;
        cs.ins = {{si, int(i)}};
        cs.kernel = &P.copy_kernels.back();
        P.slots.push_back({Tensor::view(nullptr, shapes[i], dtypes[i])});
      }
    }
  }

  // 3. memory plan: one arena per device, best-fit reuse within it
  const size_t S = P.steps.size();
  std::map<std::pair<size_t, int>, int> remaining;  // (step, out) -> reads left
  std::set<std::pair<size_t, int>> fetched;
  for (const Value& v : fetches) {
    Output o = v.output();
    if (auto m = P.moved.find(o); m != P.moved.end()) o = m->second;  // computed by a fused step
    size_t si = P.pos.at(o.node);
    int index = o.index;
    auto c = copy_step.find({o, std::string("cpu")});
    if (placed.device[size_t(o.node)] != "cpu" && c != copy_step.end() && !fetch_on_device_) {
      si = c->second;  // a device value is returned through its host copy
      index = 0;
    }
    P.fetch.emplace_back(si, index);
    fetched.insert({si, index});
  }
  for (size_t si = 0; si < S; ++si)
    for (const auto& in : P.steps[si].ins) remaining[in]++;
  std::vector<Device*> arena_dev;  // index 0 = the cpu arena
  std::map<Device*, size_t> arena_of;
  auto arena_index = [&](Device* d) {
    auto it = arena_of.find(d);
    if (it != arena_of.end()) return it->second;
    arena_dev.push_back(d);
    return arena_of[d] = arena_dev.size() - 1;
  };
  arena_index(&cpu_device());
  struct Buf {
    size_t bytes = 0;
    size_t arena = 0;
    std::vector<size_t> release;  // steps that must finish before reuse
    int pending = 0;              // reads left of the tensors it holds
    bool pinned = false;          // fetched: live to the end
  };
  std::vector<Buf> bufs;
  std::map<std::pair<size_t, int>, int> buf_of;  // (step, out) -> buffer, -1 = external
  std::vector<std::multimap<size_t, int>> free_bufs(1);  // per arena: bytes -> buffer
  std::vector<std::set<size_t>> extra_deps(S);
  auto release_read = [&](int b, size_t reader) {
    if (b < 0) return;
    Buf& B = bufs[size_t(b)];
    B.release.push_back(reader);
    if (--B.pending == 0 && !B.pinned) free_bufs[B.arena].emplace(B.bytes, b);
  };
  for (size_t si = 0; si < S; ++si) {
    Plan::Step& st = P.steps[si];
    const size_t a = arena_index(st.dev);
    if (free_bufs.size() <= a) free_bufs.resize(a + 1);
    for (size_t oi = 0; oi < P.slots[si].size(); ++oi) {
      std::pair<size_t, int> key{si, int(oi)};
      int reads = remaining.count(key) ? remaining[key] : 0;
      bool pin = fetched.count(key) > 0;
      if (st.leaf) { buf_of[key] = -1; continue; }
      if (st.alias && oi == 0) {
        int b = buf_of.at(st.ins[0]);
        buf_of[key] = b;
        if (b >= 0) {
          bufs[size_t(b)].pending += reads;
          bufs[size_t(b)].pinned = bufs[size_t(b)].pinned || pin;
        }
        continue;
      }
      size_t bytes = (P.slots[si][oi].bytes() + 63) / 64 * 64;
      P.stats.unplanned_bytes += bytes;
      int b = -1;
      auto it = free_bufs[a].lower_bound(bytes);
      if (it != free_bufs[a].end()) {
        b = it->second;
        free_bufs[a].erase(it);
        for (size_t r : bufs[size_t(b)].release)
          if (r != si) extra_deps[si].insert(r);
        bufs[size_t(b)].release.clear();
      } else {
        b = int(bufs.size());
        bufs.push_back({});
        bufs.back().bytes = bytes;
        bufs.back().arena = a;
      }
      Buf& B = bufs[size_t(b)];
      B.pending = reads;
      B.pinned = pin;
      B.release.push_back(si);
      buf_of[key] = b;
      if (reads == 0 && !pin) free_bufs[a].emplace(B.bytes, b);
    }
    if (st.leaf) continue;
    for (const auto& in : st.ins) release_read(buf_of.at(in), si);
  }
  std::vector<size_t> offset(bufs.size());
  std::vector<size_t> total(arena_dev.size(), 0);
  for (size_t b = 0; b < bufs.size(); ++b) {
    offset[b] = total[bufs[b].arena];
    total[bufs[b].arena] += bufs[b].bytes;
  }
  // The cpu arena is refused before it is allocated when the machine cannot hold it.
  const size_t avail = available_memory_bytes();
  if (total[0] > avail)
    throw Error("the memory plan needs " + human_bytes(double(total[0])) + " for " + std::to_string(bufs.size()) +
                " intermediate buffers (feed shapes and model size), more than the " + human_bytes(double(avail)) +
                " of memory available");
  std::vector<char*> base(arena_dev.size(), nullptr);
  P.host_arena = host_arena_;
  P.host_bytes = std::max<size_t>(total[0], 64);
  if (!P.host_arena) {
    P.arena = Tensor::empty({int64_t((std::max<size_t>(total[0], 4) + 3) / 4)}, DType::F32);
    base[0] = static_cast<char*>(P.arena.raw());
  }
  for (size_t a = 1; a < arena_dev.size(); ++a) {
    Device* d = arena_dev[a];
    std::shared_ptr<void> mem(d->allocate(std::max<size_t>(total[a], 64)), [d](void* p) { d->free(p); });
    base[a] = static_cast<char*>(mem.get());
    P.device_arenas.push_back(std::move(mem));
  }
  for (size_t si = 0; si < S; ++si) {
    if (P.steps[si].leaf) continue;
    for (size_t oi = 0; oi < P.slots[si].size(); ++oi) {
      int b = buf_of.at({si, int(oi)});
      if (b >= 0 && !(P.steps[si].alias && oi == 0)) {
        Tensor& t = P.slots[si][oi];
        if (P.host_arena && bufs[size_t(b)].arena == 0) P.host_views.emplace_back(&t, offset[size_t(b)]);
        else
          t = Tensor::on_device(base[bufs[size_t(b)].arena] + offset[size_t(b)], t.shape(), t.dtype(),
                                arena_dev[bufs[size_t(b)].arena]);
      }
    }
  }
  P.stats.nodes = int(S);
  P.stats.buffers = int(bufs.size());
  P.stats.arena_bytes = 0;
  for (size_t t : total) P.stats.arena_bytes += t;
  P.stats.copies = int(placed.copies.size());

  // 4. dependencies and kernel contexts
  for (size_t si = 0; si < S; ++si) {
    Plan::Step& st = P.steps[si];
    const Node& n = *st.n;
    std::set<size_t> deps = extra_deps[si];
    P.stats.reuse_edges += int(deps.size());
    if (!st.leaf) {
      for (const auto& in : st.ins) deps.insert(in.first);
      for (int c : n.control_inputs)
        if (P.pos.count(c)) deps.insert(P.pos.at(c));
    }
    deps.erase(si);
    st.deps = int(deps.size());
    for (size_t d : deps) P.steps[d].succ.push_back(int(si));
    if (st.leaf) continue;
    st.ctx = std::make_unique<KernelCtx>(KernelCtx{n, {}, {}, pool_, nullptr, 0, true, st.dev});
    for (const auto& in : st.ins) st.ctx->inputs.push_back(&P.slots[in.first][size_t(in.second)]);
    for (auto& t : P.slots[si]) st.ctx->outputs.push_back(&t);
  }
  return plan;
}

namespace {

// Records one step's kernel time in the profile and the trace, when asked for.
void record_step(const RunOptions& opt, const Executor::Plan::Step& st, int64_t t0, int thread, std::mutex* trace_mu) {
  if (!opt.profile && !opt.trace) return;
  const int64_t t1 = now_ns();
  if (opt.profile) opt.profile->add(st.ctx->node.op, t1 - t0);
  if (opt.trace && st.node >= 0) {
    std::unique_lock<std::mutex> l;
    if (trace_mu) l = std::unique_lock<std::mutex>(*trace_mu);
    opt.trace->push_back({st.node, t0, t1, thread});
  }
}

// Binds an alias step's output to its input's bytes (reshape-like ops run no kernel).
void bind_alias(Executor::Plan& P, size_t si) {
  Executor::Plan::Step& st = P.steps[si];
  if (!st.alias) return;
  Tensor& out = P.slots[si][0];
  const Tensor& in = st.ctx->in(0);
  out = Tensor::on_device(const_cast<void*>(in.raw()), out.shape(), out.dtype(), in.device_ptr());
}

Error op_error(const Node& n, const std::exception& e) {
  return Error("op '" + n.name + "' (" + n.op + "): " + e.what());
}

// One run of a plan on the thread pool. Pool tasks and async completions hold it
// by shared_ptr: the thread that finishes the last step is still inside finish()
// (notifying the pool) when run() sees the count and returns, so nothing a task
// touches after its step may live on run()'s stack, and after the last count it
// reads nothing of the plan either (the caller may destroy the Executor at once).
struct ParallelRun : std::enable_shared_from_this<ParallelRun> {
  ParallelRun(Executor::Plan& plan, const RunOptions& o, ThreadPool* p)
      : P(plan), opt(o), pool(p), caller(std::this_thread::get_id()), total(plan.steps.size()),
        pending(plan.steps.size()) {
    for (size_t i = 0; i < P.steps.size(); ++i) pending[i].store(P.steps[i].deps, std::memory_order_relaxed);
  }
  Executor::Plan& P;
  const RunOptions& opt;  // read only before a step's finish(), while run() still waits
  ThreadPool* pool;
  const std::thread::id caller;
  const size_t total;  // steps in the plan
  std::vector<std::atomic<int>> pending;
  std::atomic<size_t> finished{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex err_mu, trace_mu;

  void submit(size_t si) {
    pool->submit([self = shared_from_this(), si] { self->execute(si); });
  }
  void fail(const Node& n, const std::exception& e) {
    std::lock_guard<std::mutex> l(err_mu);
    if (!failed.exchange(true)) error = std::make_exception_ptr(op_error(n, e));
  }
  void fail(const Node& n, const Status& s) { fail(n, Error(s.message())); }
  void finish(size_t si) {
    for (int s : P.steps[si].succ)
      if (pending[size_t(s)].fetch_sub(1) == 1) submit(size_t(s));
    // The last count is made under the pool's lock (notify_after): run() reads
    // the count under that lock, so it returns, and its caller may destroy the
    // pool, only once this thread has let go of it. The thread may be no worker
    // of the pool (the comm engine finishing a send), which the pool's
    // destructor would not wait for.
    size_t f = finished.load();
    for (;;) {
      if (f + 1 == total) {
        pool->notify_after([this] { finished.fetch_add(1); });
        return;
      }
      if (finished.compare_exchange_weak(f, f + 1)) return;
    }
  }
  void execute(size_t si) {
    Executor::Plan::Step& st = P.steps[si];
    if (st.leaf || failed.load()) return finish(si);
    bind_alias(P, si);
    const int64_t t0 = (opt.profile || opt.trace) ? now_ns() : 0;
    const int thread = std::this_thread::get_id() == caller ? 0 : 1;
    try {
      if (st.async) {
        st.kernel->async_fn(*st.ctx, [self = shared_from_this(), si, t0, thread](const Status& s) {
          Executor::Plan::Step& done_st = self->P.steps[si];
          if (s.ok())
            record_step(self->opt, done_st, t0, thread, &self->trace_mu);
          else
            self->fail(done_st.ctx->node, s);
          self->finish(si);
        });
        return;
      }
      st.kernel->fn(*st.ctx);
      record_step(opt, st, t0, thread, &trace_mu);
    } catch (const std::exception& e) {
      fail(st.ctx->node, e);
    }
    finish(si);
  }
};

}  // namespace

Tensor& ResidentVariables::of(int node) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = held_.find(node);
  if (it != held_.end()) return it->second;
  const Tensor& host = g_.value(node);
  Tensor t = Tensor::empty_on(dev_, host.shape(), host.dtype());
  t.copy_from(host);
  return held_.emplace(node, std::move(t)).first->second;
}

void ResidentVariables::download() {
  std::lock_guard<std::mutex> l(mu_);
  for (auto& kv : held_)
    if (g_.node(kv.first).op == "variable") g_.value(kv.first).copy_from(kv.second);
}

size_t ResidentVariables::bytes() const {
  std::lock_guard<std::mutex> l(mu_);
  size_t b = 0;
  for (const auto& kv : held_) b += kv.second.bytes();
  return b;
}

char* HostArena::reserve(size_t bytes) {
  if (bytes > bytes_) {
    mem_ = Tensor();  // before the larger block: the two are never held at once
    bytes_ = 0;
    const size_t n = (bytes + 63) / 64 * 64;
    mem_ = Tensor::empty({int64_t(n / 4)}, DType::F32);  // 64-byte aligned; throws naming the size
    bytes_ = n;
  }
  return static_cast<char*>(mem_.raw());
}

std::vector<Tensor> Executor::run(const Feeds& feeds, const std::vector<Value>& fetches, const RunOptions& opt) {
  Plan& P = plan_for(feeds, fetches);
  last_ = &P;
  if (P.host_arena) {
    char* base = P.host_arena->reserve(P.host_bytes);
    if (base != P.host_base) {
      for (auto& v : P.host_views) *v.first = Tensor::view(base + v.second, v.first->shape(), v.first->dtype());
      P.host_base = base;
    }
  }
  // bind leaves
  for (auto& f : P.fed) P.slots[f.first][0] = feeds[f.second].second;
  for (size_t si = 0; si < P.steps.size(); ++si) {
    const Plan::Step& st = P.steps[si];
    if (st.leaf && st.node >= 0 && g_.has_value(st.node))
      P.slots[si][0] = st.dev->is_host() ? g_.value(st.node) : resident_->of(st.node);
    if (st.ctx) {
      st.ctx->resources = opt.resources;
      st.ctx->step = opt.step;
      st.ctx->training = opt.training;
    }
  }
  const size_t S = P.steps.size();
  if (S == 0) return {};
  if (pool_->threads() == 1 && !P.any_async) {
    // Sequential fast path: id order is a valid schedule.
    for (size_t si = 0; si < S; ++si) {
      Plan::Step& st = P.steps[si];
      if (st.leaf) continue;
      bind_alias(P, si);
      const int64_t t0 = (opt.profile || opt.trace) ? now_ns() : 0;
      try {
        st.kernel->fn(*st.ctx);
      } catch (const std::exception& e) {
        throw op_error(st.ctx->node, e);
      }
      record_step(opt, st, t0, 0, nullptr);
    }
  } else {
    auto run = std::make_shared<ParallelRun>(P, opt, pool_);
    for (size_t si = 0; si < S; ++si)
      if (P.steps[si].deps == 0) run->submit(si);
    pool_->wait_until([&] { return run->finished.load() == S; });
    if (run->error) std::rethrow_exception(run->error);
  }
  for (Device* d : P.devices) d->synchronize();  // device work done; errors it recorded surface here
  std::vector<Tensor> out;
  for (const auto& f : P.fetch) out.push_back(P.slots[f.first][size_t(f.second)]);
  return out;
}

}  // namespace ft
