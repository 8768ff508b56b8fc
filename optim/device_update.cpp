// device_update.cpp — the registry of device update kernels, the host formulas,
// and the stand-in device's kernels (the host formulas on its memory).
#include "optim/device_update.h"

#include <Eigen/Core>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>

#include "core/tensor.h"
#include "core/thread_pool.h"

namespace ft {
namespace optim {

namespace {
using Arr = Eigen::Map<Eigen::ArrayXf>;
using CArr = Eigen::Map<const Eigen::ArrayXf>;

std::atomic<int64_t> calls{0};

DeviceUpdateKernels host_kernels() {
  DeviceUpdateKernels k;
  k.update = [](Device&, const UpdateRule& r, const UpdateArgs& a) { return host_update(r, a); };
  k.unscale = [](Device&, float* g, int64_t n, double inv) { return host_unscale(g, n, inv); };
  k.sum_squares = [](Device&, const float* g, int64_t n) { return host_sum_squares(g, n); };
  k.scale = [](Device&, float* g, int64_t n, float s) { host_scale(g, n, s); };
  k.all_finite = [](Device&, const float* g, int64_t n) { return host_all_finite(g, n); };
  return k;
}

struct Registry {
  std::mutex mu;
  std::map<std::string, DeviceUpdateKernels> kernels{{"standin", host_kernels()}};
};
Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: used at exit
  return *r;
}

// m and v moved with gradient g; returns the bias corrections 1/(1-b^t).
template <class G>
std::pair<float, float> moments(Arr& m, Arr& v, const G& g, const UpdateRule& r, int64_t t) {
  const float b1 = float(r.beta1), b2 = float(r.beta2);
  m = b1 * m + (1 - b1) * g;
  v = b2 * v + (1 - b2) * g.square();
  return {float(1.0 / (1.0 - std::pow(r.beta1, double(t)))), float(1.0 / (1.0 - std::pow(r.beta2, double(t))))};
}

}  // namespace

void register_device_update(const std::string& device, DeviceUpdateKernels k) {
  Registry& r = registry();
  std::lock_guard<std::mutex> l(r.mu);
  r.kernels[device] = std::move(k);
}

const DeviceUpdateKernels* device_update(const std::string& device) {
  Registry& r = registry();
  std::lock_guard<std::mutex> l(r.mu);
  auto it = r.kernels.find(device);
  return it == r.kernels.end() ? nullptr : &it->second;  // map nodes are stable
}

const DeviceUpdateKernels& device_update_for(Device& d, const std::function<std::string()>& what) {
  const DeviceUpdateKernels* k = device_update(d.name());
  if (!k) throw Error(what() + " is on device " + d.name() + ", whose backend registers no update kernels");
  ++calls;
  return *k;
}

int64_t device_update_calls() { return calls.load(); }

namespace {

// LAMB over the whole tensor: its trust ratio needs the norms of w and of the update.
double lamb_update(const UpdateRule& r, const UpdateArgs& a) {
  const int64_t n = a.n;
  Arr w(a.w, n);
  CArr g(a.g, n);
  Arr m(a.slots[0], n), v(a.slots[1], n);
  auto k = moments(m, v, g, r, a.t);
  Eigen::ArrayXf u = (m * k.first) / ((v * k.second).sqrt() + float(r.eps)) + float(a.wd) * w;
  const double wn = std::sqrt(w.cast<double>().square().sum());
  const double un = std::sqrt(u.cast<double>().square().sum());
  const double ratio = (wn > 0 && un > 0) ? wn / un : 1.0;
  w -= float(a.lr * ratio) * u;
  return ratio;
}

// The elementwise rules on elements [i, i + n).
void elementwise_update(const UpdateRule& r, const UpdateArgs& a, int64_t i, int64_t n) {
  Arr w(a.w + i, n);
  CArr g(a.g + i, n);
  const float lr = float(a.lr), d = float(a.wd);
  switch (r.kind) {
    case UpdateRule::kSgd:
      if (d != 0) w -= lr * (g + d * w);
      else w -= lr * g;
      return;
    case UpdateRule::kMomentum: {
      Arr v(a.slots[0] + i, n);
      const float mu = float(r.momentum);
      v = mu * v + g + d * w;
      if (r.nesterov) w -= lr * (g + d * w + mu * v);
      else w -= lr * v;
      return;
    }
    case UpdateRule::kAdam: {
      Arr m(a.slots[0] + i, n), v(a.slots[1] + i, n);
      auto k = a.wd != 0 ? moments(m, v, g + d * w, r, a.t) : moments(m, v, g, r, a.t);
      w -= lr * (m * k.first) / ((v * k.second).sqrt() + float(r.eps));
      return;
    }
    case UpdateRule::kAdamW: {
      Arr m(a.slots[0] + i, n), v(a.slots[1] + i, n);
      auto k = moments(m, v, g, r, a.t);
      w -= lr * ((m * k.first) / ((v * k.second).sqrt() + float(r.eps)) + d * w);
      return;
    }
    case UpdateRule::kLamb:
      break;
  }
}

}  // namespace

double host_update(const UpdateRule& r, const UpdateArgs& a) {
  if (r.kind == UpdateRule::kLamb) return lamb_update(r, a);
  // The elementwise rules in blocks that stay in L1 between their two passes (the
  // slots, then the weights): one pass over memory instead of two. A block is a
  // whole number of vector packets, so each element gets the same operations as
  // in one pass over the tensor.
  constexpr int64_t kBlock = 2048;
  auto blocks = [&](int64_t b0, int64_t b1) {
    for (int64_t i = b0 * kBlock; i < std::min(a.n, b1 * kBlock); i += kBlock)
      elementwise_update(r, a, i, std::min(kBlock, a.n - i));
  };
  const int64_t nb = (a.n + kBlock - 1) / kBlock;
  if (a.pool) a.pool->parallel_for(nb, 16, blocks);  // at least 32K elements a thread
  else blocks(0, nb);
  return 1;
}

bool host_unscale(float* g, int64_t n, double inv) {
  Arr a(g, n);
  a = (a.cast<double>() * inv).cast<float>();
  return a.isFinite().all();
}

double host_sum_squares(const float* g, int64_t n) { return CArr(g, n).cast<double>().square().sum(); }

void host_scale(float* g, int64_t n, float s) { Arr(g, n) *= s; }

bool host_all_finite(const float* g, int64_t n) { return CArr(g, n).isFinite().all(); }

}  // namespace optim
}  // namespace ft
