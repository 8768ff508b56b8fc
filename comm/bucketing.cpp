// bucketing.cpp — the bucketing rule and the layout hash.
#include "comm/bucketing.h"

#include <cstdio>

#include "comm/communicator.h"

namespace ft {
namespace comm {

int GradientBucketer::add(TensorSpec t) {
  if (!fully_defined(t.shape))
    throw Error("GradientBucketer: tensor '" + t.name + "' has shape " + shape_str(t.shape) +
                " with unknown dims; bucketing needs static shapes");
  if (t.bytes == 0) t.bytes = size_t(numel(t.shape)) * dtype_size(t.dtype);
  tensors_.push_back(std::move(t));
  return int(tensors_.size()) - 1;
}

std::vector<Bucket> GradientBucketer::buckets() const {
  std::vector<Bucket> out;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const TensorSpec& t = tensors_[i];
    bool fresh = out.empty() || out.back().dtype != t.dtype || out.back().bytes + t.bytes > threshold_;
    if (fresh) {
      out.emplace_back();
      out.back().id = int(out.size()) - 1;
      out.back().dtype = t.dtype;
    }
    out.back().members.push_back(int(i));
    out.back().bytes += t.bytes;
  }
  return out;
}

namespace {
struct Fnv {
  uint64_t h = 1469598103934665603ull;
  void bytes(const void* p, size_t n) {
    const unsigned char* c = static_cast<const unsigned char*>(p);
    for (size_t i = 0; i < n; ++i) h = (h ^ c[i]) * 1099511628211ull;
  }
  void u64(uint64_t v) { bytes(&v, sizeof v); }
  void str(const std::string& s) {
    u64(s.size());
    bytes(s.data(), s.size());
  }
};
}  // namespace

uint64_t GradientBucketer::layout_hash() const {
  Fnv f;
  f.u64(threshold_);
  f.u64(tensors_.size());
  for (const TensorSpec& t : tensors_) {
    f.str(t.name);
    f.u64(t.shape.size());
    for (int64_t d : t.shape) f.u64(uint64_t(d));
    f.u64(uint64_t(t.dtype));
    f.u64(t.bytes);
  }
  for (const Bucket& b : buckets()) f.u64(b.members.size());
  return f.h;
}

std::string GradientBucketer::describe() const {
  std::string s;
  for (const Bucket& b : buckets()) {
    char head[96];
    std::snprintf(head, sizeof head, "bucket %d: %zu tensors, %.3f MiB, %s:", b.id, b.members.size(),
                  double(b.bytes) / (1024.0 * 1024.0), dtype_name(b.dtype));
    s += head;
    for (size_t i = 0; i < b.members.size(); ++i) s += (i ? ", " : " ") + tensors_[size_t(b.members[i])].name;
    s += "\n";
  }
  return s;
}

void verify_layout(Communicator& c, const GradientBucketer& b) {
  verify_consistent(c, b.layout_hash(), "gradient bucket layout (" + std::to_string(b.tensors().size()) +
                                            " tensors, " + std::to_string(b.buckets().size()) + " buckets)");
}

}  // namespace comm
}  // namespace ft
