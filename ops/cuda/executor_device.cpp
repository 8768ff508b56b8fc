// cuda/executor_device.cpp — the "cuda" ft::Device (core/device.h) the executor
// places nodes on: device 0's caching allocator for the plan's arena, copies on
// the compute stream (the stream every CUDA kernel runs on), and synchronize().
#include <cuda_runtime_api.h>

#include <string>

#include "core/device.h"
#include "ops/cuda/runtime.h"

namespace ft {
namespace cuda {
namespace {

class CudaDevice final : public ::ft::Device {
 public:
  CudaDevice() {
    if (device_count() == 0)
      throw Error("device: cuda requested but no CUDA device is present (cudaGetDeviceCount: " + no_device_reason() +
                  ")");
    set_device(0);
  }
  const std::string& name() const override { return name_; }
  bool is_host() const override { return false; }
  void* allocate(size_t bytes) override { return allocator().allocate(bytes); }
  void free(void* p) override { allocator().free(p); }
  // From pageable host memory cudaMemcpyAsync returns once the source is staged;
  // the stream synchronize makes "src may be reused" hold for pinned memory too.
  void copy_from_host(void* dst, const void* src, size_t bytes) override {
    if (!bytes) return;
    copy_to_device(dst, src, bytes, compute_stream());
    FT_CUDA_CHECK(cudaStreamSynchronize(compute_stream()));
  }
  void copy_to_host(void* dst, const void* src, size_t bytes) override {
    if (!bytes) return;
    ::ft::cuda::copy_to_host(dst, src, bytes, compute_stream());
    synchronize_compute();  // also reports index/label errors kernels recorded
  }
  void copy_on_device(void* dst, const void* src, size_t bytes) override {
    ::ft::cuda::copy_on_device(dst, src, bytes, compute_stream());
  }
  void synchronize() override { synchronize_compute(); }

 private:
  std::string name_ = "cuda";
};

}  // namespace

void register_device() {
  ::ft::register_device("cuda", [] { return std::unique_ptr<::ft::Device>(new CudaDevice()); });
}

}  // namespace cuda
}  // namespace ft
