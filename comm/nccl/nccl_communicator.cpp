// nccl_communicator.cpp — NCCL backend: unique-id bootstrap over MPI, the
// device's communication stream, a completion thread for asynchronous calls.
#include "comm/nccl/nccl_communicator.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <thread>

namespace ft {
namespace comm {
namespace {

ncclDataType_t nccl_type(DType t) {
  switch (t) {
    case DType::F32: return ncclFloat32;
    case DType::F64: return ncclFloat64;
    case DType::I32: return ncclInt32;
    case DType::I64: return ncclInt64;
    case DType::F16: return ncclFloat16;
    case DType::BF16: return ncclBfloat16;
  }
  return ncclUint8;
}

ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return ncclSum;
    case ReduceOp::Mean: return ncclAvg;
    case ReduceOp::Max: return ncclMax;
  }
  return ncclSum;
}

}  // namespace

struct NcclCommunicator::Impl {
  CommPtr bootstrap;  // MPI: id exchange and split
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;
  int device = 0, rank = 0, size = 1;
  int* scratch = nullptr;  // device int for barrier

  // completion thread: events in submission order
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<cudaEvent_t, DoneFn>> pending;
  bool stop = false;
  std::thread waiter;
  std::function<void(std::exception_ptr)> on_error;

  void nccl(ncclResult_t r, const char* call) const {
    if (r != ncclSuccess) throw Error(call_error(call, rank, ncclGetErrorString(r)));
  }
  void cuda(cudaError_t e, const char* call) const {
    if (e != cudaSuccess) throw Error(call_error(call, rank, cudaGetErrorString(e)));
  }
  void sync() { cuda(cudaStreamSynchronize(stream), "cudaStreamSynchronize"); }

  void start_waiter() {
    waiter = std::thread([this] {
      std::unique_lock<std::mutex> l(mu);
      for (;;) {
        cv.wait(l, [&] { return stop || !pending.empty(); });
        if (pending.empty()) return;
        auto item = std::move(pending.front());
        pending.pop_front();
        l.unlock();
        cudaError_t e = cudaEventSynchronize(item.first);
        cudaEventDestroy(item.first);
        Status st;
        if (e != cudaSuccess) {
          auto err = std::make_exception_ptr(Error(call_error("cudaEventSynchronize", rank, cudaGetErrorString(e))));
          if (on_error) on_error(err);
          st = Status::from_exception(err);
        }
        item.second(st);
        l.lock();
      }
    });
  }
  // Records an event after the work just enqueued; done() runs once it fired.
  void complete_async(DoneFn done) {
    cudaEvent_t ev;
    cuda(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming), "cudaEventCreate");
    cuda(cudaEventRecord(ev, stream), "cudaEventRecord");
    {
      std::lock_guard<std::mutex> l(mu);
      pending.emplace_back(ev, std::move(done));
    }
    cv.notify_all();
  }
};

NcclCommunicator::NcclCommunicator(CommPtr bootstrap, int device) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.bootstrap = std::move(bootstrap);
  m.rank = m.bootstrap->rank();
  m.size = m.bootstrap->size();
  int ndev = 0;
  m.cuda(cudaGetDeviceCount(&ndev), "cudaGetDeviceCount");
  if (ndev == 0) throw Error(call_error("NcclCommunicator", m.rank, "no CUDA device"));
  if (device < 0) device = cuda::rank_device();  // the executor's device (ops/cuda/executor_device.cpp)
  m.device = device;
  m.cuda(cudaSetDevice(device), "cudaSetDevice");
  ncclUniqueId id;
  if (m.rank == 0) m.nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
  static_assert(sizeof(ncclUniqueId) % 4 == 0, "ncclUniqueId size");
  m.bootstrap->broadcast(&id, int64_t(sizeof id / 4), DType::I32, 0);
  m.nccl(ncclCommInitRank(&m.comm, m.size, id, m.rank), "ncclCommInitRank");
  m.stream = cuda::comm_stream();
  m.cuda(cudaMalloc(reinterpret_cast<void**>(&m.scratch), sizeof(int)), "cudaMalloc");
  m.on_error = [this](std::exception_ptr e) { set_async_error(e); };
  m.start_waiter();
}

NcclCommunicator::NcclCommunicator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
  impl_->on_error = [this](std::exception_ptr e) { set_async_error(e); };
  impl_->start_waiter();
}

NcclCommunicator::~NcclCommunicator() {
  Impl& m = *impl_;
  {
    std::lock_guard<std::mutex> l(m.mu);
    m.stop = true;
  }
  m.cv.notify_all();
  if (m.waiter.joinable()) m.waiter.join();
  if (m.stream) cudaStreamSynchronize(m.stream);
  if (m.scratch) cudaFree(m.scratch);
  if (m.comm) ncclCommDestroy(m.comm);
}

int NcclCommunicator::rank() const { return impl_->rank; }
int NcclCommunicator::size() const { return impl_->size; }
int NcclCommunicator::device() const { return impl_->device; }

void NcclCommunicator::allreduce(void* data, int64_t count, DType dtype, ReduceOp op) {
  check();
  Impl& m = *impl_;
  m.nccl(ncclAllReduce(data, data, size_t(count), nccl_type(dtype), nccl_op(op), m.comm, m.stream), "ncclAllReduce");
  m.sync();
}

void NcclCommunicator::broadcast(void* data, int64_t count, DType dtype, int root) {
  check();
  Impl& m = *impl_;
  m.nccl(ncclBroadcast(data, data, size_t(count), nccl_type(dtype), root, m.comm, m.stream), "ncclBroadcast");
  m.sync();
}

void NcclCommunicator::allgather(const void* send, void* recv, int64_t count, DType dtype) {
  check();
  Impl& m = *impl_;
  m.nccl(ncclAllGather(send, recv, size_t(count), nccl_type(dtype), m.comm, m.stream), "ncclAllGather");
  m.sync();
}

void NcclCommunicator::reduce_scatter(const void* send, void* recv, int64_t count, DType dtype, ReduceOp op) {
  check();
  Impl& m = *impl_;
  m.nccl(ncclReduceScatter(send, recv, size_t(count), nccl_type(dtype), nccl_op(op), m.comm, m.stream),
         "ncclReduceScatter");
  m.sync();
}

void NcclCommunicator::send(const void* data, size_t bytes, int peer, int) {
  check();
  Impl& m = *impl_;
  m.nccl(ncclSend(data, bytes, ncclUint8, peer, m.comm, m.stream), "ncclSend");
  m.sync();
}

void NcclCommunicator::recv(void* data, size_t bytes, int peer, int) {
  check();
  Impl& m = *impl_;
  m.nccl(ncclRecv(data, bytes, ncclUint8, peer, m.comm, m.stream), "ncclRecv");
  m.sync();
}

void NcclCommunicator::barrier() {
  check();
  Impl& m = *impl_;
  m.nccl(ncclAllReduce(m.scratch, m.scratch, 1, ncclInt32, ncclSum, m.comm, m.stream), "ncclAllReduce (barrier)");
  m.sync();
}

std::shared_ptr<Communicator> NcclCommunicator::split(int color, int key) {
  check();
  Impl& m = *impl_;
  auto sub = std::make_unique<Impl>();
  sub->bootstrap = m.bootstrap->split(color, key);
  sub->rank = sub->bootstrap->rank();
  sub->size = sub->bootstrap->size();
  sub->device = m.device;
  m.nccl(ncclCommSplit(m.comm, color, key, &sub->comm, nullptr), "ncclCommSplit");
  sub->stream = m.stream;
  m.cuda(cudaMalloc(reinterpret_cast<void**>(&sub->scratch), sizeof(int)), "cudaMalloc");
  return std::shared_ptr<Communicator>(new NcclCommunicator(std::move(sub)));
}

void NcclCommunicator::allreduce_async(void* data, int64_t count, DType dtype, ReduceOp op, DoneFn done) {
  check();
  Impl& m = *impl_;
  m.nccl(ncclAllReduce(data, data, size_t(count), nccl_type(dtype), nccl_op(op), m.comm, m.stream), "ncclAllReduce");
  m.complete_async(std::move(done));
}

cuda::Stream NcclCommunicator::stream() const { return impl_->stream; }

void NcclCommunicator::allreduce_enqueue(void* data, int64_t count, DType dtype, ReduceOp op) {
  check();
  Impl& m = *impl_;
  m.nccl(ncclAllReduce(data, data, size_t(count), nccl_type(dtype), nccl_op(op), m.comm, m.stream), "ncclAllReduce");
}

void NcclCommunicator::when_done(DoneFn done) { impl_->complete_async(std::move(done)); }

void NcclCommunicator::send_async(const void* data, size_t bytes, int peer, int, DoneFn done) {
  check();
  Impl& m = *impl_;
  m.nccl(ncclSend(data, bytes, ncclUint8, peer, m.comm, m.stream), "ncclSend");
  m.complete_async(std::move(done));
}

void NcclCommunicator::recv_async(void* data, size_t bytes, int peer, int, DoneFn done) {
  check();
  Impl& m = *impl_;
  m.nccl(ncclRecv(data, bytes, ncclUint8, peer, m.comm, m.stream), "ncclRecv");
  m.complete_async(std::move(done));
}

}  // namespace comm
}  // namespace ft
