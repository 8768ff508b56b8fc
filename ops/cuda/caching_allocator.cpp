// caching_allocator.cpp — size classes, free lists, statistics and the
// out-of-memory error of the caching allocator.
#include "ops/cuda/caching_allocator.h"

#include <cstdio>

#include "core/tensor.h"

namespace ft {
namespace cuda {

namespace {
constexpr size_t kSmallStep = 512;
constexpr size_t kSmallLimit = size_t(1) << 20;
}  // namespace

CachingAllocator::CachingAllocator(std::string name, RawAlloc raw_alloc, RawFree raw_free, MemInfo mem_info)
    : name_(std::move(name)), raw_alloc_(std::move(raw_alloc)), raw_free_(std::move(raw_free)),
      mem_info_(std::move(mem_info)) {}

CachingAllocator::~CachingAllocator() {
  std::lock_guard<std::mutex> l(mu_);
  release_cache_locked();
}

size_t CachingAllocator::size_class(size_t bytes) {
  if (bytes == 0) return 0;
  if (bytes <= kSmallLimit) return (bytes + kSmallStep - 1) / kSmallStep * kSmallStep;
  // Four classes per power of two: step = 2^(floor(log2(bytes - 1)) - 2).
  size_t top = 1;
  while (top < bytes) top <<= 1;  // smallest power of two >= bytes
  const size_t step = top / 8;    // classes top/2 + k*top/8, k = 1..4
  return (bytes + step - 1) / step * step;
}

std::string CachingAllocator::format_bytes(size_t b) {
  char buf[64];
  const double v = double(b);
  if (b < 1024) std::snprintf(buf, sizeof buf, "%zu B", b);
  else if (b < (size_t(1) << 20)) std::snprintf(buf, sizeof buf, "%.2f KiB", v / 1024.0);
  else if (b < (size_t(1) << 30)) std::snprintf(buf, sizeof buf, "%.2f MiB", v / double(1 << 20));
  else std::snprintf(buf, sizeof buf, "%.2f GiB", v / double(1 << 30));
  return buf;
}

void* CachingAllocator::allocate(size_t bytes) {
  if (bytes == 0) return nullptr;
  const size_t cls = size_class(bytes);
  std::lock_guard<std::mutex> l(mu_);
  void* p = nullptr;
  auto it = free_.find(cls);
  if (it != free_.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
    st_.cached -= cls;
    ++st_.cache_hits;
  } else {
    p = raw_alloc_(cls);
    if (!p && st_.cached > 0) {  // give the cache back and retry once
      release_cache_locked();
      p = raw_alloc_(cls);
    }
    if (!p) {
      std::string msg = name_ + ": out of memory allocating " + format_bytes(bytes) + " (class " +
                        format_bytes(cls) + "); this allocator holds " + format_bytes(st_.in_use) + " in " +
                        std::to_string(live_.size()) + " live blocks (peak " + format_bytes(st_.peak_in_use) +
                        "), cache was emptied";
      if (mem_info_) msg += "; " + mem_info_();
      throw Error(msg);
    }
    ++st_.raw_allocs;
  }
  live_[p] = {cls, bytes};
  st_.in_use += cls;
  st_.requested += bytes;
  st_.peak_in_use = std::max(st_.peak_in_use, st_.in_use);
  ++st_.allocs;
  return p;
}

void CachingAllocator::free(void* p) {
  if (!p) return;
  std::lock_guard<std::mutex> l(mu_);
  auto it = live_.find(p);
  if (it == live_.end()) throw Error(name_ + ": free of a pointer this allocator did not hand out");
  const size_t cls = it->second.first;
  st_.in_use -= cls;
  st_.requested -= it->second.second;
  live_.erase(it);
  free_[cls].push_back(p);
  st_.cached += cls;
}

void CachingAllocator::release_cache_locked() {
  for (auto& kv : free_) {
    for (void* p : kv.second) {
      raw_free_(p);
      ++st_.raw_frees;
    }
  }
  free_.clear();
  st_.cached = 0;
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> l(mu_);
  release_cache_locked();
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> l(mu_);
  return st_;
}

void CachingAllocator::reset_peak() {
  std::lock_guard<std::mutex> l(mu_);
  st_.peak_in_use = st_.in_use;
}

size_t CachingAllocator::block_size(const void* p) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = live_.find(p);
  return it == live_.end() ? 0 : it->second.first;
}

}  // namespace cuda
}  // namespace ft
