// nccl_ops.cpp — the device communicator provider over NCCL (device_comm.h), and
// allreduce_bucket for device "cuda". Part of the CUDA backend module.
//
// The kernel orders the communication stream after the work queued so far on
// the compute stream (an event recorded there), packs the bucket's device
// tensors into a persistent device fusion buffer on the communication stream,
// runs ncclAllReduce there, unpacks into the outputs, and orders the compute
// stream after it, so stream-ordered consumers read reduced values. done() runs
// on the communicator's completion thread once that work has finished, so the
// executor's successors (and host readers of fetched outputs) see it complete.
// Compute kernels queued meanwhile overlap the collective.
#include <map>
#include <mutex>

#include "comm/comm_ops.h"
#include "comm/mp_ops.h"
#include "comm/device_comm.h"
#include "comm/nccl/nccl_communicator.h"
#include "comm/stall.h"
#include "ops/cuda/device.h"

namespace ft {
namespace comm {
namespace {

// One persistent device buffer per (communicator, bucket id), grown on demand.
struct DeviceFusion {
  std::mutex mu;
  std::map<std::pair<const void*, int64_t>, cuda::DeviceBuffer> bufs;
  void* get(const void* comm, int64_t key, size_t bytes) {
    std::lock_guard<std::mutex> l(mu);
    cuda::DeviceBuffer& b = bufs[{comm, key}];
    if (b.bytes() < bytes) b = cuda::DeviceBuffer(bytes);
    return b.get();
  }
};
DeviceFusion& fusion() {
  static DeviceFusion f;
  return f;
}

DeviceCommunicator& device_comm_of(const KernelCtx& c) {
  DeviceCommunicator* comm = c.resources ? c.resources->device_comm.get() : nullptr;
  if (!comm)
    throw Error("allreduce_bucket on cuda: no device communicator in RunOptions::resources (comm::add_device_comm_to_resources)");
  return *comm;
}

void nccl_allreduce_kernel(KernelCtx& c, DoneFn done_in) {
  DeviceCommunicator& nccl = device_comm_of(c);
  cuda::set_device(nccl.device());
  const int64_t key = c.attrs().i("bucket");
  Inflight::get().begin(key, "allreduce bucket " + std::to_string(key) + " of step " + std::to_string(c.step) + " (nccl)");
  DoneFn done = [key, d = std::move(done_in)](const Status& s) {
    Inflight::get().end(key);
    d(s);
  };
  const ReduceOp op = parse_reduce_op(c.attrs().s("op"));
  const DType dt = c.in(0).dtype();
  const cuda::Stream s = nccl.stream();
  cuda::stream_wait(s, cuda::compute_stream());  // the gradients are complete on the compute stream
  if (c.inputs.size() == 1) {  // one tensor: reduce in the output buffer itself
    Tensor& out = c.out(0);
    cuda::copy_on_device(out.raw(), c.in(0).raw(), out.bytes(), s);
    nccl.allreduce_enqueue(out.raw(), out.numel(), dt, op);
  } else {
    size_t bytes = 0;
    for (const Tensor* t : c.inputs) bytes += t->bytes();
    char* buf = static_cast<char*>(fusion().get(&nccl, key, bytes));
    size_t off = 0;
    for (const Tensor* t : c.inputs) {
      if (t->bytes()) cuda::copy_on_device(buf + off, t->raw(), t->bytes(), s);
      off += t->bytes();
    }
    nccl.allreduce_enqueue(buf, int64_t(bytes / dtype_size(dt)), dt, op);
    off = 0;
    for (Tensor* t : c.outputs) {
      if (t->bytes()) cuda::copy_on_device(t->raw(), buf + off, t->bytes(), s);
      off += t->bytes();
    }
  }
  cuda::stream_wait(cuda::compute_stream(), s);  // consumers on the compute stream read reduced values
  nccl.when_done(std::move(done));
}

// mp_allreduce and mp_allgather on "cuda": over the mp group's device communicator
// (NCCL, on its stream, after the compute stream's work; blocking, like the host
// kernels, so the stall watch sees it), or, without one, through host copies over
// the mp group's communicator.
Tensor host_copy(const Tensor& d) {
  Tensor h = Tensor::empty(d.shape(), d.dtype());
  cuda::copy_to_host(h.raw(), d.raw(), h.bytes(), cuda::compute_stream());
  cuda::synchronize_compute();
  return h;
}
void to_device_sync(void* dst, const Tensor& h) {
  cuda::copy_to_device(dst, h.raw(), h.bytes(), cuda::compute_stream());
  cuda::synchronize_compute();  // h goes away
}
Communicator& mp_host_comm(const KernelCtx& c) {
  Communicator* m = c.resources ? c.resources->mp_comm.get() : nullptr;
  if (!m) throw Error(c.node.op + " on cuda: no model-parallel communicator in RunOptions::resources");
  return *m;
}
std::string mp_what(const KernelCtx& c) { return c.node.op + " '" + c.node.name + "' of step " + std::to_string(c.step); }

void mp_allreduce_cuda(KernelCtx& c) {
  const Tensor& x = c.in(0);
  Tensor& y = c.out(0);
  if (y.raw() != x.raw()) cuda::copy_on_device(y.raw(), x.raw(), y.bytes(), cuda::compute_stream());
  InflightScope noted(kMpKey + c.node.id, mp_what(c));
  if (DeviceCommunicator* d = c.resources ? c.resources->mp_device_comm.get() : nullptr) {
    cuda::stream_wait(d->stream(), cuda::compute_stream());
    d->allreduce(y.raw(), y.numel(), y.dtype(), ReduceOp::Sum);  // waits for its stream
    return;
  }
  Tensor h = host_copy(y);
  mp_host_comm(c).allreduce(h, ReduceOp::Sum);
  to_device_sync(y.raw(), h);
}

// in (M, n) -> gathered (k, M, n) -> out (M, k, n): block r's rows land at column block r.
void mp_allgather_cuda(KernelCtx& c) {
  const Tensor& x = c.in(0);
  Tensor& y = c.out(0);
  const int64_t n = x.rank() ? x.dim(-1) : 1, m = n ? x.numel() / n : 0;
  const size_t row = size_t(n) * dtype_size(x.dtype());
  DeviceCommunicator* d = c.resources ? c.resources->mp_device_comm.get() : nullptr;
  const int64_t k = d ? d->size() : mp_host_comm(c).size();
  static std::mutex mu;  // one scratch per process, grown as needed, never freed (CUDA may be gone at exit)
  static cuda::DeviceBuffer& scratch = *new cuda::DeviceBuffer();
  std::lock_guard<std::mutex> l(mu);
  if (scratch.bytes() < size_t(k) * x.bytes()) scratch = cuda::DeviceBuffer(size_t(k) * x.bytes());
  {
    InflightScope noted(kMpKey + c.node.id, mp_what(c));
    if (d) {
      cuda::stream_wait(d->stream(), cuda::compute_stream());
      d->allgather(x.raw(), scratch.get(), x.numel(), x.dtype());  // waits for its stream
    } else {
      Tensor hx = host_copy(x), hg = Tensor::empty({k * x.numel()}, x.dtype());
      mp_host_comm(c).allgather(hx.raw(), hg.raw(), x.numel(), x.dtype());
      to_device_sync(scratch.get(), hg);
    }
  }
  for (int64_t r = 0; r < k; ++r)
    cuda::copy_2d_on_device(static_cast<char*>(y.raw()) + size_t(r) * row, size_t(k) * row,
                            static_cast<const char*>(scratch.get()) + size_t(r * m) * row, row, row, size_t(m),
                            cuda::compute_stream());
}

bool nccl_available(std::string* why) {
  if (cuda::device_count() > 0) return true;
  if (why) *why = "no CUDA device (" + cuda::no_device_reason() + ")";
  return false;
}

void register_nccl_kernels() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_ops();
    for (DType t : {DType::F32, DType::F64, DType::I32, DType::I64, DType::F16, DType::BF16})
      OpRegistry::get().add_kernel("allreduce_bucket", "cuda", t, Kernel{{}, nccl_allreduce_kernel});
    register_mp_ops();
    for (DType t : {DType::F32, DType::F64}) {
      OpRegistry::get().add_kernel("mp_allreduce", "cuda", t, Kernel{mp_allreduce_cuda, {}});
      OpRegistry::get().add_kernel("mp_allgather", "cuda", t, Kernel{mp_allgather_cuda, {}});
    }
  });
}

}  // namespace

void register_nccl_provider() {
  DeviceCommProvider p;
  p.available = nccl_available;
  p.make = [](CommPtr bootstrap) -> DeviceCommPtr { return std::make_shared<NcclCommunicator>(std::move(bootstrap)); };
  p.register_kernels = register_nccl_kernels;
  register_device_comm_provider(std::move(p));
}

}  // namespace comm
}  // namespace ft
