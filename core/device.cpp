// device.cpp — the device registry and the built-in "cpu" device (see device.h).
#include "core/device.h"

#include <dlfcn.h>
#include <unistd.h>

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
  std::map<std::string, std::string> module_errors;  // name -> why its module did not load
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

namespace {

bool module_name_ok(const std::string& name) {
  if (name.empty() || name == "cpu") return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

std::string program_dir() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "";
  std::string p(buf, size_t(n));
  const size_t slash = p.rfind('/');
  return slash == std::string::npos ? "" : p.substr(0, slash);
}

}  // namespace

std::vector<std::string> backend_module_dirs() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("FT_BACKEND_DIR"); env && *env) dirs.emplace_back(env);
  const std::string exe = program_dir();
  if (!exe.empty()) {
    dirs.push_back(exe + "/../lib");
    dirs.push_back(exe);
  }
#ifdef FT_BACKEND_INSTALL_DIR
  dirs.emplace_back(FT_BACKEND_INSTALL_DIR);
#endif
  return dirs;
}

std::string backend_module_path(const std::string& name) {
  if (!module_name_ok(name)) return "";
  for (const std::string& d : backend_module_dirs()) {
    std::string p = d + "/libflowtrain_" + name + ".so";
    if (::access(p.c_str(), R_OK) == 0) return p;
  }
  return "";
}

namespace {

// Loads libflowtrain_<name>.so and runs its flowtrain_backend_init(), which
// registers the backend's kernels and device factory with this process's
// registries. False when no such module is installed; throws when one is but
// does not load (a missing library, a program that does not export flowtrain's
// symbols).
bool load_module(Registry& r, const std::string& name) {
  auto err = r.module_errors.find(name);
  if (err != r.module_errors.end()) throw Error(err->second);
  const std::string path = backend_module_path(name);
  if (path.empty()) return false;
  auto fail = [&](const std::string& why) -> bool {
    r.module_errors[name] = "device: the " + name + " backend " + path + " does not load: " + why;
    throw Error(r.module_errors[name]);
  };
  void* h = ::dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!h) {
    const char* e = ::dlerror();
    return fail(e ? e : "dlopen failed");
  }
  using Init = void (*)();
  auto init = reinterpret_cast<Init>(::dlsym(h, "flowtrain_backend_init"));
  if (!init) return fail("it has no flowtrain_backend_init");
  r.loaders[name] = init;
  return true;
}

}  // namespace

bool load_backend(const std::string& name) {
  if (name == "cpu") return true;
  Registry& r = registry();
  std::lock_guard<std::recursive_mutex> l(r.mu);
  auto it = r.loaders.find(name);
  if (it == r.loaders.end()) {
    if (r.factories.count(name)) return true;
    if (!load_module(r, name)) return false;
    it = r.loaders.find(name);
  }
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
  for (const char* m : {"cuda"})  // modules this project builds, where installed
    if (!r.loaders.count(m) && !r.factories.count(m) && !backend_module_path(m).empty()) v.emplace_back(m);
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
  if (!load_backend(name)) {
    std::string looked;
    if (module_name_ok(name))
      for (const std::string& d : backend_module_dirs()) looked += (looked.empty() ? "" : ", ") + d;
    throw Error("device: " + name + " requested but this build has no " + name + " backend (" +
                (looked.empty() ? std::string("flowtrain was built without it")
                                : "no libflowtrain_" + name + ".so in " + looked) +
                ")");
  }
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

void upload_to(Device& to, void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  if (to.is_host()) throw Error("upload_to: device " + to.name() + " is host memory (nothing to upload)");
  to.upload(dst, src, bytes);
  h2d_bytes.fetch_add(int64_t(bytes), std::memory_order_relaxed);
}

}  // namespace ft
