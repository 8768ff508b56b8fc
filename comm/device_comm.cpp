// device_comm.cpp — device_comm.h: the functions callers use, dispatched to the
// provider the CUDA backend registers when it loads (comm/nccl/, built into
// libflowtrain_cuda.so). Asking loads the backend; a build or an install without
// it says so.
#include "comm/device_comm.h"

#include <mutex>

#include "core/device.h"

namespace ft {
namespace comm {

namespace {

struct ProviderSlot {
  std::mutex mu;
  bool set = false;
  DeviceCommProvider p;
};
ProviderSlot& slot() {
  static ProviderSlot* s = new ProviderSlot();  // never destroyed: used at exit
  return *s;
}

// The registered provider, loading the cuda backend first; nullptr (with why) if none.
const DeviceCommProvider* provider(std::string* why) {
  std::string err;
  bool loaded = false;
  try {
    loaded = load_backend("cuda");
  } catch (const Error& e) {
    err = e.what();
  }
  ProviderSlot& s = slot();
  std::lock_guard<std::mutex> l(s.mu);
  if (s.set) return &s.p;
  if (why) {
    if (!err.empty()) *why = err;
    else if (!loaded) *why = "this build has no CUDA backend with NCCL (configure with the CUDA toolkit and NCCL, -DFT_WITH_CUDA=ON)";
    else *why = "the CUDA backend was built without NCCL";
  }
  return nullptr;
}

}  // namespace

void register_device_comm_provider(DeviceCommProvider p) {
  ProviderSlot& s = slot();
  std::lock_guard<std::mutex> l(s.mu);
  s.p = std::move(p);
  s.set = true;
}

bool device_comm_available(std::string* why) {
  const DeviceCommProvider* p = provider(why);
  return p && p->available(why);
}

DeviceCommPtr make_device_comm(CommPtr bootstrap) {
  std::string why;
  const DeviceCommProvider* p = provider(&why);
  if (!p || !p->available(&why)) throw Error("device communicator: " + why);
  return p->make(std::move(bootstrap));
}

void register_device_comm_kernels() {
  if (const DeviceCommProvider* p = provider(nullptr)) p->register_kernels();
}

}  // namespace comm
}  // namespace ft
