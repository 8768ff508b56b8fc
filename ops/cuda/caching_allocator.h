// caching_allocator.h — a caching device-memory allocator with size-class free
// lists. Pure C++: the raw allocate/free functions are injected (cudaMalloc /
// cudaFree for a GPU, a bounded host heap in tests), so its logic is testable
// on machines without a GPU.
//
// Requests are rounded up to a size class: multiples of 512 B up to 1 MiB, then
// four classes per power of two (at most 25% waste). free() returns a block to
// its class's free list; allocate() reuses a cached block of exactly that class,
// else asks the raw allocator, and on failure empties the cache and retries once
// before throwing an ft::Error that names the request and what is held.
//
// Blocks are reused in stream order: a block freed after work was queued on the
// compute stream may be handed to the next kernel on that same stream. A caller
// that used a block on another stream must synchronize (or wait on an event)
// before freeing it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace ft {
namespace cuda {

struct AllocatorStats {
  size_t in_use = 0;         // bytes in blocks handed out (class sizes)
  size_t cached = 0;         // bytes in free lists
  size_t peak_in_use = 0;    // high-water mark of in_use
  size_t requested = 0;      // bytes asked for by live allocations (before rounding)
  int64_t allocs = 0;        // allocate() calls that returned a block
  int64_t cache_hits = 0;    // ... served from a free list
  int64_t raw_allocs = 0;    // raw (device) allocations made
  int64_t raw_frees = 0;     // raw frees (empty_cache, retries)
  size_t reserved() const { return in_use + cached; }
};

class CachingAllocator {
 public:
  using RawAlloc = std::function<void*(size_t bytes)>;  // nullptr when out of memory
  using RawFree = std::function<void(void* p)>;
  using MemInfo = std::function<std::string()>;       // e.g. "device free 1.2 GiB of 80 GiB"

  CachingAllocator(std::string name, RawAlloc raw_alloc, RawFree raw_free, MemInfo mem_info = {});
  ~CachingAllocator();  // returns cached blocks; blocks still in use are left to their owners
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // A block of at least `bytes`; nullptr for 0 bytes. Throws ft::Error when the
  // raw allocator fails even after the cache was emptied.
  void* allocate(size_t bytes);
  // Returns a block from allocate() to the cache; nullptr is ignored; a pointer
  // this allocator did not hand out throws.
  void free(void* p);
  // Releases every cached block to the raw allocator.
  void empty_cache();
  AllocatorStats stats() const;
  void reset_peak();
  // Class size of a live block (0 if p is not a live block of this allocator).
  size_t block_size(const void* p) const;

  static size_t size_class(size_t bytes);
  static std::string format_bytes(size_t bytes);  // "1.50 MiB"

 private:
  void release_cache_locked();
  std::string name_;
  RawAlloc raw_alloc_;
  RawFree raw_free_;
  MemInfo mem_info_;
  mutable std::mutex mu_;
  std::map<size_t, std::vector<void*>> free_;          // class size -> cached blocks
  std::unordered_map<const void*, std::pair<size_t, size_t>> live_;  // block -> (class, requested)
  AllocatorStats st_;
};

}  // namespace cuda
}  // namespace ft
