// standin.h — the stand-in device: host memory behind the Device interface.
//
// `device: standin` runs the whole device path of the executor and the trainer
// without a GPU: placement, one arena per device, copy steps at every crossing,
// variables and optimizer state resident on the device, fetches left there, and
// the update applied there. Its kernels are the CPU kernels (the same numbers as
// `device: cpu`, bit for bit), registered under "standin" when the backend
// loads, each checking that its inputs and outputs live in stand-in memory: a
// kernel handed host memory, or host code handed a stand-in tensor where a GPU
// would need a copy, is an error naming the node. Copies are real memcpys and
// are counted (device_traffic(), core/device.h); an upload of the next step's
// inputs lands only when the device is told to wait for it (wait_uploads), as a
// GPU's copy queue would order it. Communication kernels are not
// mirrored: collectives stage through the host, as MPI does for a GPU without
// NCCL. The update (the optimizers, loss scaling, clipping, the finiteness
// check) runs through the device update kernels registered for "standin"
// (optim/device_update.h), the path a GPU's fused kernels take; on the stand-in
// they are the host formulas on its memory, which is host_addressable().
#pragma once

namespace ft {

// Registers the "standin" backend (kernels mirrored when it loads). Idempotent;
// ops::register_all() calls it.
void register_standin_backend();

}  // namespace ft
