// device_comm.h — the communicator for device (CUDA) buffers, reachable from any
// build. With CUDA and NCCL the implementation is comm/nccl/ (NcclCommunicator,
// unique id broadcast over the bootstrap communicator); otherwise
// comm/device_comm_none.cpp says why there is none. CMake compiles exactly one
// of the two, so no caller needs a preprocessor switch.
#pragma once

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

// True when this build has NCCL and a CUDA device is usable; otherwise false and
// *why (if given) says which is missing, in a few words.
bool device_comm_available(std::string* why = nullptr);

// A device communicator over the ranks of `bootstrap` (every rank calls it;
// collective). Throws ft::Error when device_comm_available() is false.
DeviceCommPtr make_device_comm(CommPtr bootstrap);

// Registers allreduce_bucket for device "cuda" (stream-ordered NCCL allreduce).
// A no-op without NCCL. Idempotent.
void register_device_comm_kernels();

// Sets Resources::device_comm, what device-resident allreduce_bucket kernels use.
inline void add_device_comm_to_resources(Resources& r, DeviceCommPtr c) { r.device_comm = std::move(c); }

}  // namespace comm
}  // namespace ft
