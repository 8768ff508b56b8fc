// placement.cpp — device placement with cpu fallback and copy insertion (see placement.h).
#include "core/placement.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "core/device.h"
#include "core/op_registry.h"

namespace ft {

int DevicePlacement::copy_index(const Output& src, const std::string& to) const {
  for (size_t i = 0; i < copies.size(); ++i)
    if (copies[i].src == src && copies[i].to == to) return int(i);
  return -1;
}

std::vector<std::string> DevicePlacement::devices() const {
  std::set<std::string> s;
  for (int id : nodes) s.insert(device[size_t(id)]);
  std::vector<std::string> v;
  if (s.erase("cpu")) v.push_back("cpu");
  v.insert(v.end(), s.begin(), s.end());
  return v;
}

std::string requested_device(const Node& n, const std::string& default_device) {
  const std::string& d = n.device;
  if (d.empty() || d.rfind("rank:", 0) == 0) return default_device;
  if (d.rfind("cpu", 0) == 0) return "cpu";  // "cpu", "cpu:0"
  return d;
}

DevicePlacement place_devices(const Graph& g, const PlaceOptions& opt) {
  const OpRegistry& reg = OpRegistry::get();
  DevicePlacement P;
  P.device.assign(size_t(g.num_nodes()), "");

  // The nodes the fetches need, stopping at fed nodes.
  const std::vector<char> need = g.needed_by(opt.fetches, opt.fed);

  std::set<std::string> loaded{"cpu"};
  for (int id = 0; id < g.num_nodes(); ++id) {
    if (!need[size_t(id)]) continue;
    P.nodes.push_back(id);
    const Node& n = g.node(id);
    std::string& dev = P.device[size_t(id)];
    if (opt.fed.count(id) || n.op == "placeholder") {
      auto on = opt.fed_on.find(id);
      dev = on != opt.fed_on.end() ? on->second : "cpu";  // fed leaves are host tensors, unless staged
      continue;
    }
    if (n.op == "variable" || n.op == "constant" || g.has_value(id)) {
      if (!opt.resident.empty() && loaded.insert(opt.resident).second && !load_backend(opt.resident))
        throw Error("device: " + opt.resident + " (resident state) but this build has no " + opt.resident +
                    " backend");
      dev = opt.resident.empty() ? "cpu" : opt.resident;  // the Graph's host tensors, or their resident copies
      continue;
    }
    const std::string req = requested_device(n, opt.device);
    if (req != "cpu" && loaded.insert(req).second && !load_backend(req))
      throw Error("device: " + req + " requested (by '" + n.name + "') but this build has no " + req +
                  " backend (flowtrain was built without it)");
    std::vector<DType> in_dtypes;
    for (const Output& o : n.inputs) in_dtypes.push_back(g.node(o.node).out_dtypes[size_t(o.index)]);
    if (req != "cpu" && reg.find_kernel(n.op, req, dispatch_dtype(n, in_dtypes))) {
      dev = req;
    } else {
      dev = "cpu";
      if (req != "cpu") P.fallbacks.push_back(id);
    }
  }

  // One copy per (value, destination device).
  std::map<std::tuple<int, int, std::string>, DeviceCopy> copies;
  auto edge = [&](const Output& o, const std::string& to) -> DeviceCopy& {
    DeviceCopy& c = copies[{o.node, o.index, to}];
    c.src = o;
    c.from = P.device[size_t(o.node)];
    c.to = to;
    return c;
  };
  for (int id : P.nodes) {
    if (opt.fed.count(id)) continue;
    const std::string& to = P.device[size_t(id)];
    for (const Output& o : g.node(id).inputs) {
      if (P.device[size_t(o.node)] == to) continue;
      std::vector<int>& r = edge(o, to).readers;
      if (r.empty() || r.back() != id) r.push_back(id);  // a node reading a value twice: one entry
    }
  }
  if (!opt.fetch_on_device)
    for (const Value& v : opt.fetches)
      if (P.device[size_t(v.node())] != "cpu") edge(v.output(), "cpu").fetched = true;
  for (auto& kv : copies) P.copies.push_back(std::move(kv.second));
  return P;
}

}  // namespace ft
