// parallel.h — tensor parallelism (Megatron-style) over a model-parallel group of
// `size` ranks, this rank being `rank`: the group (TensorParallel), split variables
// and the f/g collectives. The split layers themselves are nn::Dense with a Split
// (nn/layers.h) and nn::MultiHeadAttention (nn/attention.h); tp.size 1 is the plain layer.
//
//   column-parallel  x (.., in) replicated -> f = mp_identity(x)
//                    -> x w_r + b_r  (.., out/size)   [-> mp_allgather -> (.., out)]
//                    w (in, out) split by output columns: w_r = w[:, r·out/size ...]
//   row-parallel     x_r (.., in/size) split -> x_r w_r -> mp_allreduce -> + b  (.., out)
//                    w (in, out) split by input rows: w_r = w[r·in/size ..., :]
//
// A column-parallel layer followed by a row-parallel one costs one allreduce
// forward (g after the row layer) and one backward (f before the column layer).
// Split variables keep the unsplit model's names ("fc1/w") and hold exactly
// the slice of the weight the unsplit model would initialize: the full weight
// is drawn with the same per-name seed, then sliced, so a split model starts
// where the unsplit one does.
#pragma once

#include <string>

#include "ops/ops.h"

namespace ft {
namespace nn {

struct TensorParallel {
  int size = 1;  // ranks in the model-parallel group
  int rank = 0;  // this rank's index in it
  bool enabled() const { return size > 1; }
  // Columns [rank·n/size, (rank+1)·n/size) of n; throws if size does not divide n.
  int64_t part(int64_t n, const std::string& what) const;
};

// A variable holding this rank's part (split along `axis`) of a weight of
// `full_shape`, initialized as the unsplit variable then sliced. The variable
// is created under the current name scope with name `name`.
Value split_variable(Graph& g, const std::string& name, const Shape& full_shape, int axis, const Initializer& init,
                     const TensorParallel& tp, DType dtype = DType::F32);

// Identity forward, allreduce of the gradient backward (size 1: x itself).
Value copy_to_parallel(Value x, const TensorParallel& tp);
// Sum over the group forward, identity backward (size 1: x itself).
Value reduce_from_parallel(Value x, const TensorParallel& tp);
// Concatenation of the ranks' last-axis blocks; gradient: this rank's block (size 1: x).
Value gather_from_parallel(Value x, const TensorParallel& tp);

}  // namespace nn
}  // namespace ft
