// cuda/optim.cu — fused optimizer updates (SGD/momentum, Adam/AdamW, LAMB's
// per-tensor parts) and the loss-scaling checks, one pass over each tensor.
#include <cmath>

#include "ops/cuda/kernel_util.cuh"
#include "ops/cuda/optim.h"

namespace ft {
namespace cuda {
namespace {

cudaStream_t pick(Stream s) { return s ? s : stream(); }

__global__ void k_sgd(float* w, const float* g, float* v, int64_t n, SgdParams p) {
  FT_GRID_LOOP(i, n) {
    const float gi = g[i] + p.weight_decay * w[i];
    if (p.momentum == 0.f) {
      w[i] -= p.lr * gi;
    } else {
      const float vi = p.momentum * v[i] + gi;
      v[i] = vi;
      w[i] -= p.lr * (p.nesterov ? gi + p.momentum * vi : vi);
    }
  }
}

// c1 = 1/(1-b1^t), c2 = 1/(1-b2^t)
__global__ void k_adam(float* w, const float* g, float* m, float* v, int64_t n, AdamParams p, float c1, float c2,
                       bool decoupled) {
  FT_GRID_LOOP(i, n) {
    const float gi = decoupled ? g[i] : g[i] + p.weight_decay * w[i];
    const float mi = p.beta1 * m[i] + (1.f - p.beta1) * gi;
    const float vi = p.beta2 * v[i] + (1.f - p.beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    float upd = (mi * c1) / (sqrtf(vi * c2) + p.eps);
    if (decoupled) upd += p.weight_decay * w[i];
    w[i] -= p.lr * upd;
  }
}

__global__ void k_lamb_dir(const float* w, const float* g, float* m, float* v, float* u, int64_t n, AdamParams p,
                           float c1, float c2) {
  FT_GRID_LOOP(i, n) {
    const float mi = p.beta1 * m[i] + (1.f - p.beta1) * g[i];
    const float vi = p.beta2 * v[i] + (1.f - p.beta2) * g[i] * g[i];
    m[i] = mi;
    v[i] = vi;
    u[i] = (mi * c1) / (sqrtf(vi * c2) + p.eps) + p.weight_decay * w[i];
  }
}

// Block b sums the squares of its grid-stride share into partials[b].
__global__ void k_sumsq_partial(const float* x, int64_t n, double* partials) {
  __shared__ double sh[32];
  double s = 0;
  FT_GRID_LOOP(i, n) s += double(x[i]) * double(x[i]);
  s = block_sum(s, sh);
  if (threadIdx.x == 0) partials[blockIdx.x] = s;
}
__global__ void k_sum_partials(const double* partials, int count, double* out) {
  __shared__ double sh[32];
  double s = 0;
  for (int i = threadIdx.x; i < count; i += blockDim.x) s += partials[i];
  s = block_sum(s, sh);
  if (threadIdx.x == 0) *out = s;
}

__global__ void k_lamb_apply(float* w, const float* u, int64_t n, float lr, const double* w_sq, const double* u_sq) {
  const double wn = sqrt(*w_sq), un = sqrt(*u_sq);
  const float r = (wn > 0 && un > 0) ? float(wn / un) : 1.f;
  FT_GRID_LOOP(i, n) w[i] -= lr * r * u[i];
}

template <class T> __global__ void k_unscale(const T* g, float* out, int64_t n, float inv, int* found) {
  FT_GRID_LOOP(i, n) {
    const float v = float(g[i]) * inv;
    if (!isfinite(v)) *found = 1;
    out[i] = v;
  }
}

void bias_corrections(const AdamParams& p, float& c1, float& c2) {
  FT_CHECK(p.step >= 1, "adam: step must be >= 1, got " + std::to_string(p.step));
  c1 = float(1.0 / (1.0 - std::pow(double(p.beta1), double(p.step))));
  c2 = float(1.0 / (1.0 - std::pow(double(p.beta2), double(p.step))));
}

}  // namespace

void sgd_update(float* w, const float* g, float* v, int64_t n, const SgdParams& p, Stream s) {
  if (n == 0) return;
  FT_CHECK(p.momentum == 0.f || v != nullptr, "sgd_update: momentum needs a velocity buffer");
  k_sgd<<<grid_for(n), kThreads, 0, pick(s)>>>(w, g, v, n, p);
  FT_CUDA_LAUNCHED();
}

void adam_update(float* w, const float* g, float* m, float* v, int64_t n, const AdamParams& p, bool decoupled,
                 Stream s) {
  if (n == 0) return;
  float c1, c2;
  bias_corrections(p, c1, c2);
  k_adam<<<grid_for(n), kThreads, 0, pick(s)>>>(w, g, m, v, n, p, c1, c2, decoupled);
  FT_CUDA_LAUNCHED();
}

void lamb_direction(const float* w, const float* g, float* m, float* v, float* u, int64_t n, const AdamParams& p,
                    Stream s) {
  if (n == 0) return;
  float c1, c2;
  bias_corrections(p, c1, c2);
  k_lamb_dir<<<grid_for(n), kThreads, 0, pick(s)>>>(w, g, m, v, u, n, p, c1, c2);
  FT_CUDA_LAUNCHED();
}

void sum_squares(const float* x, int64_t n, double* out, double* partials, Stream s) {
  const int blocks = int(std::min<int64_t>(kReducePartials, std::max<int64_t>(1, (n + kThreads - 1) / kThreads)));
  k_sumsq_partial<<<blocks, kThreads, 0, pick(s)>>>(x, n, partials);
  k_sum_partials<<<1, kThreads, 0, pick(s)>>>(partials, blocks, out);
  FT_CUDA_LAUNCHED();
}

void lamb_apply(float* w, const float* u, int64_t n, float lr, const double* w_sq, const double* u_sq, Stream s) {
  if (n == 0) return;
  k_lamb_apply<<<grid_for(n), kThreads, 0, pick(s)>>>(w, u, n, lr, w_sq, u_sq);
  FT_CUDA_LAUNCHED();
}

void LambWorkspace::reserve(int64_t n) {
  if (u.bytes() < size_t(n) * sizeof(float)) u = DeviceBuffer(size_t(n) * sizeof(float));
  if (!partials.get()) partials = DeviceBuffer(kReducePartials * sizeof(double));
  if (!norms.get()) norms = DeviceBuffer(2 * sizeof(double));
}

void lamb_update(float* w, const float* g, float* m, float* v, int64_t n, const AdamParams& p, LambWorkspace& ws,
                 Stream s) {
  if (n == 0) return;
  ws.reserve(n);
  float* u = static_cast<float*>(ws.u.get());
  double* part = static_cast<double*>(ws.partials.get());
  double* norms = static_cast<double*>(ws.norms.get());
  lamb_direction(w, g, m, v, u, n, p, s);
  sum_squares(w, n, norms, part, s);
  sum_squares(u, n, norms + 1, part, s);
  lamb_apply(w, u, n, p.lr, norms, norms + 1, s);
}

void unscale_and_check(float* g, int64_t n, float inv_scale, int* found_inf, Stream s) {
  if (n == 0) return;
  k_unscale<float><<<grid_for(n), kThreads, 0, pick(s)>>>(g, g, n, inv_scale, found_inf);
  FT_CUDA_LAUNCHED();
}

void unscale_to_f32(const void* g, DType dt, float* out, int64_t n, float inv_scale, int* found_inf, Stream s) {
  if (n == 0) return;
  switch (dt) {
    case DType::F32:
      k_unscale<float><<<grid_for(n), kThreads, 0, pick(s)>>>(static_cast<const float*>(g), out, n, inv_scale, found_inf);
      break;
    case DType::F16:
      k_unscale<__half><<<grid_for(n), kThreads, 0, pick(s)>>>(static_cast<const __half*>(g), out, n, inv_scale, found_inf);
      break;
    case DType::BF16:
      k_unscale<__nv_bfloat16><<<grid_for(n), kThreads, 0, pick(s)>>>(static_cast<const __nv_bfloat16*>(g), out, n,
                                                                        inv_scale, found_inf);
      break;
    default:
      throw Error(std::string("unscale_to_f32: unsupported gradient dtype ") + dtype_name(dt));
  }
  FT_CUDA_LAUNCHED();
}

bool read_and_clear_flag(int* found_inf, Stream s) {
  int h = 0;
  cudaStream_t st = pick(s);
  FT_CUDA_CHECK(cudaMemcpyAsync(&h, found_inf, sizeof h, cudaMemcpyDeviceToHost, st));
  FT_CUDA_CHECK(cudaMemsetAsync(found_inf, 0, sizeof h, st));
  FT_CUDA_CHECK(cudaStreamSynchronize(st));
  return h != 0;
}

}  // namespace cuda
}  // namespace ft
