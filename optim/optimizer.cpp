// optimizer.cpp — Optimizer base: slot management, state export/import, decay filters.
#include "optim/optimizer.h"

#include <cctype>
#include <cmath>

#include "core/device.h"

namespace ft {
namespace optim {

namespace {
std::vector<std::string> components(const std::string& name) {
  std::string base = name.substr(0, name.find(':'));
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t slash = base.find('/', start);
    parts.push_back(base.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return parts;
}
bool contains(const std::string& s, const char* sub) { return s.find(sub) != std::string::npos; }
}  // namespace

bool default_decays(const std::string& name) {
  for (const std::string& c : components(name)) {
    if (contains(c, "LayerNorm") || contains(c, "layer_norm") || contains(c, "bias")) return false;
    if (c == "b" || c == "beta" || c == "gamma") return false;
    if (c.rfind("ln", 0) == 0 && (c.size() == 2 || c[2] == '_' || std::isdigit(static_cast<unsigned char>(c[2]))))
      return false;  // ln, ln_f, ln1
  }
  return true;
}

DecayFilter decay_unless_contains(std::vector<std::string> substrings) {
  return [subs = std::move(substrings)](const std::string& name) {
    for (const auto& s : subs)
      if (name.find(s) != std::string::npos) return false;
    return true;
  };
}

Optimizer::Optimizer(double lr, double weight_decay) : lr_(lr), weight_decay_(weight_decay) {
  if (lr < 0) throw Error("optimizer: lr must be >= 0, got " + std::to_string(lr));
  if (weight_decay < 0) throw Error("optimizer: weight_decay must be >= 0, got " + std::to_string(weight_decay));
}

Optimizer::Slots& Optimizer::slots_for(const ParamRef& p) {
  std::lock_guard<std::mutex> lock(mu_);
  Slots& s = slots_[p.name];
  const size_t k = slot_names().size();
  Device& dev = p.value.device_ptr() ? *p.value.device_ptr() : cpu_device();  // slots live with the parameter
  if (s.bufs.size() != k) {
    s.bufs.clear();
    for (size_t i = 0; i < k; ++i) {
      s.bufs.push_back(Tensor::empty_on(dev, {p.value.numel()}, DType::F32));
      dev.zero(s.bufs.back().raw(), s.bufs.back().bytes());  // filled there: nothing crosses from the host
    }
  }
  for (Tensor& b : s.bufs)
    if (b.device_ptr() != p.value.device_ptr() && b.numel() == p.value.numel()) {  // loaded on the host
      Tensor d = Tensor::empty_on(dev, b.shape(), DType::F32);
      d.copy_from(b);
      b = d;
    }
  for (size_t i = 0; i < k; ++i)
    if (s.bufs[i].numel() != p.value.numel())
      throw Error(type() + " optimizer: state '" + p.name + "/" + slot_names()[i] + "' has " +
                  std::to_string(s.bufs[i].numel()) + " elements, parameter has " +
                  std::to_string(p.value.numel()));
  return s;
}

void Optimizer::step(const std::vector<ParamRef>& params) {
  for (const ParamRef& p : params) {
    if (p.value.dtype() != DType::F32 || p.grad.dtype() != DType::F32)
      throw Error(type() + " optimizer: parameter '" + p.name + "' must be f32 (value " +
                  dtype_name(p.value.dtype()) + ", grad " + dtype_name(p.grad.dtype()) + ")");
    if (p.value.device_ptr() != p.grad.device_ptr())
      throw Error(type() + " optimizer: parameter '" + p.name + "' is on " + p.value.device() +
                  " but its gradient on " + p.grad.device());
    if (p.value.numel() != p.grad.numel())
      throw Error(type() + " optimizer: parameter '" + p.name + "' has " + shape_str(p.value.shape()) +
                  " but its gradient has " + shape_str(p.grad.shape()));
  }
  const double wd = weight_decay_, lr = lr_.load();
  const UpdateRule r = rule();
  for (const ParamRef& p : params) {
    Device* dev = p.value.device_ptr();
    const DeviceUpdateKernels* k =
        dev ? &device_update_for(*dev, [&] { return type() + " optimizer: parameter '" + p.name + "'"; }) : nullptr;
    Slots& s = slots_for(p);
    ++s.t;
    Tensor w = p.value;  // a handle: the update writes the parameter's storage
    UpdateArgs a;
    a.w = static_cast<float*>(w.raw());
    a.g = static_cast<const float*>(p.grad.raw());
    for (Tensor& b : s.bufs) a.slots.push_back(static_cast<float*>(b.raw()));
    a.n = p.value.numel();
    a.t = s.t;
    a.lr = lr;
    a.wd = decays(p.name) ? wd : 0.0;
    a.pool = pool_;
    const double ratio = k ? k->update(*dev, r, a) : host_update(r, a);
    if (r.kind == UpdateRule::kLamb && !std::isnan(ratio)) last_ratio_ = ratio;
  }
  ++steps_;
}

OptimizerState Optimizer::state() const {
  std::lock_guard<std::mutex> lock(mu_);
  OptimizerState st;
  st.step = steps_;
  const auto names = slot_names();
  for (const auto& kv : slots_) {
    st.tensors[kv.first + "/t"] = Tensor::from<int64_t>({}, {kv.second.t});
    for (size_t i = 0; i < kv.second.bufs.size() && i < names.size(); ++i)
      st.tensors[kv.first + "/" + names[i]] =
          kv.second.bufs[i].on_host() ? kv.second.bufs[i].clone() : kv.second.bufs[i].to_host();
  }
  return st;
}

void Optimizer::load_state(const OptimizerState& st) {
  const auto names = slot_names();
  std::map<std::string, Slots> loaded;
  for (const auto& kv : st.tensors) {
    size_t slash = kv.first.rfind('/');
    if (slash == std::string::npos || slash == 0)
      throw Error(type() + " optimizer: state key '" + kv.first + "' is not '<param>/<slot>'");
    std::string param = kv.first.substr(0, slash), slot = kv.first.substr(slash + 1);
    Slots& s = loaded[param];
    if (slot == "t") {
      s.t = static_cast<int64_t>(kv.second.at(0));
      continue;
    }
    size_t i = 0;
    while (i < names.size() && names[i] != slot) ++i;
    if (i == names.size()) throw Error(type() + " optimizer: unknown state slot '" + kv.first + "'");
    if (kv.second.dtype() != DType::F32) throw Error(type() + " optimizer: state '" + kv.first + "' must be f32");
    if (s.bufs.size() < names.size()) s.bufs.resize(names.size());
    s.bufs[i] = kv.second.clone().reshaped({kv.second.numel()});
  }
  for (auto& kv : loaded) {
    kv.second.bufs.resize(names.size());
    for (size_t i = 0; i < names.size(); ++i) {
      const Tensor& b = kv.second.bufs[i];
      if (b.raw() == nullptr && b.shape().empty())  // never assigned above
        throw Error(type() + " optimizer: state of '" + kv.first + "' lacks slot '" + names[i] + "'");
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  slots_ = std::move(loaded);
  steps_ = st.step;
}

void Optimizer::reset() {
  std::lock_guard<std::mutex> lock(mu_);
  slots_.clear();
  steps_ = 0;
}

}  // namespace optim
}  // namespace ft
