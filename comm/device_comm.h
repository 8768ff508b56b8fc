// device_comm.h — the communicator for device (CUDA) buffers, reachable from any
// build. The implementation is comm/nccl/ (NcclCommunicator, unique id broadcast
// over the bootstrap communicator), compiled into the CUDA backend module
// (libflowtrain_cuda.so), which registers it as the provider when it loads.
// These functions load the backend on first use (core/device.h load_backend);
// without it they say why there is none, so no caller needs a preprocessor switch.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "comm/communicator.h"
#include "core/core.h"
#include "ops/cuda/device.h"  // cuda::Stream only (an opaque pointer in every build)

namespace ft {
namespace comm {

// A Communicator whose buffers are device pointers, with stream-ordered use
// for kernels that queue work without waiting (allreduce_bucket on "cuda").
class DeviceCommunicator : public Communicator {
 public:
  virtual int device() const = 0;  // the CUDA device its collectives run on
  // The stream collectives run on.
  virtual cuda::Stream stream() const = 0;
  // An allreduce queued on stream() without waiting for it.
  virtual void allreduce_enqueue(void* data, int64_t count, DType dtype, ReduceOp op) = 0;
  // done() on a completion thread once everything queued on stream() so far
  // finished; its status says whether it did without error.
  virtual void when_done(DoneFn done) = 0;
};
using DeviceCommPtr = std::shared_ptr<DeviceCommunicator>;

// What the CUDA backend registers (comm/nccl/nccl_ops.cpp).
struct DeviceCommProvider {
  std::function<bool(std::string* why)> available;
  std::function<DeviceCommPtr(CommPtr bootstrap)> make;
  std::function<void()> register_kernels;
};
void register_device_comm_provider(DeviceCommProvider p);

// True when this build has NCCL and a CUDA device is usable; otherwise false and
// *why (if given) says which is missing, in a few words.
bool device_comm_available(std::string* why = nullptr);

// A device communicator over the ranks of `bootstrap` (every rank calls it;
// collective). Throws ft::Error when device_comm_available() is false.
DeviceCommPtr make_device_comm(CommPtr bootstrap);

// Registers allreduce_bucket (stream-ordered NCCL allreduce), mp_allreduce and
// mp_allgather for device "cuda".
// A no-op without NCCL. Idempotent. Loads the cuda backend, like the two above.
void register_device_comm_kernels();

// Sets Resources::device_comm, what device-resident allreduce_bucket kernels use.
inline void add_device_comm_to_resources(Resources& r, DeviceCommPtr c) { r.device_comm = std::move(c); }
// Sets Resources::mp_device_comm: a device communicator over the model-parallel
// group, what the cuda mp_allreduce and mp_allgather kernels use (without it they
// stage through the host over Resources::mp_comm).
inline void add_mp_device_comm_to_resources(Resources& r, DeviceCommPtr c) { r.mp_device_comm = std::move(c); }

}  // namespace comm
}  // namespace ft
