// graph.h — the static dataflow graph and its builder API.
//
// Building an op adds a Node and returns symbolic Values; nothing is computed
// until an Executor runs the graph. Node ids grow in creation order, and a node
// only ever reads nodes created before it, so id order is a topological order.
// Shapes are inferred as each node is built (dims may be -1 = unknown batch);
// a mismatch throws ft::Error naming the node, its op and the input shapes.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "core/tensor.h"

namespace ft {

class Graph;

using Attr = std::variant<int64_t, double, bool, std::string, std::vector<int64_t>>;

class AttrMap {
 public:
  AttrMap() = default;
  AttrMap(std::initializer_list<std::pair<const std::string, Attr>> l) : m_(l) {}
  void set(const std::string& k, Attr v) { m_[k] = std::move(v); }
  bool has(const std::string& k) const { return m_.count(k) > 0; }
  int64_t i(const std::string& k, int64_t def) const;
  int64_t i(const std::string& k) const;
  double f(const std::string& k, double def) const;
  double f(const std::string& k) const;
  bool b(const std::string& k, bool def) const;
  const std::string& s(const std::string& k) const;
  const std::vector<int64_t>& ints(const std::string& k) const;
  std::string str() const;  // "k=v, ..." for error messages and hashes
  const std::map<std::string, Attr>& all() const { return m_; }

 private:
  std::map<std::string, Attr> m_;
};

struct Output {
  int node = -1;
  int index = 0;
  bool operator==(const Output& o) const { return node == o.node && index == o.index; }
  bool operator<(const Output& o) const { return node < o.node || (node == o.node && index < o.index); }
};

struct Node {
  int id = -1;
  std::string op;
  std::string name;          // unique in the graph, e.g. "fc1/matmul_3"
  std::string device;        // placement request from device_scope(); "" = default
  std::vector<Output> inputs;
  std::vector<int> control_inputs;  // run after these nodes, no data
  AttrMap attrs;
  std::vector<Shape> out_shapes;  // build-time shapes (may contain -1)
  std::vector<DType> out_dtypes;
};

// A symbolic value: output `index` of node `node` in graph `g`.
class Value {
 public:
  Value() = default;
  Value(Graph* g, int node, int index) : g_(g), node_(node), index_(index) {}
  bool defined() const { return g_ != nullptr; }
  Graph& graph() const;
  int node() const { return node_; }
  int index() const { return index_; }
  Output output() const { return {node_, index_}; }
  const Shape& shape() const;
  DType dtype() const;
  int rank() const { return static_cast<int>(shape().size()); }
  const std::string& name() const;  // node name
  const std::string& op() const;

 private:
  Graph* g_ = nullptr;
  int node_ = -1;
  int index_ = 0;
};

// Fills a variable at creation; rng is seeded from (graph seed, variable name).
struct Initializer {
  std::string kind = "zeros";
  double a = 0, b = 0;
  void operator()(Tensor& t, std::mt19937_64& rng) const;
};
namespace init {
Initializer zeros();
Initializer ones();
Initializer constant(double v);
Initializer normal(double stddev, double mean = 0.0);
Initializer truncated_normal(double stddev);   // redraws beyond 2 stddev
Initializer uniform(double lo, double hi);
Initializer glorot();   // uniform ±sqrt(6/(fan_in+fan_out))
Initializer he();       // normal(sqrt(2/fan_in))
}  // namespace init

// Fan-in / fan-out of a weight shape: [in, out] for dense, [out, in, kh, kw] for conv.
std::pair<double, double> fans(const Shape& s);

struct VariableInfo {
  int node;
  std::string name;
  bool trainable;
};

class Graph {
 public:
  explicit Graph(uint64_t seed = 0);
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  // ---- leaves
  Value placeholder(const std::string& name, const Shape& shape, DType dtype = DType::F32);
  Value variable(const std::string& name, const Shape& shape, const Initializer& init,
                 DType dtype = DType::F32, bool trainable = true);
  Value constant(const Tensor& value, const std::string& name = "");
  Value scalar(double v, DType dtype = DType::F32);

  // ---- generic node creation: runs the op's shape function; returns all outputs.
  std::vector<Value> add(const std::string& op, const std::vector<Value>& inputs,
                         const AttrMap& attrs = {}, const std::string& name = "");
  Value add1(const std::string& op, const std::vector<Value>& inputs, const AttrMap& attrs = {},
             const std::string& name = "") {
    return add(op, inputs, attrs, name).at(0);
  }
  void add_control_input(int node, int dep);

  // ---- scopes: RAII guards returned by name_scope()/device_scope()
  class Scope {
   public:
    Scope(std::vector<std::string>* stack, std::string v) : stack_(stack) { stack_->push_back(std::move(v)); }
    Scope(Scope&& o) noexcept : stack_(o.stack_) { o.stack_ = nullptr; }
    Scope(const Scope&) = delete;
    ~Scope() { if (stack_) stack_->pop_back(); }
   private:
    std::vector<std::string>* stack_;
  };
  [[nodiscard]] Scope name_scope(const std::string& s) { return Scope(&names_, s); }
  [[nodiscard]] Scope device_scope(const std::string& d) { return Scope(&devices_, d); }
  std::string scoped(const std::string& base) const;  // "a/b/base"

  // ---- inspection
  int num_nodes() const { return static_cast<int>(nodes_.size()); }
  const Node& node(int id) const { return nodes_.at(static_cast<size_t>(id)); }
  Node& mutable_node(int id) { return nodes_.at(static_cast<size_t>(id)); }
  Value find(const std::string& name) const;  // output 0 of the named node; throws if absent
  bool has(const std::string& name) const { return by_name_.count(name) > 0; }
  // need[id] = 1 for the nodes the fetches depend on (data and control
  // inputs), not looking past the nodes in `stop` (e.g. fed placeholders).
  std::vector<char> needed_by(const std::vector<Value>& fetches, const std::set<int>& stop = {}) const;
  std::vector<Value> variables() const;
  std::vector<Value> trainable() const;
  const std::vector<VariableInfo>& variable_info() const { return vars_; }

  // Current value of a variable or constant (shared storage: writes are visible to runs).
  Tensor& value(int node);
  Tensor& value(const Value& v) { return value(v.node()); }
  Tensor& value(const std::string& var_name) { return value(find(var_name)); }
  bool has_value(int node) const { return values_.count(node) > 0; }

  uint64_t seed() const { return seed_; }
  // Deterministic per-name RNG (variables, dropout seeds).
  uint64_t name_seed(const std::string& name) const;

 private:
  std::string unique_name(const std::string& base);
  std::vector<Node> nodes_;
  std::unordered_map<std::string, int> by_name_;
  std::unordered_map<std::string, int> name_counts_;
  std::unordered_map<int, Tensor> values_;
  std::vector<VariableInfo> vars_;
  size_t var_bytes_ = 0;  // bytes of all variables so far
  std::vector<std::string> names_, devices_;
  uint64_t seed_;
};

}  // namespace ft
