// state.cpp — cutting optimizer state into server pieces and reassembling it.
#include "ps/state.h"

#include <cstring>

namespace ft {
namespace ps {
namespace {

// Splits "<prefix>/<slot>" when the key starts with prefix + "/" and the slot has no '/'.
bool slot_of(const std::string& key, const std::string& prefix, std::string* slot) {
  if (key.size() <= prefix.size() + 1 || key.compare(0, prefix.size(), prefix) != 0 || key[prefix.size()] != '/')
    return false;
  *slot = key.substr(prefix.size() + 1);
  return slot->find('/') == std::string::npos;
}

int64_t t_value(const Tensor& t) { return t.dtype() == DType::I64 ? t.data<int64_t>()[0] : int64_t(t.at(0)); }

}  // namespace

optim::OptimizerState slice_state(const ShardPlan& plan, int server, const optim::OptimizerState& whole) {
  optim::OptimizerState out;
  out.step = whole.step;
  for (int i : plan.by_server.at(size_t(server))) {
    const Piece& c = plan.pieces[size_t(i)];
    const VarSpec& v = plan.vars[size_t(c.var)];
    std::string slot;
    for (const auto& kv : whole.tensors) {
      if (!slot_of(kv.first, v.name, &slot)) continue;
      const Tensor& t = kv.second;
      if (slot == "t") {
        out.tensors[c.name + "/t"] = Tensor::from<int64_t>({}, {t_value(t)});
        continue;
      }
      if (t.dtype() != DType::F32 || t.numel() != v.numel)
        throw Error("optimizer state '" + kv.first + "' has " + std::to_string(t.numel()) + " " +
                    dtype_name(t.dtype()) + " values, variable '" + v.name + "' has " + std::to_string(v.numel) +
                    " f32");
      Tensor p = Tensor::empty({c.count}, DType::F32);
      std::memcpy(p.data<float>(), t.data<float>() + c.offset, size_t(c.count) * 4);
      out.tensors[c.name + "/" + slot] = p;
    }
  }
  return out;
}

void merge_state(const ShardPlan& plan, int server, const optim::OptimizerState& pieces, optim::OptimizerState* whole) {
  whole->step = std::max(whole->step, pieces.step);
  for (int i : plan.by_server.at(size_t(server))) {
    const Piece& c = plan.pieces[size_t(i)];
    const VarSpec& v = plan.vars[size_t(c.var)];
    std::string slot;
    for (const auto& kv : pieces.tensors) {
      if (!slot_of(kv.first, c.name, &slot)) continue;
      const std::string key = v.name + "/" + slot;
      if (slot == "t") {
        // Pieces on different servers may differ by in-flight updates (ps-async): keep the largest.
        auto it = whole->tensors.find(key);
        int64_t t = t_value(kv.second);
        if (it == whole->tensors.end() || t_value(it->second) < t) whole->tensors[key] = Tensor::from<int64_t>({}, {t});
        continue;
      }
      if (kv.second.dtype() != DType::F32 || kv.second.numel() != c.count)
        throw Error("optimizer state '" + kv.first + "' from server " + std::to_string(server) + " has " +
                    std::to_string(kv.second.numel()) + " values, the piece has " + std::to_string(c.count));
      Tensor& w = whole->tensors[key];
      if (w.numel() != v.numel) w = Tensor::zeros({v.numel}, DType::F32);
      std::memcpy(w.data<float>() + c.offset, kv.second.data<float>(), size_t(c.count) * 4);
    }
  }
}

// Layout: int64 step, int64 count, then per tensor: int64 name length, name,
// int64 dtype, int64 rank, rank x int64 dims, raw data.
std::vector<char> encode_state(const optim::OptimizerState& s) {
  std::vector<char> out;
  auto put = [&](const void* d, size_t n) {
    const char* b = static_cast<const char*>(d);
    out.insert(out.end(), b, b + n);
  };
  auto put64 = [&](int64_t v) { put(&v, 8); };
  put64(s.step);
  put64(int64_t(s.tensors.size()));
  for (const auto& kv : s.tensors) {
    put64(int64_t(kv.first.size()));
    put(kv.first.data(), kv.first.size());
    put64(int64_t(kv.second.dtype()));
    put64(kv.second.rank());
    for (int64_t d : kv.second.shape()) put64(d);
    put(kv.second.raw(), kv.second.bytes());
  }
  return out;
}

optim::OptimizerState decode_state(const std::vector<char>& b) {
  size_t pos = 0;
  auto get = [&](void* d, size_t n) {
    if (pos + n > b.size()) throw Error("ps: truncated optimizer state message (" + std::to_string(b.size()) + " bytes)");
    std::memcpy(d, b.data() + pos, n);
    pos += n;
  };
  auto get64 = [&] {
    int64_t v = 0;
    get(&v, 8);
    return v;
  };
  optim::OptimizerState s;
  s.step = get64();
  const int64_t n = get64();
  for (int64_t i = 0; i < n; ++i) {
    std::string name(size_t(get64()), '\0');
    get(&name[0], name.size());
    DType dt = DType(get64());
    Shape shape;
    shape.resize(size_t(get64()));
    for (auto& d : shape) d = get64();
    Tensor t = Tensor::empty(shape, dt);
    get(t.raw(), t.bytes());
    s.tensors[name] = t;
  }
  return s;
}

}  // namespace ps
}  // namespace ft
