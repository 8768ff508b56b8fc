// bucketing.h — GradientBucketer: groups an ordered list of tensors (the order
// backward produces gradients) into fusion buckets by a byte threshold, and
// hashes the layout so ranks can verify they bucket identically.
//
// Rule: buckets are contiguous runs in input order. A tensor starts a new
// bucket when the current one is non-empty and either adding it would exceed
// the threshold or its dtype differs (a bucket is one dtype, one buffer). A
// tensor larger than the threshold gets a bucket of its own; threshold 0 means
// one tensor per bucket.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace ft {
namespace comm {

struct TensorSpec {
  std::string name;
  Shape shape;
  DType dtype = DType::F32;
  size_t bytes = 0;  // 0 = numel(shape) * dtype_size(dtype)
};

struct Bucket {
  int id = 0;
  std::vector<int> members;  // indices into the added tensors, in order
  size_t bytes = 0;
  DType dtype = DType::F32;
};

class GradientBucketer {
 public:
  explicit GradientBucketer(size_t threshold_bytes) : threshold_(threshold_bytes) {}

  // Appends a tensor (in backward order); returns its index.
  int add(TensorSpec t);
  int add(const std::string& name, const Shape& shape, DType dtype, size_t bytes = 0) {
    return add(TensorSpec{name, shape, dtype, bytes});
  }
  const std::vector<TensorSpec>& tensors() const { return tensors_; }
  size_t threshold() const { return threshold_; }

  // The buckets of everything added so far.
  std::vector<Bucket> buckets() const;
  // FNV-1a over the threshold, every tensor's name, shape, dtype and position,
  // and the bucket boundaries: equal on two ranks iff their layouts match.
  uint64_t layout_hash() const;
  // One line per bucket: "bucket 0: 3 tensors, 1.2 MiB, f32: a, b, c".
  std::string describe() const;

 private:
  size_t threshold_;
  std::vector<TensorSpec> tensors_;
};

class Communicator;
// verify_consistent(c, b.layout_hash(), "gradient bucket layout"): throws on
// every rank, naming the first rank whose layout differs from rank 0's.
void verify_layout(Communicator& c, const GradientBucketer& b);

}  // namespace comm
}  // namespace ft
