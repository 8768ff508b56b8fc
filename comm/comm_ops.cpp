// comm_ops.cpp — definitions, async CPU kernels and builders of allreduce_bucket,
// send and recv.
#include "comm/comm_ops.h"
#include "comm/stall.h"

#include <cstring>
#include <mutex>

namespace ft {
namespace comm {
namespace {

const DType kAllTypes[] = {DType::F32, DType::F64, DType::I32, DType::I64, DType::F16, DType::BF16};

Communicator& comm_of(const KernelCtx& c) {
  Communicator* comm = c.resources ? c.resources->comm.get() : nullptr;
  if (!comm)
    throw Error("no communicator: put one into RunOptions::resources with comm::add_to_resources()");
  return *comm;
}

void allreduce_shape(ShapeCtx& c) {
  if (c.num_inputs() == 0) c.fail("allreduce_bucket needs at least one input");
  for (int i = 0; i < c.num_inputs(); ++i) {
    if (c.in_dtypes[size_t(i)] != c.in_dtypes[0])
      c.fail(std::string("all inputs of a bucket must have one dtype; input ") + std::to_string(i) + " is " +
             dtype_name(c.in_dtypes[size_t(i)]) + ", input 0 is " + dtype_name(c.in_dtypes[0]));
    c.set(i, c.in_shapes[size_t(i)], c.in_dtypes[size_t(i)]);
  }
  parse_reduce_op(c.attrs().s("op"));
}

// Allreduces the inputs into the outputs as one fused buffer (the backend
// decides whether that goes through its fusion buffer), then done(status).
void allreduce_kernel(KernelCtx& c, DoneFn done_in) {
  Communicator& comm = comm_of(c);
  // Stall detection: the collective is noted as in flight until it completes.
  const int64_t key = c.attrs().i("bucket");
  Inflight::get().begin(key, "allreduce bucket " + std::to_string(key) + " of step " + std::to_string(c.step));
  DoneFn done = [key, d = std::move(done_in)](const Status& s) {
    Inflight::get().end(key);
    d(s);
  };
  ReduceOp op = parse_reduce_op(c.attrs().s("op"));
  const DType dt = c.in(0).dtype();
  std::vector<Communicator::Span> spans;
  spans.reserve(c.inputs.size());
  for (size_t i = 0; i < c.inputs.size(); ++i)
    spans.push_back({c.inputs[i]->raw(), c.outputs[i]->raw(), c.inputs[i]->bytes()});
  comm.allreduce_spans_async(key, std::move(spans), dt, op, std::move(done));
}

void send_kernel(KernelCtx& c, DoneFn done) {
  c.out(0).data<int32_t>()[0] = 0;
  comm_of(c).send_async(c.in(0).raw(), c.in(0).bytes(), int(c.attrs().i("peer")), int(c.attrs().i("tag")),
                        std::move(done));
}

void recv_kernel(KernelCtx& c, DoneFn done) {
  Tensor& out = c.out(0);
  comm_of(c).recv_async(out.raw(), out.bytes(), int(c.attrs().i("peer")), int(c.attrs().i("tag")), std::move(done));
}

void add_op(const std::string& name, int num_inputs, ShapeFn shape, AsyncKernelFn k) {
  OpDef d;
  d.name = name;
  d.num_inputs = num_inputs;
  d.shape = std::move(shape);
  d.is_async = true;
  d.stateful = true;
  OpRegistry::get().add_op(d);
  for (DType t : kAllTypes) OpRegistry::get().add_kernel(name, "cpu", t, Kernel{{}, k});
}

}  // namespace

void register_ops() {
  static std::once_flag once;
  std::call_once(once, [] {
    add_op("allreduce_bucket", -1, allreduce_shape, allreduce_kernel);
    add_op("send", 1, [](ShapeCtx& c) { c.set(0, {}, DType::I32); }, send_kernel);
    add_op("recv", 0,
           [](ShapeCtx& c) {
             const Shape& s = c.attrs().ints("shape");
             if (!fully_defined(s)) c.fail("recv needs a fully defined shape, got " + shape_str(s));
             c.set(0, s, DType(c.attrs().i("dtype")));
           },
           recv_kernel);
  });
}

std::vector<Value> allreduce(Graph& g, const std::vector<Value>& inputs, int64_t bucket_id, ReduceOp op) {
  register_ops();
  int prev = -1;
  for (int id = g.num_nodes() - 1; id >= 0 && prev < 0; --id)
    if (g.node(id).op == "allreduce_bucket") prev = id;
  std::vector<Value> outs = g.add("allreduce_bucket", inputs,
                                  {{"bucket", bucket_id}, {"op", std::string(reduce_op_name(op))}},
                                  "allreduce_bucket_" + std::to_string(bucket_id));
  if (prev >= 0) g.add_control_input(outs[0].node(), prev);
  return outs;
}

std::vector<Value> allreduce_bucketed(Graph& g, const std::vector<Value>& values, size_t bucket_bytes, ReduceOp op,
                                      GradientBucketer* layout) {
  GradientBucketer local(bucket_bytes);
  GradientBucketer& b = layout ? *layout : local;
  if (!b.tensors().empty()) throw Error("allreduce_bucketed: the layout bucketer must start empty");
  const int first = 0;
  for (const Value& v : values) b.add(v.name() + ":" + std::to_string(v.index()), v.shape(), v.dtype());
  std::vector<Value> out(values.size());
  for (const Bucket& bk : b.buckets()) {
    std::vector<Value> in;
    for (int m : bk.members) in.push_back(values[size_t(m - first)]);
    std::vector<Value> red = allreduce(g, in, bk.id, op);
    for (size_t i = 0; i < bk.members.size(); ++i) out[size_t(bk.members[i] - first)] = red[i];
  }
  return out;
}

Value send(Value x, int peer, int64_t tag) {
  register_ops();
  return x.graph().add1("send", {x}, {{"peer", int64_t(peer)}, {"tag", tag}}, "send");
}

Value recv(Graph& g, const Shape& shape, DType dtype, int peer, int64_t tag, const std::string& name) {
  register_ops();
  return g.add1("recv", {}, {{"shape", shape}, {"dtype", int64_t(dtype)}, {"peer", int64_t(peer)}, {"tag", tag}},
                name);
}

}  // namespace comm
}  // namespace ft
