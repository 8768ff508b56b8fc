// autocast.h — the mixed-precision graph pass.
//
// autocast(src, dst, half) copies the forward graph `src` into the empty graph
// `dst`, node by node in id order, keeping names, attrs, devices and control
// edges. Each GEMM-class node (autocast_ops(): matmul, batched matmul, conv2d)
// whose float inputs are f32 is rewritten:
//
//   a (f32) -> cast(half) ─┐
//   b (f32) -> cast(half) ─┴─> op in `half` -> cast(f32) -> every consumer
//
// so the GEMM runs in f16/bf16 and everything else — softmax, log-softmax,
// layer norm, cross-entropy, reductions, the loss, elementwise ops — reads f32.
// Variables stay f32 and share their storage with src (the master weights). The
// backward that gradients() builds on dst inherits the precision: the cast's
// gradient casts the incoming f32 gradient to `half`, the GEMM's gradient GEMMs
// run in `half`, and the cast of a weight brings its gradient back to f32.
// Every half value has exactly one consumer, so backward never sums half tensors.
//
// With in_kernel (the form for CPU kernels), a matmul keeps its f32 inputs and
// output and carries attr "half" instead: its kernel rounds the operands and the
// result to `half` itself, the same numbers bit for bit, without the casts' passes
// over memory. Its gradient products carry the attr too and read the incoming
// gradient cast to half once (both products read it), and the executor can still
// fuse the matmul with a following bias and ReLU. conv2d keeps the casts.
#pragma once

#include <string>
#include <vector>

#include "core/core.h"

namespace ft {

// The ops autocast runs in half precision.
const std::vector<std::string>& autocast_ops();

class Autocast {
 public:
  // `half` is DType::F16 or DType::BF16; dst must be empty. Throws ft::Error when
  // a name of src would clash with an inserted cast. in_kernel: see above; only for
  // graphs whose matmuls run on the cpu (the cuda kernels take no attr "half").
  Autocast(Graph& src, Graph& dst, DType half, bool in_kernel = false);
  // The value of dst that stands for `v` of src (for a rewritten GEMM: the f32 cast of its output).
  Value operator()(const Value& v) const;
  int rewritten() const { return rewritten_; }  // GEMM-class nodes now in half

 private:
  Graph* src_;
  std::vector<std::vector<Value>> outs_;  // per src node: its outputs in dst
  std::vector<int> main_;                 // per src node: the dst node with its name
  int rewritten_ = 0;
};

}  // namespace ft
