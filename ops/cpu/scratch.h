// cpu/scratch.h — reused scratch memory for CPU kernels, so steady-state steps
// allocate (and fault in) nothing.
#pragma once

#include <mutex>
#include <vector>

namespace ft {
namespace ops {

// Per-thread scratch that only grows. Only for use inside one parallel_for chunk,
// which never waits on the pool, so no other kernel can run on this thread meanwhile.
template <class T>
T* thread_scratch(size_t n) {
  thread_local std::vector<T> buf;
  if (buf.size() < n) {
    std::vector<T>().swap(buf);
    buf.resize(n);
  }
  return buf.data();
}

// Buffers that live across a parallel_for (which may run other kernels on the
// waiting thread), so they cannot be thread_local: a free list instead.
template <class T>
class BufferPool {
 public:
  std::vector<T> take(size_t n) {
    std::vector<T> v;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!free_.empty()) {
        v = std::move(free_.back());
        free_.pop_back();
      }
    }
    if (v.size() < n) v.resize(n);
    return v;
  }
  void give(std::vector<T>&& v) {
    std::lock_guard<std::mutex> l(mu_);
    free_.push_back(std::move(v));
  }
  static BufferPool& get() {
    static BufferPool* p = new BufferPool();
    return *p;
  }

 private:
  std::mutex mu_;
  std::vector<std::vector<T>> free_;
};

}  // namespace ops
}  // namespace ft
