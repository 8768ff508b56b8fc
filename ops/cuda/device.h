// device.h — the CUDA device seam: device discovery, the per-device caching
// allocator, a compute and a communication stream with events between them,
// explicit host<->device copies and a pinned staging buffer for the data loader.
// No CUDA headers here: streams and events are the runtime's opaque pointer types
// (cudaStream_t == CUstream_st*), so any C++ file can include this.
//
// Every function is safe to call on a machine without a GPU or driver:
// device_count() returns 0 and the rest throw ft::Error naming what failed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/core.h"
#include "ops/cuda/caching_allocator.h"

struct CUstream_st;
struct CUevent_st;

namespace ft {
namespace cuda {

using Stream = CUstream_st*;

// ---- devices
// Number of usable CUDA devices; 0 when there is no GPU, no driver, or the
// driver is older than the runtime (the runtime's error is kept for no_device_reason()).
int device_count();
std::string no_device_reason();  // "" when device_count() > 0
struct DeviceInfo {
  std::string name;
  int major = 0, minor = 0;  // compute capability
  int sm_count = 0;
  size_t total_bytes = 0;
  double peak_fp32_tflops = 0;  // from clock and SM count (no tensor cores)
};
DeviceInfo device_info(int device = 0);
void set_device(int device);  // for this host thread
// The thread's device; once use_device() has run, the process's (the thread
// switches to it on first use, so the executor's pool threads follow).
int current_device();
// The device a rank computes on: its node-local rank (the launcher's,
// comm::launcher_placement) modulo the visible devices; 0 without a launcher.
// The executor's "cuda" device and the NCCL communicators both take it.
int rank_device();
void use_device(int device);

// ---- streams and events (of the current device; created on first use)
Stream compute_stream();  // kernels and cuBLAS run here
Stream comm_stream();     // NCCL collectives and gradient copies run here
Stream copy_stream();     // the next step's inputs are uploaded here (Device::upload)

class Event {
 public:
  Event();   // created with timing enabled
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  void record(Stream s);
  void wait_on(Stream s) const;  // work queued on s after this waits for the event
  void synchronize() const;
  bool ready() const;
  float elapsed_ms_since(const Event& start) const;

 private:
  CUevent_st* ev_ = nullptr;
};

// Orders the streams: work queued afterwards on `waiter` starts only after all
// work queued so far on `producer` (an event recorded on producer, waited on by waiter).
void stream_wait(Stream waiter, Stream producer);
inline void comm_waits_for_compute() { stream_wait(comm_stream(), compute_stream()); }
inline void compute_waits_for_comm() { stream_wait(compute_stream(), comm_stream()); }

// Waits for the stream, then reports device-side kernel errors (an index or label
// out of range) recorded since the last check, as an ft::Error naming the op.
void synchronize(Stream s);
void synchronize_compute();

// ---- memory
CachingAllocator& allocator();  // of the current device
void empty_cache();
AllocatorStats memory_stats();

// Owned device memory from the caching allocator (freed back to the cache).
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& o) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* get() const { return p_; }
  size_t bytes() const { return bytes_; }

 private:
  void* p_ = nullptr;
  size_t bytes_ = 0;
  int device_ = 0;
};

// ---- explicit copies (asynchronous on the given stream; default = compute)
void copy_to_device(void* dst, const void* src, size_t bytes, Stream s = nullptr);
void copy_to_host(void* dst, const void* src, size_t bytes, Stream s = nullptr);
void copy_on_device(void* dst, const void* src, size_t bytes, Stream s = nullptr);
void memset_device(void* dst, int value, size_t bytes, Stream s = nullptr);
// `height` rows of `width` bytes from src (rows `spitch` apart) to dst (rows `dpitch` apart), on the device.
void copy_2d_on_device(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t height,
                       Stream s = nullptr);

// A tensor in device memory: `t` is a view (shape, dtype, device pointer) that
// kernels receive; never read t's elements on the host, use to_host().
struct DeviceTensor {
  DeviceBuffer buf;
  Tensor t;
};
DeviceTensor to_device(const Tensor& host, Stream s = nullptr);  // waits for the copy
DeviceTensor empty_device(const Shape& shape, DType dtype);
Tensor to_host(const Tensor& device_view, Stream s = nullptr);   // synchronizes s

// Pinned (page-locked) host staging for the data loader: upload() copies a host
// batch into pinned memory and queues an asynchronous copy to the device on `s`.
// Two halves alternate, so the loader fills one while the other is in flight.
class PinnedStaging {
 public:
  explicit PinnedStaging(size_t bytes);  // capacity of each half
  ~PinnedStaging();
  PinnedStaging(const PinnedStaging&) = delete;
  PinnedStaging& operator=(const PinnedStaging&) = delete;
  void upload(void* device_dst, const void* host_src, size_t bytes, Stream s = nullptr);
  size_t capacity() const { return bytes_; }

 private:
  void* host_[2] = {nullptr, nullptr};
  Event* done_[2] = {nullptr, nullptr};
  bool used_[2] = {false, false};
  int next_ = 0;
  size_t bytes_ = 0;
};

// ---- precision of fp32 GEMMs: TF32 tensor cores (default) or full fp32.
void set_allow_tf32(bool allow);
bool allow_tf32();

}  // namespace cuda
}  // namespace ft
