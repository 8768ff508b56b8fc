// device_comm.h — the communicator for device (CUDA) buffers, reachable from any
// build. With CUDA and NCCL the implementation is comm/nccl/ (NcclCommunicator,
// unique id broadcast over the bootstrap communicator); otherwise
// comm/device_comm_none.cpp says why there is none. CMake compiles exactly one
// of the two, so no caller needs a preprocessor switch.
#pragma once

#include <string>

#include "comm/communicator.h"
#include "core/core.h"

namespace ft {
namespace comm {

// True when this build has NCCL and a CUDA device is usable; otherwise false and
// *why (if given) says which is missing, in a few words.
bool device_comm_available(std::string* why = nullptr);

// A device communicator over the ranks of `bootstrap` (every rank calls it;
// collective). Throws ft::Error when device_comm_available() is false.
CommPtr make_device_comm(CommPtr bootstrap);

// Registers allreduce_bucket for device "cuda" (stream-ordered NCCL allreduce).
// A no-op without NCCL. Idempotent.
void register_device_comm_kernels();

// Resources key under which device-resident allreduce_bucket kernels find it.
inline const char* device_comm_key() { return "comm.cuda"; }
inline void add_device_comm_to_resources(Resources& r, CommPtr c) {
  r.items[device_comm_key()] = std::shared_ptr<void>(std::move(c));
}

}  // namespace comm
}  // namespace ft
