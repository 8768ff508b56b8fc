// optim.h — fused optimizer updates and mixed-precision helpers on the GPU, as
// plain functions over device pointers (f32 master weights and state), queued on
// stream `s` (nullptr = the compute stream). The formulas match optim/sgd.h and
// optim/adam.h exactly:
//   SGD/momentum: g' = g + wd*w;  v = mu*v + g';  w -= lr * (nesterov ? g' + mu*v : v)
//   Adam:  g' = g + wd*w;  m = b1*m + (1-b1)*g';  v = b2*v + (1-b2)*g'^2;
//          w -= lr * mh / (sqrt(vh) + eps),  mh = m/(1-b1^t), vh = v/(1-b2^t)
//   AdamW: moments of g;  w -= lr * (mh / (sqrt(vh) + eps) + wd*w)
//   LAMB:  u = mh / (sqrt(vh) + eps) + wd*w;  w -= lr * r * u,  r = ||w|| / ||u||
//          (r = 1 when either norm is 0); the norms stay on the device.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "ops/cuda/device.h"

namespace ft {
namespace cuda {

struct SgdParams {
  float lr = 0.01f;
  float momentum = 0.f;  // 0 = plain SGD (v may be nullptr)
  float weight_decay = 0.f;
  bool nesterov = false;
};
void sgd_update(float* w, const float* g, float* v, int64_t n, const SgdParams& p, Stream s = nullptr);

struct AdamParams {
  float lr = 1e-3f;
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
  float weight_decay = 0.f;
  int64_t step = 1;  // the parameter's update count t (>= 1), for bias correction
};
// decoupled = false: Adam (L2 on the gradient); true: AdamW.
void adam_update(float* w, const float* g, float* m, float* v, int64_t n, const AdamParams& p, bool decoupled,
                 Stream s = nullptr);

// ---- LAMB, per tensor: direction, the two norms, the trust-ratio step.
constexpr int kReducePartials = 256;  // doubles of workspace a sum_squares call needs
// u = mh / (sqrt(vh) + eps) + wd*w, updating m and v.
void lamb_direction(const float* w, const float* g, float* m, float* v, float* u, int64_t n, const AdamParams& p,
                    Stream s = nullptr);
// *out = sum(x^2) in double, deterministic (fixed partition); `partials` holds
// kReducePartials doubles of device workspace.
void sum_squares(const float* x, int64_t n, double* out, double* partials, Stream s = nullptr);
// w -= lr * r * u with r from the device norms w_sq = ||w||^2, u_sq = ||u||^2.
void lamb_apply(float* w, const float* u, int64_t n, float lr, const double* w_sq, const double* u_sq,
                Stream s = nullptr);
// Scratch a LAMB step needs for a tensor of n elements (reuse it across steps).
struct LambWorkspace {
  DeviceBuffer u, partials, norms;  // n floats; kReducePartials doubles; 2 doubles
  void reserve(int64_t n);
};
void lamb_update(float* w, const float* g, float* m, float* v, int64_t n, const AdamParams& p, LambWorkspace& ws,
                 Stream s = nullptr);

// ---- mixed precision
// Elementwise dtype conversion (f32/f64/f16/bf16/i32/i64; f16/bf16 round to nearest even).
void convert(const void* src, DType from, void* dst, DType to, int64_t n, Stream s = nullptr);
// g *= inv_scale in place; sets *found_inf (device int) to 1 if any result is inf or nan.
void unscale_and_check(float* g, int64_t n, float inv_scale, int* found_inf, Stream s = nullptr);
// f16/bf16/f32 gradients -> f32 master gradients times inv_scale, with the same check.
void unscale_to_f32(const void* g, DType dt, float* out, int64_t n, float inv_scale, int* found_inf,
                    Stream s = nullptr);
// Copies the flag to the host (synchronizes s) and clears it on the device.
bool read_and_clear_flag(int* found_inf, Stream s = nullptr);

}  // namespace cuda
}  // namespace ft
