// clip.h — gradient clipping by global norm, applied in place on host tensors and,
// through the kernels their device registers (device_update.h), on device tensors.
#pragma once

#include <vector>

#include "core/tensor.h"
#include "optim/optimizer.h"

namespace ft {
namespace optim {

// sqrt(sum over tensors of sum(g^2)), accumulated in f64; f32 or f64 tensors.
double global_norm(const std::vector<Tensor>& grads);

// Scales every gradient by max_norm / norm when norm > max_norm; returns the norm
// before clipping. A non-finite norm is returned and nothing is scaled.
double clip_by_global_norm(const std::vector<Tensor>& grads, double max_norm);
double clip_by_global_norm(const std::vector<ParamRef>& params, double max_norm);

}  // namespace optim
}  // namespace ft
