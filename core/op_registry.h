// op_registry.h — op definitions (shape function, gradient rule) and kernels
// keyed by (op, device, dtype). The registry mechanism lives in core; ops/ fills
// it through explicit registration functions (ft::ops::register_all()).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "core/graph.h"
#include "core/status.h"

namespace ft {

class ThreadPool;
class Device;
namespace comm {  // comm/: core only passes them through (no comm/ headers here)
class Communicator;
class DeviceCommunicator;
}  // namespace comm

// ---- shape inference
struct ShapeCtx {
  const Node& node;
  std::vector<Shape> in_shapes;
  std::vector<DType> in_dtypes;
  std::vector<Shape> out_shapes;  // to fill
  std::vector<DType> out_dtypes;  // to fill
  const AttrMap& attrs() const { return node.attrs; }
  int num_inputs() const { return static_cast<int>(in_shapes.size()); }
  void set(int i, const Shape& s, DType t);  // grows out_* as needed
  [[noreturn]] void fail(const std::string& why) const;  // names node, op and input shapes
};
using ShapeFn = std::function<void(ShapeCtx&)>;

// ---- gradients
struct GradCtx {
  Graph& g;
  const Node& node;
  std::vector<Value> inputs;
  std::vector<Value> outputs;
  std::vector<Value> grads;  // d loss / d output_i; undefined when nothing flows back
  const AttrMap& attrs() const { return node.attrs; }
};
// Returns one Value per input: d loss / d input_i, or an undefined Value for none.
using GradFn = std::function<std::vector<Value>(GradCtx&)>;

struct OpDef {
  std::string name;
  int num_inputs = -1;  // -1 = variadic
  ShapeFn shape;
  GradFn grad;          // empty = not differentiable (gradients() throws if reached)
  bool alias_input0 = false;  // output 0 is a view of input 0's buffer (reshape)
  bool is_async = false;      // kernel completes through a done callback (comm)
  bool stateful = false;      // has effects beyond its outputs; never cached or pruned
};

// ---- kernels
// What kernels reach beyond their inputs, typed; a run's RunOptions::resources.
// Set them with comm::add_to_resources and friends; an unset member is null
// (a kernel that needs it throws, naming the setter).
struct Resources {
  std::shared_ptr<comm::Communicator> comm;               // allreduce_bucket, send, recv on the host
  std::shared_ptr<comm::Communicator> mp_comm;            // mp_allreduce, mp_allgather (model-parallel group)
  std::shared_ptr<comm::DeviceCommunicator> device_comm;  // allreduce_bucket on device memory (NCCL)
  std::shared_ptr<comm::DeviceCommunicator> mp_device_comm;  // mp_allreduce, mp_allgather on device memory (NCCL)
};

struct KernelCtx {
  const Node& node;
  std::vector<const Tensor*> inputs;
  std::vector<Tensor*> outputs;   // allocated by the executor with planned shapes
  ThreadPool* pool = nullptr;
  const Resources* resources = nullptr;
  int64_t step = 0;        // RunOptions::step (seeds dropout)
  bool training = true;    // RunOptions::training (dropout off in eval)
  Device* device = nullptr;  // where the kernel runs; inputs and outputs live there
  const Tensor& in(int i) const { return *inputs.at(static_cast<size_t>(i)); }
  Tensor& out(int i) const { return *outputs.at(static_cast<size_t>(i)); }
  const AttrMap& attrs() const { return node.attrs; }
};
using KernelFn = std::function<void(KernelCtx&)>;
// An async kernel returns after starting its work and calls done exactly once,
// from any thread, when the outputs are ready (ok) or the work failed: a failed
// status becomes the run's error, named like a throwing kernel's. Throwing
// before done() was called is an error as well (then done() must not be called).
using AsyncKernelFn = std::function<void(KernelCtx&, DoneFn done)>;

struct Kernel {
  KernelFn fn;
  AsyncKernelFn async_fn;
};

class OpRegistry {
 public:
  static OpRegistry& get();
  void add_op(OpDef def);
  const OpDef* find(const std::string& op) const;
  const OpDef& at(const std::string& op) const;  // throws "unknown op"
  void add_kernel(const std::string& op, const std::string& device, DType dtype, Kernel k);
  const Kernel* find_kernel(const std::string& op, const std::string& device, DType dtype) const;
  bool has_kernel(const std::string& op, const std::string& device) const;
  // Every kernel registered for `device`: (op, dtype, kernel).
  std::vector<std::tuple<std::string, DType, Kernel>> kernels_for(const std::string& device) const;
  std::vector<std::string> ops() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, OpDef> defs_;
  std::map<std::tuple<std::string, std::string, DType>, Kernel> kernels_;
};

// The dtype a kernel is dispatched on: input 0's dtype, or output 0's when the op has no inputs.
DType dispatch_dtype(const Node& n, const std::vector<DType>& in_dtypes);

}  // namespace ft
