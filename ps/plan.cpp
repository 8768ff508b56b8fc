// plan.cpp — greedy byte-balanced sharding of variables over parameter servers.
#include "ps/plan.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "core/tensor.h"

namespace ft {
namespace ps {

ShardPlan ShardPlan::make(const std::vector<VarSpec>& vars, int servers, int64_t chunk_bytes) {
  if (servers < 1) throw Error("ps plan: need at least one server, got " + std::to_string(servers));
  if (chunk_bytes <= 0) throw Error("ps plan: chunk size must be > 0 bytes, got " + std::to_string(chunk_bytes));
  if (vars.empty()) throw Error("ps plan: no variables to place");
  ShardPlan p;
  p.vars = vars;
  for (size_t v = 0; v < vars.size(); ++v) {
    const int64_t n = vars[v].numel, bytes = n * 4;
    if (n <= 0) throw Error("ps plan: variable '" + vars[v].name + "' has no elements");
    const int64_t k = std::max<int64_t>(1, (bytes + chunk_bytes - 1) / chunk_bytes);
    for (int64_t i = 0; i < k; ++i) {
      Piece c;
      c.var = int(v);
      c.index = int(i);
      c.offset = n * i / k / kAlign * kAlign;
      c.count = (i + 1 == k ? n : n * (i + 1) / k / kAlign * kAlign) - c.offset;
      c.name = k == 1 ? vars[v].name : vars[v].name + ":" + std::to_string(i);
      if (c.count > 0) p.pieces.push_back(c);  // tiny chunks may round away
    }
  }
  // Largest first (stable: creation order among equals), each onto the lightest server.
  std::vector<int> order(p.pieces.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = int(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return p.pieces[size_t(a)].count > p.pieces[size_t(b)].count; });
  p.server_elems.assign(size_t(servers), 0);
  p.by_server.assign(size_t(servers), {});
  for (int i : order) {
    int best = 0;
    for (int s = 1; s < servers; ++s)
      if (p.server_elems[size_t(s)] < p.server_elems[size_t(best)]) best = s;
    p.pieces[size_t(i)].server = best;
    p.server_elems[size_t(best)] += p.pieces[size_t(i)].count;
  }
  // Buffer layout per server: pieces in variable order.
  std::fill(p.server_elems.begin(), p.server_elems.end(), 0);
  for (size_t i = 0; i < p.pieces.size(); ++i) {
    Piece& c = p.pieces[i];
    c.server_offset = p.server_elems[size_t(c.server)];
    p.server_elems[size_t(c.server)] += (c.count + kAlign - 1) / kAlign * kAlign;
    p.by_server[size_t(c.server)].push_back(int(i));
  }
  return p;
}

bool ShardPlan::chunked(int var) const {
  for (const Piece& c : pieces)
    if (c.var == var) return c.count != vars[size_t(var)].numel;
  return false;
}

void ShardPlan::pack(int server, const std::vector<const float*>& var_data, float* server_buf) const {
  FT_CHECK(var_data.size() == vars.size(), "ps plan: pack needs one pointer per variable");
  for (int i : by_server[size_t(server)]) {
    const Piece& c = pieces[size_t(i)];
    std::memcpy(server_buf + c.server_offset, var_data[size_t(c.var)] + c.offset, size_t(c.count) * 4);
  }
}

void ShardPlan::unpack(int server, const float* server_buf, const std::vector<float*>& var_data) const {
  FT_CHECK(var_data.size() == vars.size(), "ps plan: unpack needs one pointer per variable");
  for (int i : by_server[size_t(server)]) {
    const Piece& c = pieces[size_t(i)];
    std::memcpy(var_data[size_t(c.var)] + c.offset, server_buf + c.server_offset, size_t(c.count) * 4);
  }
}

uint64_t ShardPlan::hash() const {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](const void* d, size_t n) {
    const unsigned char* b = static_cast<const unsigned char*>(d);
    for (size_t i = 0; i < n; ++i) { h ^= b[i]; h *= 1099511628211ull; }
  };
  for (const Piece& c : pieces) {
    mix(c.name.data(), c.name.size());
    mix(&c.count, sizeof(c.count));
    mix(&c.server, sizeof(c.server));
    mix(&c.server_offset, sizeof(c.server_offset));
  }
  return h;
}

std::string ShardPlan::describe() const {
  std::string s = std::to_string(servers()) + (servers() == 1 ? " server:" : " servers:");
  for (int k = 0; k < servers(); ++k) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%s %.2f MB in %zu piece%s", k ? "," : "", double(server_elems[size_t(k)]) * 4 / 1e6,
                  by_server[size_t(k)].size(), by_server[size_t(k)].size() == 1 ? "" : "s");
    s += buf;
  }
  return s;
}

}  // namespace ps
}  // namespace ft
