// mp_ops.cpp — definitions, gradient rules, CPU kernels and builders of
// mp_identity, mp_allreduce and mp_allgather (see mp_ops.h).
#include "comm/mp_ops.h"

#include <cstring>
#include <mutex>

#include "comm/stall.h"
#include "ops/ops.h"

namespace ft {
namespace comm {
namespace {

Communicator& mp_comm_of(const KernelCtx& c) {
  Communicator* comm = c.resources ? c.resources->mp_comm.get() : nullptr;
  if (!comm)
    throw Error("no model-parallel communicator: put one into RunOptions::resources with comm::add_mp_to_resources()");
  const int64_t size = c.attrs().i("size"), rank = c.attrs().i("rank");
  if (comm->size() != size || comm->rank() != rank)
    throw Error("built for model-parallel rank " + std::to_string(rank) + " of " + std::to_string(size) +
                ", but mp_comm is rank " + std::to_string(comm->rank()) + " of " + std::to_string(comm->size()));
  return *comm;
}

// Adds a node of `op` on x, chained after the graph's previous mp collective.
Value add_mp(const std::string& op, Value x, int size, int rank) {
  register_mp_ops();
  if (size < 1 || rank < 0 || rank >= size)
    throw Error(op + ": bad model-parallel rank " + std::to_string(rank) + " of " + std::to_string(size));
  Graph& g = x.graph();
  int prev = -1;
  if (is_mp_collective(op))
    for (int id = g.num_nodes() - 1; id >= 0 && prev < 0; --id)
      if (is_mp_collective(g.node(id).op)) prev = id;
  Value y = g.add1(op, {x}, {{"size", int64_t(size)}, {"rank", int64_t(rank)}}, op);
  if (prev >= 0) g.add_control_input(y.node(), prev);
  return y;
}

int attr_int(const GradCtx& c, const char* k) { return int(c.attrs().i(k)); }

void copy_kernel(KernelCtx& c) {
  if (c.out(0).raw() != c.in(0).raw()) c.out(0).copy_from(c.in(0));
}

// Stall detection: the blocking collective is in flight for the kernel's scope.
std::string mp_what(const KernelCtx& c) {
  return c.node.op + " '" + c.node.name + "' of step " + std::to_string(c.step);
}

void allreduce_kernel(KernelCtx& c) {
  Communicator& comm = mp_comm_of(c);
  copy_kernel(c);
  InflightScope noted(kMpKey + c.node.id, mp_what(c));
  comm.allreduce(c.out(0), ReduceOp::Sum);
}

// in (M, n) -> gathered (k, M, n) -> out (M, k, n) = (M, k·n).
void allgather_kernel(KernelCtx& c) {
  Communicator& comm = mp_comm_of(c);
  const Tensor& x = c.in(0);
  Tensor& y = c.out(0);
  const int64_t k = comm.size(), n = x.rank() ? x.dim(-1) : 1, m = n ? x.numel() / n : 0;
  const size_t es = dtype_size(x.dtype()), row = size_t(n) * es;
  // The gathered blocks land in a scratch buffer kept per thread and grown as
  // needed, so steps after the first allocate (and fault in) nothing.
  thread_local Tensor scratch;
  const int64_t bytes = k * x.numel() * int64_t(es);
  if (int64_t(scratch.bytes()) < bytes) scratch = Tensor::empty({(bytes + 7) / 8}, DType::F64);
  {
    InflightScope noted(kMpKey + c.node.id, mp_what(c));
    comm.allgather(x.raw(), scratch.raw(), x.numel(), x.dtype());
  }
  const char* src = static_cast<const char*>(scratch.raw());
  char* dst = static_cast<char*>(y.raw());
  for (int64_t r = 0; r < k; ++r)
    for (int64_t i = 0; i < m; ++i) std::memcpy(dst + size_t(i * k + r) * row, src + size_t(r * m + i) * row, row);
}

void add_op(const std::string& name, ShapeFn shape, GradFn grad, KernelFn k) {
  OpDef d;
  d.name = name;
  d.num_inputs = 1;
  d.shape = std::move(shape);
  d.grad = std::move(grad);
  d.stateful = true;
  OpRegistry::get().add_op(d);
  for (DType t : {DType::F32, DType::F64}) OpRegistry::get().add_kernel(name, "cpu", t, Kernel{k, {}});
}

void float_input(ShapeCtx& c) {
  if (!is_float(c.in_dtypes[0])) c.fail(std::string("needs a float input, got ") + dtype_name(c.in_dtypes[0]));
}

}  // namespace

bool is_mp_collective(const std::string& op) { return op == "mp_allreduce" || op == "mp_allgather"; }

void register_mp_ops() {
  static std::once_flag once;
  std::call_once(once, [] {
    ops::register_all();
    auto same = [](ShapeCtx& c) {
      float_input(c);
      c.set(0, c.in_shapes[0], c.in_dtypes[0]);
    };
    add_op("mp_identity", same,
           [](GradCtx& c) -> std::vector<Value> {
             return {mp_allreduce(c.grads[0], attr_int(c, "size"), attr_int(c, "rank"))};
           },
           copy_kernel);
    add_op("mp_allreduce", same, [](GradCtx& c) -> std::vector<Value> { return {c.grads[0]}; }, allreduce_kernel);
    add_op("mp_allgather",
           [](ShapeCtx& c) {
             float_input(c);
             Shape s = c.in_shapes[0];
             if (s.empty()) c.fail("mp_allgather needs rank >= 1");
             if (s.back() >= 0) s.back() *= c.attrs().i("size");
             c.set(0, s, c.in_dtypes[0]);
           },
           [](GradCtx& c) -> std::vector<Value> {
             // This rank's block of dy along the last axis.
             const Shape& s = c.inputs[0].shape();
             const int64_t n = s.back();
             std::vector<int64_t> begin(s.size(), 0), size(s.size(), -1);
             begin.back() = n * attr_int(c, "rank");
             size.back() = n;
             return {slice(c.grads[0], begin, size)};
           },
           allgather_kernel);
  });
}

Value mp_identity(Value x, int size, int rank) { return add_mp("mp_identity", x, size, rank); }
Value mp_allreduce(Value x, int size, int rank) { return add_mp("mp_allreduce", x, size, rank); }
Value mp_allgather(Value x, int size, int rank) {
  if (x.rank() < 1 || x.shape().back() < 0)
    throw Error("mp_allgather: the last dim of " + shape_str(x.shape()) + " must be known");
  return add_mp("mp_allgather", x, size, rank);
}

std::vector<int> mp_collective_nodes(const Graph& g) {
  std::vector<int> ids;
  for (int id = 0; id < g.num_nodes(); ++id)
    if (is_mp_collective(g.node(id).op)) ids.push_back(id);
  return ids;
}

void order_after_mp_collectives(Graph& g, int node) {
  for (int id : mp_collective_nodes(g))
    if (id < node) g.add_control_input(node, id);
}

void add_mp_to_resources(Resources& r, CommPtr c) { r.mp_comm = std::move(c); }

}  // namespace comm
}  // namespace ft
