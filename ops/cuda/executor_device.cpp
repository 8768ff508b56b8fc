// cuda/executor_device.cpp — the "cuda" ft::Device (core/device.h) the executor
// places nodes on: the caching allocator of the rank's device (its node-local
// rank modulo the devices) for the plan's arena, copies on
// the compute stream (the stream every CUDA kernel runs on), and synchronize().
//
// Host-to-device copies go through a ring of pinned staging buffers: the host
// bytes are copied into a free slot, and the DMA from it is queued on the
// compute stream, ordered with the kernels around it, with an event recorded
// after it. copy_from_host returns at once (the source may be reused: it was
// copied), so a step's input copies never wait for the stream. A slot is
// reused after its event, normally long past; only device-to-host copies wait,
// where a result must reach the host.
//
// upload() (the trainer's next batch, core/input_stager.h) takes the same ring
// but queues the DMA on the copy stream, after the compute work queued so far,
// so it runs while the current step computes; wait_uploads() orders the compute
// stream after it with an event, and the host never waits.
#include <cuda_runtime_api.h>

#include <array>
#include <cstring>
#include <mutex>
#include <string>

#include "core/device.h"
#include "ops/cuda/runtime.h"

namespace ft {
namespace cuda {
namespace {

// Pinned staging slots for host-to-device copies (see the top of the file).
class StagingRing {
 public:
  void upload(void* dst, const void* src, size_t bytes, Stream s) {
    std::lock_guard<std::mutex> l(mu_);
    Slot& slot = slots_[next_];
    next_ = (next_ + 1) % slots_.size();
    if (slot.used) FT_CUDA_CHECK(cudaEventSynchronize(slot.done));  // its last DMA has finished
    if (slot.bytes < bytes) {
      if (slot.host) FT_CUDA_CHECK(cudaFreeHost(slot.host));
      size_t cap = size_t(1) << 20;
      while (cap < bytes) cap *= 2;
      FT_CUDA_CHECK(cudaHostAlloc(&slot.host, cap, cudaHostAllocDefault));
      slot.bytes = cap;
    }
    if (!slot.done) FT_CUDA_CHECK(cudaEventCreateWithFlags(&slot.done, cudaEventDisableTiming));
    std::memcpy(slot.host, src, bytes);
    FT_CUDA_CHECK(cudaMemcpyAsync(dst, slot.host, bytes, cudaMemcpyHostToDevice, s));
    FT_CUDA_CHECK(cudaEventRecord(slot.done, s));
    slot.used = true;
  }

 private:
  struct Slot {
    void* host = nullptr;
    size_t bytes = 0;
    cudaEvent_t done = nullptr;
    bool used = false;
  };
  std::mutex mu_;
  std::array<Slot, 8> slots_{};
  size_t next_ = 0;
};

class CudaDevice final : public ::ft::Device {
 public:
  CudaDevice() {
    if (device_count() == 0)
      throw Error("device: cuda requested but no CUDA device is present (cudaGetDeviceCount: " + no_device_reason() +
                  ")");
    use_device(rank_device());  // one GPU per rank on a node, the one NCCL takes too
  }
  const std::string& name() const override { return name_; }
  bool is_host() const override { return false; }
  void* allocate(size_t bytes) override { return allocator().allocate(bytes); }
  void free(void* p) override { allocator().free(p); }
  // Staged through pinned memory: returns without waiting for the stream.
  void copy_from_host(void* dst, const void* src, size_t bytes) override {
    if (bytes) staging_.upload(dst, src, bytes, compute_stream());
  }
  void copy_to_host(void* dst, const void* src, size_t bytes) override {
    if (!bytes) return;
    ::ft::cuda::copy_to_host(dst, src, bytes, compute_stream());
    synchronize_compute();  // also reports index/label errors kernels recorded
  }
  void copy_on_device(void* dst, const void* src, size_t bytes) override {
    ::ft::cuda::copy_on_device(dst, src, bytes, compute_stream());
  }
  void zero(void* dst, size_t bytes) override { memset_device(dst, 0, bytes, compute_stream()); }
  void synchronize() override { synchronize_compute(); }
  // The next step's inputs: on the copy stream, after the compute work queued so
  // far (the step that last read `dst`), alongside the compute queued later.
  void upload(void* dst, const void* src, size_t bytes) override {
    if (!bytes) return;
    stream_wait(copy_stream(), compute_stream());
    staging_.upload(dst, src, bytes, copy_stream());
  }
  void wait_uploads() override { stream_wait(compute_stream(), copy_stream()); }

 private:
  std::string name_ = "cuda";
  StagingRing staging_;
};

}  // namespace

void register_device() {
  ::ft::register_device("cuda", [] { return std::unique_ptr<::ft::Device>(new CudaDevice()); });
}

}  // namespace cuda
}  // namespace ft
