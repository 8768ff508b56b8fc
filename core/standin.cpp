// standin.cpp — the stand-in device (see standin.h).
#include "core/standin.h"

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "core/device.h"
#include "core/op_registry.h"
#include "core/tensor.h"

namespace ft {
namespace {

class StandinDevice final : public Device {
 public:
  const std::string& name() const override { return name_; }
  bool is_host() const override { return false; }
  bool host_addressable() const override { return true; }
  void* allocate(size_t bytes) override {
    if (bytes == 0) return nullptr;
    const size_t n = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, n);
    if (!p) throw Error("standin: out of memory allocating " + std::to_string(bytes) + " bytes");
    std::unique_lock<std::shared_mutex> l(mu_);
    live_[reinterpret_cast<uintptr_t>(p)] = n;
    return p;
  }
  void free(void* p) override {
    if (!p) return;
    {
      std::unique_lock<std::shared_mutex> l(mu_);
      live_.erase(reinterpret_cast<uintptr_t>(p));
    }
    std::free(p);
  }
  void copy_from_host(void* dst, const void* src, size_t bytes) override {
    expect(dst, true, "copy to the device: destination");
    expect(src, false, "copy to the device: source");
    std::memcpy(dst, src, bytes);
  }
  void copy_to_host(void* dst, const void* src, size_t bytes) override {
    expect(src, true, "copy to the host: source");
    expect(dst, false, "copy to the host: destination");
    std::memcpy(dst, src, bytes);
  }
  void copy_on_device(void* dst, const void* src, size_t bytes) override {
    expect(src, true, "copy on the device: source");
    expect(dst, true, "copy on the device: destination");
    if (dst != src) std::memmove(dst, src, bytes);
  }
  void zero(void* dst, size_t bytes) override {
    expect(dst, true, "zero on the device");
    std::memset(dst, 0, bytes);
  }
  void synchronize() override {}
  // An upload lands only at the next wait_uploads(), as on a GPU's copy queue,
  // whose copies compute may not read before waiting for them: a reader that
  // does not wait sees the old bytes, and the losses in CI differ from cpu.
  void upload(void* dst, const void* src, size_t bytes) override {
    expect(dst, true, "upload to the device: destination");
    expect(src, false, "upload to the device: source");
    const char* b = static_cast<const char*>(src);
    std::lock_guard<std::mutex> l(up_mu_);
    pending_.push_back({dst, std::vector<char>(b, b + bytes)});
  }
  void wait_uploads() override {
    std::lock_guard<std::mutex> l(up_mu_);
    for (const Pending& u : pending_) std::memcpy(u.dst, u.bytes.data(), u.bytes.size());
    pending_.clear();
  }

  bool owns(const void* p) const {
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    std::shared_lock<std::shared_mutex> l(mu_);
    auto it = live_.upper_bound(a);
    if (it == live_.begin()) return false;
    --it;
    return a < it->first + it->second;
  }
  void expect(const void* p, bool on_device, const char* what) const {
    if (owns(p) != on_device)
      throw Error(std::string("standin: ") + what + (on_device ? " is not" : " is") + " stand-in device memory");
  }

 private:
  std::string name_ = "standin";
  mutable std::shared_mutex mu_;
  std::map<uintptr_t, size_t> live_;  // allocation -> bytes
  struct Pending {
    void* dst;
    std::vector<char> bytes;
  };
  std::mutex up_mu_;
  std::vector<Pending> pending_;  // uploads queued since the last wait_uploads()
};

bool is_comm_op(const std::string& op) {
  return op.rfind("mp_", 0) == 0 || op.rfind("allreduce", 0) == 0 || op == "send" || op == "recv";
}

// The cpu kernels of every op, under "standin", each checking where its tensors live.
void mirror_cpu_kernels() {
  OpRegistry& reg = OpRegistry::get();
  for (auto& k : reg.kernels_for("cpu")) {
    const std::string& op = std::get<0>(k);
    const Kernel& cpu = std::get<2>(k);
    if (!cpu.fn || cpu.async_fn || is_comm_op(op)) continue;
    KernelFn fn = cpu.fn;
    reg.add_kernel(op, "standin", std::get<1>(k), Kernel{[fn](KernelCtx& c) {
                     const auto& d = static_cast<const StandinDevice&>(*c.device);
                     for (const Tensor* t : c.inputs)
                       if (t->numel() && !d.owns(t->raw()))
                         throw Error("input is not in stand-in device memory (a missing copy step)");
                     for (const Tensor* t : c.outputs)
                       if (t->numel() && !d.owns(t->raw()))
                         throw Error("output is not in stand-in device memory");
                     fn(c);
                   },
                                                                     {}});
  }
}

}  // namespace

void register_standin_backend() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_backend("standin", [] {
      register_device("standin", [] { return std::unique_ptr<Device>(new StandinDevice()); });
      mirror_cpu_kernels();
    });
  });
}

}  // namespace ft
