// cuda/update.cpp — the device update for "cuda" (optim/device_update.h): the
// optimizers' UpdateRule through the fused kernels of ops/cuda/optim.h, and the
// gradient operations of loss scaling and clipping, all queued on the compute
// stream after the step's kernels. Only the answers that must reach the host
// (a finiteness flag, a norm) wait, and each is a few bytes.
#include <cmath>
#include <limits>
#include <mutex>

#include "ops/cuda/optim.h"
#include "ops/cuda/runtime.h"
#include "optim/device_update.h"

namespace ft {
namespace cuda {
namespace {

// Per-host-thread scratch: the finiteness flag, the norm partials and LAMB's
// workspace, reused across steps (stream-ordered on the compute stream).
struct Scratch {
  DeviceBuffer flag, partials, sum;
  LambWorkspace lamb;
  Scratch() : flag(sizeof(int)), partials(kReducePartials * sizeof(double)), sum(sizeof(double)) {
    memset_device(flag.get(), 0, sizeof(int));
  }
};
Scratch& scratch() {
  thread_local Scratch* s = new Scratch();  // never freed: CUDA may be gone at thread exit
  return *s;
}

double update(Device&, const optim::UpdateRule& r, const optim::UpdateArgs& a) {
  switch (r.kind) {
    case optim::UpdateRule::kSgd:
    case optim::UpdateRule::kMomentum: {
      SgdParams p;
      p.lr = float(a.lr);
      p.weight_decay = float(a.wd);
      p.momentum = r.kind == optim::UpdateRule::kMomentum ? float(r.momentum) : 0.f;
      p.nesterov = r.nesterov;
      sgd_update(a.w, a.g, a.slots.empty() ? nullptr : a.slots[0], a.n, p);
      break;
    }
    case optim::UpdateRule::kAdam:
    case optim::UpdateRule::kAdamW:
    case optim::UpdateRule::kLamb: {
      AdamParams p;
      p.lr = float(a.lr);
      p.beta1 = float(r.beta1);
      p.beta2 = float(r.beta2);
      p.eps = float(r.eps);
      p.weight_decay = float(a.wd);
      p.step = a.t;
      if (r.kind == optim::UpdateRule::kLamb) lamb_update(a.w, a.g, a.slots[0], a.slots[1], a.n, p, scratch().lamb);
      else adam_update(a.w, a.g, a.slots[0], a.slots[1], a.n, p, r.kind == optim::UpdateRule::kAdamW);
      break;
    }
  }
  return std::numeric_limits<double>::quiet_NaN();  // LAMB's ratio stays on the device
}

bool scale_and_check(float* g, int64_t n, float f) {
  Scratch& s = scratch();
  unscale_and_check(g, n, f, static_cast<int*>(s.flag.get()));
  return !read_and_clear_flag(static_cast<int*>(s.flag.get()));  // 4 bytes out
}

}  // namespace

void register_update_cuda() {
  optim::DeviceUpdateKernels k;
  k.update = update;
  k.unscale = [](Device&, float* g, int64_t n, double inv) { return scale_and_check(g, n, float(inv)); };
  k.sum_squares = [](Device&, const float* g, int64_t n) {
    Scratch& s = scratch();
    double out = 0;
    cuda::sum_squares(g, n, static_cast<double*>(s.sum.get()), static_cast<double*>(s.partials.get()));
    copy_to_host(&out, s.sum.get(), sizeof out);  // 8 bytes out
    return out;
  };
  k.scale = [](Device&, float* g, int64_t n, float f) { scale_and_check(g, n, f); };
  k.all_finite = [](Device&, const float* g, int64_t n) { return scale_and_check(const_cast<float*>(g), n, 1.f); };
  optim::register_device_update("cuda", std::move(k));
}

}  // namespace cuda
}  // namespace ft
