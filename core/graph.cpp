// graph.cpp — Graph construction, attrs, initializers.
#include "core/graph.h"

#include <cmath>
#include <sstream>

#include "core/checked.h"
#include "core/memory_info.h"
#include "core/op_registry.h"

namespace ft {

// ---- AttrMap ------------------------------------------------------------------

namespace {
template <class T>
const T& attr_get(const std::map<std::string, Attr>& m, const std::string& k, const char* want) {
  auto it = m.find(k);
  if (it == m.end()) throw Error(std::string("missing attr '") + k + "'");
  const T* p = std::get_if<T>(&it->second);
  if (!p) throw Error("attr '" + k + "' is not " + want);
  return *p;
}
}  // namespace

int64_t AttrMap::i(const std::string& k) const { return attr_get<int64_t>(m_, k, "an int"); }
int64_t AttrMap::i(const std::string& k, int64_t def) const { return has(k) ? i(k) : def; }
double AttrMap::f(const std::string& k) const {
  auto it = m_.find(k);
  if (it != m_.end())
    if (const int64_t* p = std::get_if<int64_t>(&it->second)) return static_cast<double>(*p);
  return attr_get<double>(m_, k, "a float");
}
double AttrMap::f(const std::string& k, double def) const { return has(k) ? f(k) : def; }
bool AttrMap::b(const std::string& k, bool def) const { return has(k) ? attr_get<bool>(m_, k, "a bool") : def; }
const std::string& AttrMap::s(const std::string& k) const { return attr_get<std::string>(m_, k, "a string"); }
const std::vector<int64_t>& AttrMap::ints(const std::string& k) const {
  return attr_get<std::vector<int64_t>>(m_, k, "an int list");
}

std::string AttrMap::str() const {
  std::ostringstream o;
  bool first = true;
  for (const auto& kv : m_) {
    if (!first) o << ", ";
    first = false;
    o << kv.first << "=";
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::vector<int64_t>>) o << shape_str(v);
          else o << v;
        },
        kv.second);
  }
  return o.str();
}

// ---- Value ----------------------------------------------------------------------

Graph& Value::graph() const {
  FT_CHECK(g_ != nullptr, "use of an undefined Value");
  return *g_;
}
const Shape& Value::shape() const { return graph().node(node_).out_shapes.at(static_cast<size_t>(index_)); }
DType Value::dtype() const { return graph().node(node_).out_dtypes.at(static_cast<size_t>(index_)); }
const std::string& Value::name() const { return graph().node(node_).name; }
const std::string& Value::op() const { return graph().node(node_).op; }

// ---- initializers -----------------------------------------------------------------

std::pair<double, double> fans(const Shape& s) {
  if (s.empty()) return {1, 1};
  if (s.size() == 1) return {double(s[0]), double(s[0])};
  if (s.size() == 2) return {double(s[0]), double(s[1])};
  double rf = 1;
  for (size_t i = 2; i < s.size(); ++i) rf *= double(s[i]);
  return {double(s[1]) * rf, double(s[0]) * rf};
}

void Initializer::operator()(Tensor& t, std::mt19937_64& rng) const {
  FT_CHECK(t.dtype() == DType::F32 || t.dtype() == DType::F64 || kind == "zeros",
           "initializer '" + kind + "' needs a float variable");
  auto fill = [&](auto gen) {
    for (int64_t i = 0; i < t.numel(); ++i) {
      double v = gen();
      if (t.dtype() == DType::F32) t.data<float>()[i] = static_cast<float>(v);
      else t.data<double>()[i] = v;
    }
  };
  auto [fi, fo] = fans(t.shape());
  if (kind == "zeros") {
    std::fill(static_cast<char*>(t.raw()), static_cast<char*>(t.raw()) + t.bytes(), 0);
  } else if (kind == "constant") {
    fill([&] { return a; });
  } else if (kind == "normal") {
    std::normal_distribution<double> d(b, a);
    fill([&] { return d(rng); });
  } else if (kind == "truncated_normal") {
    std::normal_distribution<double> d(0.0, 1.0);
    fill([&] {
      double v;
      do v = d(rng); while (std::abs(v) > 2.0);
      return v * a;
    });
  } else if (kind == "uniform") {
    std::uniform_real_distribution<double> d(a, b);
    fill([&] { return d(rng); });
  } else if (kind == "glorot") {
    double lim = std::sqrt(6.0 / (fi + fo));
    std::uniform_real_distribution<double> d(-lim, lim);
    fill([&] { return d(rng); });
  } else if (kind == "he") {
    std::normal_distribution<double> d(0.0, std::sqrt(2.0 / fi));
    fill([&] { return d(rng); });
  } else {
    throw Error("unknown initializer '" + kind + "'");
  }
}

namespace init {
Initializer zeros() { return {"zeros", 0, 0}; }
Initializer ones() { return {"constant", 1, 0}; }
Initializer constant(double v) { return {"constant", v, 0}; }
Initializer normal(double stddev, double mean) { return {"normal", stddev, mean}; }
Initializer truncated_normal(double stddev) { return {"truncated_normal", stddev, 0}; }
Initializer uniform(double lo, double hi) { return {"uniform", lo, hi}; }
Initializer glorot() { return {"glorot", 0, 0}; }
Initializer he() { return {"he", 0, 0}; }
}  // namespace init

// ---- Graph ------------------------------------------------------------------------

Graph::Graph(uint64_t seed) : seed_(seed) {}

uint64_t Graph::name_seed(const std::string& name) const {
  // FNV-1a of the name mixed with the graph seed: independent of creation order.
  uint64_t h = 1469598103934665603ull ^ (seed_ * 0x9E3779B97F4A7C15ull);
  for (unsigned char c : name) { h ^= c; h *= 1099511628211ull; }
  return h;
}

std::string Graph::scoped(const std::string& base) const {
  std::string s;
  for (const auto& n : names_) s += n + "/";
  return s + base;
}

std::string Graph::unique_name(const std::string& base) {
  std::string full = scoped(base);
  if (!by_name_.count(full)) return full;
  int& n = name_counts_[full];
  std::string cand;
  do cand = full + "_" + std::to_string(++n); while (by_name_.count(cand));
  return cand;
}

std::vector<Value> Graph::add(const std::string& op, const std::vector<Value>& inputs,
                              const AttrMap& attrs, const std::string& name) {
  const OpDef& def = OpRegistry::get().at(op);
  Node n;
  n.id = static_cast<int>(nodes_.size());
  n.op = op;
  n.name = unique_name(name.empty() ? op : name);
  n.device = devices_.empty() ? "" : devices_.back();
  n.attrs = attrs;
  if (def.num_inputs >= 0 && static_cast<int>(inputs.size()) != def.num_inputs)
    throw Error("op '" + n.name + "' (" + op + "): takes " + std::to_string(def.num_inputs) +
                " inputs, got " + std::to_string(inputs.size()));
  ShapeCtx ctx{n, {}, {}, {}, {}};
  for (const Value& v : inputs) {
    if (!v.defined() || &v.graph() != this)
      throw Error("op '" + n.name + "' (" + op + "): input is undefined or from another graph");
    n.inputs.push_back(v.output());
    ctx.in_shapes.push_back(v.shape());
    ctx.in_dtypes.push_back(v.dtype());
  }
  def.shape(ctx);
  n.out_shapes = std::move(ctx.out_shapes);
  n.out_dtypes = std::move(ctx.out_dtypes);
  by_name_[n.name] = n.id;
  nodes_.push_back(std::move(n));
  std::vector<Value> outs;
  for (size_t i = 0; i < nodes_.back().out_shapes.size(); ++i) outs.emplace_back(this, nodes_.back().id, int(i));
  return outs;
}

void Graph::add_control_input(int node, int dep) {
  FT_CHECK(dep < node, "a control input must be an earlier node");
  mutable_node(node).control_inputs.push_back(dep);
}

Value Graph::placeholder(const std::string& name, const Shape& shape, DType dtype) {
  return add1("placeholder", {}, {{"shape", shape}, {"dtype", int64_t(dtype)}}, name);
}

Value Graph::variable(const std::string& name, const Shape& shape, const Initializer& init, DType dtype,
                      bool trainable) {
  if (!fully_defined(shape)) throw Error("variable '" + name + "': shape " + shape_str(shape) + " has unknown dims");
  if (has(scoped(name))) throw Error("variable '" + scoped(name) + "' already exists");
  // Refused before it is allocated: a variable the machine cannot hold (an
  // over-committed allocation would grow while it is initialized, then swap).
  // The variables made before it are initialized, so they are no longer available.
  int64_t nbytes = 0;
  const bool fits = checked_bytes(shape, dtype_size(dtype), &nbytes);
  const size_t bytes = fits ? size_t(nbytes) : SIZE_MAX;
  const size_t avail = available_memory_bytes();
  if (!fits || bytes > avail)
    throw Error("variable '" + scoped(name) + "' " + shape_str(shape) + " needs " +
                (!fits ? std::string("more than 2^63 bytes") : human_bytes(double(bytes))) +
                "; with the variables before it the model needs " + human_bytes(double(var_bytes_) + double(bytes)) +
                ", more than the " + human_bytes(double(avail)) + " of memory available");
  Value v = add1("variable", {}, {{"shape", shape}, {"dtype", int64_t(dtype)}}, name);
  var_bytes_ += bytes;
  Tensor t = Tensor::empty(shape, dtype);
  std::mt19937_64 rng(name_seed(v.name()));
  init(t, rng);
  values_[v.node()] = t;
  vars_.push_back({v.node(), v.name(), trainable});
  return v;
}

Value Graph::constant(const Tensor& value, const std::string& name) {
  Value v = add1("constant", {}, {{"shape", value.shape()}, {"dtype", int64_t(value.dtype())}},
                 name.empty() ? "const" : name);
  values_[v.node()] = value;
  return v;
}

Value Graph::scalar(double v, DType dtype) {
  Tensor t = Tensor::empty({}, dtype);
  switch (dtype) {
    case DType::F32: t.data<float>()[0] = float(v); break;
    case DType::F64: t.data<double>()[0] = v; break;
    case DType::I32: t.data<int32_t>()[0] = int32_t(v); break;
    case DType::I64: t.data<int64_t>()[0] = int64_t(v); break;
    default: throw Error("scalar of unsupported dtype");
  }
  return constant(t, "scalar");
}

Value Graph::find(const std::string& name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) throw Error("no node named '" + name + "' in the graph");
  return Value(const_cast<Graph*>(this), it->second, 0);
}

std::vector<char> Graph::needed_by(const std::vector<Value>& fetches, const std::set<int>& stop) const {
  std::vector<char> need(nodes_.size(), 0);
  std::vector<int> stack;
  for (const Value& v : fetches) {
    FT_CHECK(v.defined() && &v.graph() == this, "fetch of a value from another graph");
    stack.push_back(v.node());
  }
  while (!stack.empty()) {
    int id = stack.back();
    stack.pop_back();
    if (need[size_t(id)]) continue;
    need[size_t(id)] = 1;
    if (stop.count(id)) continue;
    for (const Output& o : node(id).inputs) stack.push_back(o.node);
    for (int c : node(id).control_inputs) stack.push_back(c);
  }
  return need;
}

std::vector<Value> Graph::variables() const {
  std::vector<Value> v;
  for (const auto& i : vars_) v.emplace_back(const_cast<Graph*>(this), i.node, 0);
  return v;
}

std::vector<Value> Graph::trainable() const {
  std::vector<Value> v;
  for (const auto& i : vars_)
    if (i.trainable) v.emplace_back(const_cast<Graph*>(this), i.node, 0);
  return v;
}

Tensor& Graph::value(int node) {
  auto it = values_.find(node);
  if (it == values_.end()) throw Error("node '" + this->node(node).name + "' holds no value (not a variable or constant)");
  return it->second;
}

}  // namespace ft
