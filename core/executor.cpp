// executor.cpp — plan compilation (order, shapes, kernels, memory) and the scheduler.
#include "core/executor.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <set>
#include <sstream>

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
    int node;
    const Kernel* kernel = nullptr;
    bool async = false;
    bool alias = false;
    bool leaf = false;
    std::unique_ptr<KernelCtx> ctx;
    std::vector<int> succ;
    int deps = 0;
  };
  std::vector<Step> steps;                 // in order
  std::map<int, size_t> pos;               // node id -> index in steps
  std::vector<std::vector<Tensor>> slots;  // per step, per output
  std::vector<std::pair<size_t, size_t>> fed;  // (step index, feed index)
  std::vector<std::pair<size_t, int>> fetch;   // (step index, output)
  Tensor arena;
  PlanStats stats;
  bool any_async = false;
};

Executor::Executor(Graph& g, ThreadPool* pool) : g_(g), pool_(pool ? pool : &ThreadPool::global()) {}
Executor::~Executor() = default;

namespace {
std::string plan_key(const Executor::Feeds& feeds, const std::vector<Value>& fetches) {
  std::ostringstream o;
  for (const auto& f : feeds) o << f.first.node() << shape_str(f.second.shape()) << int(f.second.dtype()) << ";";
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

std::vector<int> Executor::order(const Feeds& feeds, const std::vector<Value>& fetches) {
  std::vector<int> o;
  for (const auto& s : plan_for(feeds, fetches).steps) o.push_back(s.node);
  return o;
}

std::unique_ptr<Executor::Plan> Executor::compile(const Feeds& feeds, const std::vector<Value>& fetches) {
  auto plan = std::make_unique<Plan>();
  Plan& P = *plan;
  const OpRegistry& reg = OpRegistry::get();
  std::map<int, size_t> fed_index;
  for (size_t i = 0; i < feeds.size(); ++i) fed_index[feeds[i].first.node()] = i;

  // 1. the nodes the fetches need
  std::set<int> need;
  std::vector<int> stack;
  for (const Value& v : fetches) {
    FT_CHECK(v.defined() && &v.graph() == &g_, "fetch from another graph");
    stack.push_back(v.node());
  }
  while (!stack.empty()) {
    int id = stack.back();
    stack.pop_back();
    if (!need.insert(id).second) continue;
    if (fed_index.count(id)) continue;
    const Node& n = g_.node(id);
    for (const Output& o : n.inputs) stack.push_back(o.node);
    for (int c : n.control_inputs) stack.push_back(c);
  }

  // 2. order, shapes, kernels
  for (int id : need) {  // std::set iterates in id order = topological order
    const Node& n = g_.node(id);
    size_t si = P.steps.size();
    P.pos[id] = si;
    P.steps.emplace_back();
    Plan::Step& st = P.steps.back();
    st.node = id;
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
      for (const Output& o : n.inputs) {
        const Tensor& in = P.slots[P.pos.at(o.node)][size_t(o.index)];
        ctx.in_shapes.push_back(in.shape());
        ctx.in_dtypes.push_back(in.dtype());
      }
      def.shape(ctx);
      for (const Shape& s : ctx.out_shapes)
        if (!fully_defined(s)) ctx.fail("output shape " + shape_str(s) + " is not known at run time");
      shapes = ctx.out_shapes;
      dtypes = ctx.out_dtypes;
      std::string dev = n.device.empty() || n.device.rfind("cpu", 0) == 0 || n.device.rfind("rank:", 0) == 0
                            ? device_ : n.device;
      DType kd = dispatch_dtype(n, ctx.in_dtypes);
      st.kernel = reg.find_kernel(n.op, dev, kd);
      if (!st.kernel) st.kernel = reg.find_kernel(n.op, "cpu", kd);
      if (!st.kernel)
        throw Error("op '" + n.name + "' (" + n.op + "): no kernel for device " + dev + " and dtype " + dtype_name(kd));
      st.async = def.is_async;
      st.alias = def.alias_input0;
      P.any_async = P.any_async || st.async;
    }
    std::vector<Tensor> outs;
    for (size_t i = 0; i < shapes.size(); ++i) outs.push_back(Tensor::view(nullptr, shapes[i], dtypes[i]));
    P.slots.push_back(std::move(outs));
  }

  // 3. memory plan
  const size_t S = P.steps.size();
  std::vector<std::vector<int>> readers(S);  // per step: distinct consumer steps (any output)
  std::map<std::pair<size_t, int>, int> remaining;  // (step, out) -> reads left
  std::set<std::pair<size_t, int>> fetched;
  for (const Value& v : fetches) {
    size_t si = P.pos.at(v.node());
    P.fetch.emplace_back(si, v.index());
    fetched.insert({si, v.index()});
  }
  for (size_t si = 0; si < S; ++si) {
    const Node& n = g_.node(P.steps[si].node);
    if (P.steps[si].leaf) continue;
    for (const Output& o : n.inputs) remaining[{P.pos.at(o.node), o.index}]++;
  }
  struct Buf {
    size_t bytes = 0;
    std::vector<size_t> release;  // steps that must finish before reuse
    int pending = 0;              // reads left of the tensors it holds
    bool pinned = false;          // fetched: live to the end
  };
  std::vector<Buf> bufs;
  std::map<std::pair<size_t, int>, int> buf_of;  // (step, out) -> buffer, -1 = external
  std::multimap<size_t, int> free_bufs;          // bytes -> buffer
  std::vector<std::set<size_t>> extra_deps(S);
  auto release_read = [&](int b, size_t reader) {
    if (b < 0) return;
    Buf& B = bufs[size_t(b)];
    B.release.push_back(reader);
    if (--B.pending == 0 && !B.pinned) free_bufs.emplace(B.bytes, b);
  };
  for (size_t si = 0; si < S; ++si) {
    Plan::Step& st = P.steps[si];
    const Node& n = g_.node(st.node);
    for (size_t oi = 0; oi < P.slots[si].size(); ++oi) {
      std::pair<size_t, int> key{si, int(oi)};
      int reads = remaining.count(key) ? remaining[key] : 0;
      bool pin = fetched.count(key) > 0;
      if (st.leaf) { buf_of[key] = -1; continue; }
      if (st.alias && oi == 0) {
        const Output& src = n.inputs[0];
        int b = buf_of.at({P.pos.at(src.node), src.index});
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
      auto it = free_bufs.lower_bound(bytes);
      if (it != free_bufs.end()) {
        b = it->second;
        free_bufs.erase(it);
        for (size_t r : bufs[size_t(b)].release)
          if (r != si) extra_deps[si].insert(r);
        bufs[size_t(b)].release.clear();
      } else {
        b = int(bufs.size());
        bufs.push_back({});
        bufs.back().bytes = bytes;
      }
      Buf& B = bufs[size_t(b)];
      B.pending = reads;
      B.pinned = pin;
      B.release.push_back(si);
      buf_of[key] = b;
      if (reads == 0 && !pin) free_bufs.emplace(B.bytes, b);
    }
    if (st.leaf) continue;
    for (const Output& o : n.inputs) release_read(buf_of.at({P.pos.at(o.node), o.index}), si);
  }
  std::vector<size_t> offset(bufs.size());
  size_t total = 0;
  for (size_t b = 0; b < bufs.size(); ++b) {
    offset[b] = total;
    total += bufs[b].bytes;
  }
  P.arena = Tensor::empty({int64_t((std::max<size_t>(total, 4) + 3) / 4)}, DType::F32);
  char* base = static_cast<char*>(P.arena.raw());
  for (size_t si = 0; si < S; ++si) {
    if (P.steps[si].leaf) continue;
    for (size_t oi = 0; oi < P.slots[si].size(); ++oi) {
      int b = buf_of.at({si, int(oi)});
      if (b >= 0 && !(P.steps[si].alias && oi == 0)) {
        Tensor& t = P.slots[si][oi];
        t = Tensor::view(base + offset[size_t(b)], t.shape(), t.dtype());
      }
    }
  }
  P.stats.nodes = int(S);
  P.stats.buffers = int(bufs.size());
  P.stats.arena_bytes = total;

  // 4. dependencies and kernel contexts
  for (size_t si = 0; si < S; ++si) {
    Plan::Step& st = P.steps[si];
    const Node& n = g_.node(st.node);
    std::set<size_t> deps = extra_deps[si];
    P.stats.reuse_edges += int(deps.size());
    if (!st.leaf) {
      for (const Output& o : n.inputs) deps.insert(P.pos.at(o.node));
      for (int c : n.control_inputs)
        if (P.pos.count(c)) deps.insert(P.pos.at(c));
    }
    deps.erase(si);
    st.deps = int(deps.size());
    for (size_t d : deps) P.steps[d].succ.push_back(int(si));
    if (st.leaf) continue;
    st.ctx = std::make_unique<KernelCtx>(KernelCtx{n, {}, {}, pool_, nullptr, 0, true});
    for (const Output& o : n.inputs) st.ctx->inputs.push_back(&P.slots[P.pos.at(o.node)][size_t(o.index)]);
    for (auto& t : P.slots[si]) st.ctx->outputs.push_back(&t);
  }
  return plan;
}

std::vector<Tensor> Executor::run(const Feeds& feeds, const std::vector<Value>& fetches, const RunOptions& opt) {
  Plan& P = plan_for(feeds, fetches);
  last_ = &P;
  // bind leaves
  for (auto& f : P.fed) P.slots[f.first][0] = feeds[f.second].second;
  for (size_t si = 0; si < P.steps.size(); ++si) {
    const Plan::Step& st = P.steps[si];
    if (st.leaf && g_.has_value(st.node)) P.slots[si][0] = g_.value(st.node);
    if (st.ctx) {
      st.ctx->resources = opt.resources;
      st.ctx->step = opt.step;
      st.ctx->training = opt.training;
    }
  }
  const size_t S = P.steps.size();
  std::vector<std::atomic<int>> pending(S);
  for (size_t i = 0; i < S; ++i) pending[i].store(P.steps[i].deps, std::memory_order_relaxed);
  std::atomic<size_t> finished{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex err_mu;
  std::mutex trace_mu;
  const std::thread::id caller = std::this_thread::get_id();

  std::function<void(size_t)> execute;
  auto finish = [&](size_t si) {
    for (int s : P.steps[si].succ)
      if (pending[size_t(s)].fetch_sub(1) == 1) pool_->submit([&execute, s] { execute(size_t(s)); });
    if (finished.fetch_add(1) + 1 == S) pool_->notify();
  };
  execute = [&](size_t si) {
    Plan::Step& st = P.steps[si];
    if (st.leaf || failed.load()) {
      finish(si);
      return;
    }
    const Node& n = st.ctx->node;
    if (st.alias) {
      Tensor& out = P.slots[si][0];
      out = Tensor::view(const_cast<void*>(st.ctx->in(0).raw()), out.shape(), out.dtype());
    }
    int64_t t0 = (opt.profile || opt.trace) ? now_ns() : 0;
    auto record = [&, t0, si] {
      if (!opt.profile && !opt.trace) return;
      int64_t t1 = now_ns();
      if (opt.profile) opt.profile->add(n.op, t1 - t0);
      if (opt.trace) {
        std::lock_guard<std::mutex> l(trace_mu);
        opt.trace->push_back({P.steps[si].node, t0, t1, std::this_thread::get_id() == caller ? 0 : 1});
      }
    };
    try {
      if (st.async) {
        st.kernel->async_fn(*st.ctx, [&, si, record] {
          record();
          finish(si);
        });
        return;
      }
      st.kernel->fn(*st.ctx);
      record();
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> l(err_mu);
      if (!failed.exchange(true))
        error = std::make_exception_ptr(Error("op '" + n.name + "' (" + n.op + "): " + e.what()));
    }
    finish(si);
  };

  if (S == 0) return {};
  if (pool_->threads() == 1 && !P.any_async) {
    // Sequential fast path: id order is a valid schedule.
    for (size_t si = 0; si < S; ++si) {
      Plan::Step& st = P.steps[si];
      if (st.leaf) continue;
      if (st.alias) {
        Tensor& out = P.slots[si][0];
        out = Tensor::view(const_cast<void*>(st.ctx->in(0).raw()), out.shape(), out.dtype());
      }
      int64_t t0 = (opt.profile || opt.trace) ? now_ns() : 0;
      try {
        st.kernel->fn(*st.ctx);
      } catch (const std::exception& e) {
        throw Error("op '" + st.ctx->node.name + "' (" + st.ctx->node.op + "): " + e.what());
      }
      if (opt.profile || opt.trace) {
        int64_t t1 = now_ns();
        if (opt.profile) opt.profile->add(st.ctx->node.op, t1 - t0);
        if (opt.trace) opt.trace->push_back({st.node, t0, t1, 0});
      }
    }
  } else {
    for (size_t si = 0; si < S; ++si)
      if (P.steps[si].deps == 0) pool_->submit([&execute, si] { execute(si); });
    pool_->wait_until([&] { return finished.load() == S; });
    if (error) std::rethrow_exception(error);
  }
  std::vector<Tensor> out;
  for (const auto& f : P.fetch) out.push_back(P.slots[f.first][size_t(f.second)]);
  return out;
}

}  // namespace ft
