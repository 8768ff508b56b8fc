// nccl_communicator.h — Communicator over NCCL: buffers are CUDA device
// pointers, collectives run on the device's communication stream
// (cuda::comm_stream(), shared with the communicators split from this one).
// Built only when CUDA and NCCL are found (FT_HAVE_NCCL; comm/nccl/*.cpp).
//
// Bootstrap: rank 0 creates the ncclUniqueId and broadcasts it over the
// bootstrap communicator (MPI), then every rank calls ncclCommInitRank.
// Blocking calls synchronize the stream before returning; *_async calls record
// an event and a completion thread calls done() once the event has fired, with
// a failed status when the event reports a CUDA error.
// send/recv ignore the tag: NCCL orders point-to-point messages per peer.
#pragma once

#include <memory>

#include "comm/device_comm.h"
#include "ops/cuda/device.h"

namespace ft {
namespace comm {

class NcclCommunicator : public DeviceCommunicator {
 public:
  // device < 0: cuda::rank_device(), the node-local rank modulo the visible devices (the executor's).
  NcclCommunicator(CommPtr bootstrap, int device = -1);
  ~NcclCommunicator() override;

  int rank() const override;
  int size() const override;
  std::string backend() const override { return "nccl"; }
  int device() const override;
  using Communicator::allgather;
  using Communicator::allreduce;
  using Communicator::broadcast;
  using Communicator::reduce_scatter;

  void allreduce(void* data, int64_t count, DType dtype, ReduceOp op) override;
  void broadcast(void* data, int64_t count, DType dtype, int root) override;
  void allgather(const void* send, void* recv, int64_t count, DType dtype) override;
  void reduce_scatter(const void* send, void* recv, int64_t count, DType dtype, ReduceOp op) override;
  void send(const void* data, size_t bytes, int peer, int tag) override;
  void recv(void* data, size_t bytes, int peer, int tag) override;
  void barrier() override;
  std::shared_ptr<Communicator> split(int color, int key) override;

  void allreduce_async(void* data, int64_t count, DType dtype, ReduceOp op, DoneFn done) override;

  // Stream-ordered use (the device allreduce_bucket kernel, comm/nccl/nccl_ops.cpp):
  // the stream collectives run on; an allreduce queued on it without waiting; and
  // done() on the completion thread once everything queued on it so far finished.
  cuda::Stream stream() const override;
  void allreduce_enqueue(void* data, int64_t count, DType dtype, ReduceOp op) override;
  void when_done(DoneFn done) override;
  void send_async(const void* data, size_t bytes, int peer, int tag, DoneFn done) override;
  void recv_async(void* data, size_t bytes, int peer, int tag, DoneFn done) override;

  struct Impl;

 private:
  explicit NcclCommunicator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Registers NCCL as the device communicator provider (device_comm.h); the CUDA
// backend's initialization calls it (ops/cuda/link/init.cpp).
void register_nccl_provider();

}  // namespace comm
}  // namespace ft
