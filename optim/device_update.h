// device_update.h — the update step for parameters that live on a device.
//
// Optimizer::step (optimizer.h), LossScaler::unscale (loss_scale.h) and the
// clipping functions (clip.h) run host code on host tensors. For tensors on a
// device they call the kernels the device's backend registers here, by device
// name: one update per parameter (an UpdateRule says which formula and its
// hyperparameters) and the four gradient operations loss scaling, clipping and
// the finiteness check need. The CUDA backend registers its fused kernels
// (ops/cuda/optim.h) for "cuda"; the stand-in device (core/standin.h) has the
// host formulas registered for "standin", so the trainer's device path runs the
// same code in CI as on a GPU. A device with no kernels here is refused by name.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/device.h"

namespace ft {
class ThreadPool;
namespace optim {

// Which formula an optimizer applies, with its fixed hyperparameters (optim/sgd.h,
// optim/adam.h give the formulas).
struct UpdateRule {
  enum Kind { kSgd, kMomentum, kAdam, kAdamW, kLamb };
  Kind kind = kSgd;
  double momentum = 0;    // kMomentum
  bool nesterov = false;  // kMomentum
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // kAdam, kAdamW, kLamb
  size_t slots() const { return kind == kSgd ? 0 : kind == kMomentum ? 1 : 2; }
};

// One parameter's update: n f32 values at w, its gradient g and the rule's
// slots (in the optimizer's slot order), all on the device. t is the
// parameter's update count after this one (>= 1), wd its weight decay (0 when
// filtered out).
struct UpdateArgs {
  float* w = nullptr;
  const float* g = nullptr;
  std::vector<float*> slots;
  int64_t n = 0;
  int64_t t = 1;
  double lr = 0, wd = 0;
  ThreadPool* pool = nullptr;  // host update: splits a large parameter over it (elementwise rules)
};

// What a device's backend registers. Each call is ordered with the device's
// other work; the ones returning a value wait for it.
struct DeviceUpdateKernels {
  // Returns LAMB's trust ratio when the kernel computes it on the host, else NaN.
  std::function<double(Device&, const UpdateRule&, const UpdateArgs&)> update;
  // g = g * inv in double, rounded to f32 (loss scaling); true when all results are finite.
  std::function<bool(Device&, float* g, int64_t n, double inv)> unscale;
  // sum(g^2) accumulated in double.
  std::function<double(Device&, const float* g, int64_t n)> sum_squares;
  // g *= s in f32 (clipping).
  std::function<void(Device&, float* g, int64_t n, float s)> scale;
  // Whether every value is finite.
  std::function<bool(Device&, const float* g, int64_t n)> all_finite;
};

void register_device_update(const std::string& device, DeviceUpdateKernels k);
// The kernels registered for `device`, or nullptr.
const DeviceUpdateKernels* device_update(const std::string& device);
// The kernels for a tensor on `d` (a device tensor's device_ptr()); throws a
// one-line ft::Error naming the device and what(), called only then, when it has none.
const DeviceUpdateKernels& device_update_for(Device& d, const std::function<std::string()>& what);
// How many update and gradient calls went to device kernels (tests).
int64_t device_update_calls();

// The host formulas, on host-addressable memory (what the optimizers and the
// stand-in's kernels run). Returns LAMB's trust ratio, 1 for the others.
double host_update(const UpdateRule& r, const UpdateArgs& a);
bool host_unscale(float* g, int64_t n, double inv);
double host_sum_squares(const float* g, int64_t n);
void host_scale(float* g, int64_t n, float s);
bool host_all_finite(const float* g, int64_t n);

}  // namespace optim
}  // namespace ft
