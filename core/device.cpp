// device.cpp — the device registry and the built-in "cpu" device (see device.h).
#include "core/device.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "core/tensor.h"

namespace ft {
namespace {

class CpuDevice final : public Device {
 public:
  const std::string& name() const override { return name_; }
  bool is_host() const override { return true; }
  void* allocate(size_t bytes) override {
    if (bytes == 0) return nullptr;
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) throw Error("cpu: out of host memory allocating " + std::to_string(bytes) + " bytes");
    return p;
  }
  void free(void* p) override { std::free(p); }
  void copy_from_host(void* dst, const void* src, size_t bytes) override { copy(dst, src, bytes); }
  void copy_to_host(void* dst, const void* src, size_t bytes) override { copy(dst, src, bytes); }
  void copy_on_device(void* dst, const void* src, size_t bytes) override { copy(dst, src, bytes); }
  void zero(void* dst, size_t bytes) override {
    if (bytes) std::memset(dst, 0, bytes);
  }
  void synchronize() override {}

 private:
  static void copy(void* dst, const void* src, size_t bytes) {
    if (bytes && dst != src) std::memcpy(dst, src, bytes);
  }
  std::string name_ = "cpu";
};

}  // namespace

void Device::zero(void* dst, size_t bytes) {
  if (bytes == 0) return;
  std::vector<char> z(bytes, 0);
  copy_between(cpu_device(), z.data(), *this, dst, bytes);
}

namespace {

struct Registry {
  std::recursive_mutex mu;  // a loader registers its device while load_backend holds the lock
  std::map<std::string, std::function<void()>> loaders;
  std::map<std::string, bool> loaded;
  std::map<std::string, DeviceFactory> factories;
  std::map<std::string, std::unique_ptr<Device>> open;
};

Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: devices may be used at exit
  return *r;
}

}  // namespace

void register_backend(const std::string& name, std::function<void()> loader) {
  Registry& r = registry();
  std::lock_guard<std::recursive_mutex> l(r.mu);
  r.loaders[name] = std::move(loader);
}

bool load_backend(const std::string& name) {
  if (name == "cpu") return true;
  Registry& r = registry();
  std::lock_guard<std::recursive_mutex> l(r.mu);
  auto it = r.loaders.find(name);
  if (it == r.loaders.end()) return r.factories.count(name) > 0;
  if (!r.loaded[name]) {
    r.loaded[name] = true;
    it->second();
  }
  return true;
}

std::vector<std::string> backends() {
  Registry& r = registry();
  std::lock_guard<std::recursive_mutex> l(r.mu);
  std::vector<std::string> v{"cpu"};
  for (const auto& kv : r.loaders) v.push_back(kv.first);
  for (const auto& kv : r.factories)
    if (!r.loaders.count(kv.first)) v.push_back(kv.first);
  return v;
}

void register_device(const std::string& name, DeviceFactory factory) {
  Registry& r = registry();
  std::lock_guard<std::recursive_mutex> l(r.mu);
  r.factories[name] = std::move(factory);
}

Device& cpu_device() {
  static CpuDevice* d = new CpuDevice();
  return *d;
}

Device& device(const std::string& name) {
  if (name == "cpu") return cpu_device();
  if (!load_backend(name))
    throw Error("device: " + name + " requested but this build has no " + name +
                " backend (flowtrain was built without it)");
  Registry& r = registry();
  std::lock_guard<std::recursive_mutex> l(r.mu);
  auto open = r.open.find(name);
  if (open != r.open.end()) return *open->second;
  auto f = r.factories.find(name);
  if (f == r.factories.end()) throw Error("device: the " + name + " backend registered no device named " + name);
  std::unique_ptr<Device> d = f->second();  // throws when not present
  return *r.open.emplace(name, std::move(d)).first->second;
}

namespace {
std::atomic<int64_t> h2d_bytes{0}, d2h_bytes{0};
}  // namespace

DeviceTraffic device_traffic() {
  DeviceTraffic t;
  t.h2d_bytes = h2d_bytes.load();
  t.d2h_bytes = d2h_bytes.load();
  return t;
}

void copy_between(Device& from, const void* src, Device& to, void* dst, size_t bytes) {
  if (bytes == 0) return;
  if (from.is_host() && to.is_host()) {
    cpu_device().copy_on_device(dst, src, bytes);
  } else if (from.is_host()) {
    to.copy_from_host(dst, src, bytes);
    h2d_bytes.fetch_add(int64_t(bytes), std::memory_order_relaxed);
  } else if (to.is_host()) {
    from.copy_to_host(dst, src, bytes);
    d2h_bytes.fetch_add(int64_t(bytes), std::memory_order_relaxed);
  } else if (&from == &to) {
    from.copy_on_device(dst, src, bytes);
  } else {
    throw Error("copy from device " + from.name() + " to device " + to.name() + " is not supported");
  }
}

}  // namespace ft
