// device.h — the device seam of core: what the executor needs from a device
// (memory for its per-device arena, copies, synchronization) and a registry of
// devices by name. No backend headers: a backend (ops/cuda) implements Device
// and registers itself; core only ever sees this interface.
//
// Names: "cpu" is built in (host memory, synchronous). A backend registers a
// *loader* under its name ("standin"); load_backend(name) runs it once, which
// registers the backend's kernels in the OpRegistry (no hardware needed) and
// its device factory. A backend with no loader in the process is looked for as
// a module, libflowtrain_<name>.so (the CUDA backend, "cuda"): loading it
// (dlopen) runs its flowtrain_backend_init(), which registers the loader. The
// module resolves flowtrain's own symbols against the program, so the program
// must export them (CMake: ft_backend_host()); a program that never asks for
// the device never loads the module nor the libraries it needs. device(name) opens the device once and keeps it for the
// process; it throws a one-line ft::Error when the build has no such backend
// or no such device is present.
//
// Copy contract (what the executor relies on):
//   * copy_from_host returns once `src` may be reused by the host (it may still
//     be in flight on the device, ordered before later work on the device);
//   * copy_to_host returns once `dst` holds the data (it waits for the device
//     work queued before it);
//   * copy_on_device is ordered with the device's other work.
//   * synchronize() returns when all work queued on the device has finished.
//   * upload (the next step's inputs, core/input_stager.h) is queued on the
//     device's copy queue after all work queued so far on its compute queue
//     (so it may overwrite a buffer earlier work read) and returns once `src`
//     may be reused; it may run alongside later compute work. wait_uploads()
//     makes compute work queued afterwards wait for every upload queued so far,
//     without the host waiting. A device with one queue needs neither: the
//     defaults are copy_from_host and nothing.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ft {

class Device {
 public:
  virtual ~Device() = default;
  virtual const std::string& name() const = 0;
  // Host memory: kernels and the host may touch it directly, no copies needed.
  virtual bool is_host() const = 0;
  // Host code may read and write its memory (the stand-in device, core/standin.h):
  // true for host devices; false for a GPU, whose memory only its kernels touch.
  virtual bool host_addressable() const { return is_host(); }
  // Device memory of at least `bytes` (64-byte aligned); nullptr for 0 bytes.
  // Throws ft::Error naming the request when the device is out of memory.
  virtual void* allocate(size_t bytes) = 0;
  virtual void free(void* p) = 0;
  virtual void copy_from_host(void* dst, const void* src, size_t bytes) = 0;
  virtual void copy_to_host(void* dst, const void* src, size_t bytes) = 0;
  virtual void copy_on_device(void* dst, const void* src, size_t bytes) = 0;
  // Sets `bytes` at `dst` to zero, ordered with the device's other work. The
  // default copies zeros from the host; a device with a fill of its own overrides it.
  virtual void zero(void* dst, size_t bytes);
  virtual void synchronize() = 0;
  virtual void upload(void* dst, const void* src, size_t bytes) { copy_from_host(dst, src, bytes); }
  virtual void wait_uploads() {}
};

using DeviceFactory = std::function<std::unique_ptr<Device>()>;  // throws ft::Error if unusable

// Registers the loader of backend `name` (called at most once, by load_backend).
void register_backend(const std::string& name, std::function<void()> loader);
// Runs backend `name`'s loader once, loading its module first when it has no
// loader in the process. False if this build has no such backend (no loader, no
// module); true for "cpu" (the CPU kernels come with ops::register_all()).
// Throws a one-line ft::Error when the module is there but does not load.
bool load_backend(const std::string& name);
std::vector<std::string> backends();  // "cpu", every registered backend, every installed module
// Where modules are looked for, in order: $FT_BACKEND_DIR, <program dir>/../lib,
// <program dir>, then the install's library folder.
std::vector<std::string> backend_module_dirs();
// The module file of backend `name` found first in backend_module_dirs(); "" if none.
std::string backend_module_path(const std::string& name);

// Registers the factory of device `name` (a backend's loader calls this).
void register_device(const std::string& name, DeviceFactory factory);
// The device `name`, opened on first use. Throws a one-line ft::Error when the
// build has no such backend or the device is not present.
Device& device(const std::string& name);
Device& cpu_device();

// Copies `bytes` from `src` on device `from` to `dst` on device `to`
// (host<->device, device<->device of one device, host<->host).
void copy_between(Device& from, const void* src, Device& to, void* dst, size_t bytes);

// Device::upload of `bytes` from host `src` to `dst` on `to` (a non-host device), counted
// in device_traffic().
void upload_to(Device& to, void* dst, const void* src, size_t bytes);

// Bytes between the host and non-host devices through copy_between and upload_to
// (the executor's copy steps, Tensor::to_host/copy_from, resident variables,
// staged inputs), since the process started.
struct DeviceTraffic {
  int64_t h2d_bytes = 0, d2h_bytes = 0;
};
DeviceTraffic device_traffic();

}  // namespace ft
