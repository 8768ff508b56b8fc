// op_registry.cpp — the process-wide op and kernel registry, plus core's leaf ops.
#include "core/op_registry.h"

#include <sstream>

namespace ft {

void ShapeCtx::set(int i, const Shape& s, DType t) {
  size_t k = static_cast<size_t>(i);
  if (out_shapes.size() <= k) {
    out_shapes.resize(k + 1);
    out_dtypes.resize(k + 1, DType::F32);
  }
  out_shapes[k] = s;
  out_dtypes[k] = t;
}

void ShapeCtx::fail(const std::string& why) const {
  std::ostringstream o;
  o << "op '" << node.name << "' (" << node.op << "): " << why << "; input shapes";
  for (size_t i = 0; i < in_shapes.size(); ++i) o << (i ? ", " : " ") << shape_str(in_shapes[i]);
  if (in_shapes.empty()) o << " (none)";
  throw Error(o.str());
}

namespace {
// Leaf ops: their shape and dtype come from attrs "shape" and "dtype".
void leaf_shape(ShapeCtx& c) {
  c.set(0, c.attrs().ints("shape"), static_cast<DType>(c.attrs().i("dtype")));
}
}  // namespace

OpRegistry& OpRegistry::get() {
  static OpRegistry* r = [] {
    auto* reg = new OpRegistry();
    for (const char* leaf : {"placeholder", "variable", "constant"}) {
      OpDef d;
      d.name = leaf;
      d.num_inputs = 0;
      d.shape = leaf_shape;
      reg->add_op(d);
    }
    return reg;
  }();
  return *r;
}

void OpRegistry::add_op(OpDef def) {
  std::lock_guard<std::mutex> l(mu_);
  std::string n = def.name;
  defs_[n] = std::move(def);
}

const OpDef* OpRegistry::find(const std::string& op) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = defs_.find(op);
  return it == defs_.end() ? nullptr : &it->second;
}

const OpDef& OpRegistry::at(const std::string& op) const {
  const OpDef* d = find(op);
  if (!d) throw Error("unknown op '" + op + "' (was ft::ops::register_all() called?)");
  return *d;
}

void OpRegistry::add_kernel(const std::string& op, const std::string& device, DType dtype, Kernel k) {
  std::lock_guard<std::mutex> l(mu_);
  kernels_[{op, device, dtype}] = std::move(k);
}

const Kernel* OpRegistry::find_kernel(const std::string& op, const std::string& device, DType dtype) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = kernels_.find({op, device, dtype});
  return it == kernels_.end() ? nullptr : &it->second;
}

std::vector<std::tuple<std::string, DType, Kernel>> OpRegistry::kernels_for(const std::string& device) const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<std::tuple<std::string, DType, Kernel>> v;
  for (const auto& kv : kernels_)
    if (std::get<1>(kv.first) == device) v.emplace_back(std::get<0>(kv.first), std::get<2>(kv.first), kv.second);
  return v;
}

bool OpRegistry::has_kernel(const std::string& op, const std::string& device) const {
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& kv : kernels_)
    if (std::get<0>(kv.first) == op && std::get<1>(kv.first) == device) return true;
  return false;
}

std::vector<std::string> OpRegistry::ops() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<std::string> v;
  for (const auto& kv : defs_) v.push_back(kv.first);
  return v;
}

DType dispatch_dtype(const Node& n, const std::vector<DType>& in_dtypes) {
  // An op that computes in a precision of its own (matmul's attr half) runs the
  // kernel of its result's dtype, whatever its operands come in.
  if (n.attrs.has("half") && !n.out_dtypes.empty()) return n.out_dtypes[0];
  if (!in_dtypes.empty()) return in_dtypes[0];
  return n.out_dtypes.empty() ? DType::F32 : n.out_dtypes[0];
}

}  // namespace ft
