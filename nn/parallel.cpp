// parallel.cpp — split variables and the group collectives (see parallel.h).
#include "nn/parallel.h"

#include <cstring>
#include <random>

#include "comm/mp_ops.h"

namespace ft {
namespace nn {

int64_t TensorParallel::part(int64_t n, const std::string& what) const {
  if (size < 1 || rank < 0 || rank >= size)
    throw Error(what + ": bad model-parallel rank " + std::to_string(rank) + " of " + std::to_string(size));
  if (n % size != 0)
    throw Error(what + ": " + std::to_string(n) + " is not divisible by the model-parallel size " +
                std::to_string(size));
  return n / size;
}

Value split_variable(Graph& g, const std::string& name, const Shape& full_shape, int axis, const Initializer& init,
                     const TensorParallel& tp, DType dtype) {
  if (!tp.enabled()) return g.variable(name, full_shape, init, dtype);
  const int r = int(full_shape.size());
  const int ax = axis < 0 ? axis + r : axis;
  if (ax < 0 || ax >= r) throw Error("split_variable '" + name + "': axis out of range for " + shape_str(full_shape));
  Shape local = full_shape;
  local[size_t(ax)] = tp.part(full_shape[size_t(ax)], "split_variable '" + g.scoped(name) + "'");
  Value v = g.variable(name, local, init::zeros(), dtype);
  g.mutable_node(v.node()).attrs.set("tp_full_numel", numel(full_shape));  // the model's size (train: --dry-run)
  // The unsplit model's initial value (same per-name seed), then this rank's slice.
  Tensor full = Tensor::empty(full_shape, dtype);
  std::mt19937_64 rng(g.name_seed(v.name()));
  init(full, rng);
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < ax; ++i) outer *= full_shape[size_t(i)];
  for (int i = ax + 1; i < r; ++i) inner *= full_shape[size_t(i)];
  const size_t es = dtype_size(dtype);
  const size_t chunk = size_t(local[size_t(ax)] * inner) * es, row = size_t(full_shape[size_t(ax)] * inner) * es;
  const char* src = static_cast<const char*>(full.raw()) + size_t(tp.rank) * chunk;
  char* dst = static_cast<char*>(g.value(v).raw());
  for (int64_t o = 0; o < outer; ++o) std::memcpy(dst + size_t(o) * chunk, src + size_t(o) * row, chunk);
  return v;
}

Value copy_to_parallel(Value x, const TensorParallel& tp) {
  return tp.enabled() ? comm::mp_identity(x, tp.size, tp.rank) : x;
}
Value reduce_from_parallel(Value x, const TensorParallel& tp) {
  return tp.enabled() ? comm::mp_allreduce(x, tp.size, tp.rank) : x;
}
Value gather_from_parallel(Value x, const TensorParallel& tp) {
  return tp.enabled() ? comm::mp_allgather(x, tp.size, tp.rank) : x;
}

}  // namespace nn
}  // namespace ft
