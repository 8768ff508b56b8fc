// device_comm_none.cpp — device_comm.h for builds without CUDA and NCCL.
#include "comm/device_comm.h"

namespace ft {
namespace comm {

namespace {
const char* kWhy = "this build has no NCCL (configure with the CUDA toolkit and NCCL, -DFT_WITH_CUDA=ON)";
}

bool device_comm_available(std::string* why) {
  if (why) *why = kWhy;
  return false;
}

DeviceCommPtr make_device_comm(CommPtr) { throw Error(std::string("device communicator: ") + kWhy); }

void register_device_comm_kernels() {}

}  // namespace comm
}  // namespace ft
