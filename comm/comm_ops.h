// comm_ops.h — graph ops that communicate, and their builders.
//
//   allreduce_bucket  variadic inputs (one dtype) -> one output per input, the
//                     allreduce (attr "op": sum | mean | max) of each input across the
//                     communicator; attr "bucket" keys its persistent fusion
//                     buffer. Asynchronous: the executor keeps running other
//                     nodes while it communicates. Not differentiable.
//   send              x -> () i32 token; sends x to attr "peer" with attr "tag".
//   recv              () -> (attr "shape") of attr "dtype", from "peer" / "tag".
//
// The kernels use RunOptions::resources->comm (comm::add_to_resources). A
// communication error fails the run: the backend's completion status becomes
// the executor's error, "op 'allreduce_bucket_3' (allreduce_bucket): <MPI call>
// failed on rank r: ...". A fusion buffer is per (communicator, bucket id):
// two graphs running at the same time on one communicator need distinct ids.
#pragma once

#include <string>
#include <vector>

#include "comm/bucketing.h"
#include "comm/communicator.h"
#include "core/core.h"

namespace ft {
namespace comm {

// Registers the ops above and their CPU kernels (idempotent, thread-safe).
// The builders call it.
void register_ops();

// One async allreduce node over `inputs`; returns the reduced values, in order.
// The node gets a control edge from the graph's previous allreduce_bucket node,
// so every rank (building the same graph) issues its buckets in the same order.
std::vector<Value> allreduce(Graph& g, const std::vector<Value>& inputs, int64_t bucket_id,
                             ReduceOp op = ReduceOp::Mean);

inline std::vector<Value> allreduce_bucket(Graph& g, const std::vector<Value>& inputs, int64_t bucket_id,
                                           ReduceOp op = ReduceOp::Mean) {
  return allreduce(g, inputs, bucket_id, op);
}

// Buckets `values` in order (GradientBucketer with `bucket_bytes`) and adds one
// allreduce node per bucket; returns the reduced values in the order given.
// If `layout` is set (it must be empty and have the threshold you want; it
// then overrides bucket_bytes), the tensors are added to it, so its
// layout_hash() can go to verify_consistent().
std::vector<Value> allreduce_bucketed(Graph& g, const std::vector<Value>& values, size_t bucket_bytes,
                                      ReduceOp op = ReduceOp::Mean, GradientBucketer* layout = nullptr);

// Point-to-point (model-parallel cut edges). send returns a scalar i32 token to
// fetch or use as a control input; recv's shape and dtype must match the send.
Value send(Value x, int peer, int64_t tag);
Value recv(Graph& g, const Shape& shape, DType dtype, int peer, int64_t tag, const std::string& name = "recv");

}  // namespace comm
}  // namespace ft
