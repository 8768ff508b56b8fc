// device.cpp — CUDA runtime side of device.h: device discovery that tolerates a
// missing GPU or driver, per-device contexts (streams, cuBLAS handle, error word,
// caching allocator), events, copies and pinned staging.
#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "comm/communicator.h"
#include "ops/cuda/runtime.h"

namespace ft {
namespace cuda {

// ---- errors

void throw_cuda(cudaError_t err, const char* what, const char* file, int line) {
  throw Error(std::string(file) + ":" + std::to_string(line) + ": CUDA error " + cudaGetErrorName(err) + " (" +
              cudaGetErrorString(err) + ") in " + what);
}

void throw_cublas(cublasStatus_t st, const char* what, const char* file, int line) {
  throw Error(std::string(file) + ":" + std::to_string(line) + ": cuBLAS error " + cublasGetStatusName(st) + " (" +
              cublasGetStatusString(st) + ") in " + what);
}

// ---- devices

namespace {

struct Discovery {
  int count = 0;
  std::string reason;
};

const Discovery& discovery() {
  static const Discovery d = [] {
    Discovery r;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
      // cudaErrorNoDevice, cudaErrorInsufficientDriver, cudaErrorInitializationError, ...
      r.reason = std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
      cudaGetLastError();  // clear the (non-sticky) error
      n = 0;
    } else if (n == 0) {
      r.reason = "the CUDA runtime reports 0 devices";
    }
    r.count = n;
    return r;
  }();
  return d;
}

void require_device() {
  if (discovery().count == 0) throw Error("cuda: no CUDA device on this machine (" + discovery().reason + ")");
}

std::string mem_info() {
  size_t free_b = 0, total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
    cudaGetLastError();
    return "device memory info unavailable";
  }
  return "device has " + CachingAllocator::format_bytes(free_b) + " free of " + CachingAllocator::format_bytes(total_b);
}

// Everything a device needs, created on first use and kept for the process's
// lifetime (never destroyed: the CUDA runtime may already be torn down at exit).
struct Context {
  std::once_flag streams_once, blas_once, err_once;
  cudaStream_t compute = nullptr, comm = nullptr, copy = nullptr;
  cublasHandle_t blas = nullptr;
  unsigned* err_word = nullptr;
  CachingAllocator* alloc = nullptr;
};

Context& context(int device) {
  require_device();
  static std::mutex mu;
  static std::vector<Context*> ctxs;
  std::lock_guard<std::mutex> l(mu);
  if (ctxs.empty()) ctxs.assign(size_t(discovery().count), nullptr);
  FT_CHECK(device >= 0 && device < int(ctxs.size()), "cuda: device " + std::to_string(device) + " does not exist");
  Context*& c = ctxs[size_t(device)];
  if (!c) {
    c = new Context();
    c->alloc = new CachingAllocator(
        "cuda:" + std::to_string(device),
        [device](size_t bytes) -> void* {
          int prev = 0;
          cudaGetDevice(&prev);
          if (prev != device) cudaSetDevice(device);
          void* p = nullptr;
          cudaError_t e = cudaMalloc(&p, bytes);
          if (prev != device) cudaSetDevice(prev);
          if (e != cudaSuccess) {
            cudaGetLastError();
            return nullptr;
          }
          return p;
        },
        [](void* p) { cudaFree(p); }, mem_info);
  }
  return *c;
}

Context& current() { return context(current_device()); }

void ensure_streams(Context& c) {
  std::call_once(c.streams_once, [&c] {
    FT_CUDA_CHECK(cudaStreamCreateWithFlags(&c.compute, cudaStreamNonBlocking));
    FT_CUDA_CHECK(cudaStreamCreateWithFlags(&c.comm, cudaStreamNonBlocking));
    FT_CUDA_CHECK(cudaStreamCreateWithFlags(&c.copy, cudaStreamNonBlocking));
  });
}

std::atomic<bool> g_allow_tf32{true};

}  // namespace

int device_count() { return discovery().count; }
std::string no_device_reason() { return discovery().reason; }

DeviceInfo device_info(int device) {
  require_device();
  cudaDeviceProp p;
  FT_CUDA_CHECK(cudaGetDeviceProperties(&p, device));
  int khz = 0;
  FT_CUDA_CHECK(cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, device));
  DeviceInfo d;
  d.name = p.name;
  d.major = p.major;
  d.minor = p.minor;
  d.sm_count = p.multiProcessorCount;
  d.total_bytes = p.totalGlobalMem;
  const int cores = (p.major == 8 && p.minor == 0) ? 64 : 128;  // fp32 lanes per SM (A100: 64)
  d.peak_fp32_tflops = 2.0 * cores * d.sm_count * khz * 1e3 / 1e12;
  return d;
}

void set_device(int device) {
  require_device();
  FT_CUDA_CHECK(cudaSetDevice(device));
}

namespace {
std::atomic<int> g_process_device{-1};
}  // namespace

int current_device() {
  require_device();
  if (const int p = g_process_device.load(); p >= 0) {
    thread_local int applied = -1;
    if (applied != p) {
      FT_CUDA_CHECK(cudaSetDevice(p));
      applied = p;
    }
    return p;
  }
  int d = 0;
  FT_CUDA_CHECK(cudaGetDevice(&d));
  return d;
}

int rank_device() {
  const comm::LocalPlacement lp = comm::launcher_placement();
  return lp.source.empty() ? 0 : lp.rank % device_count();
}

void use_device(int device) {
  set_device(device);
  g_process_device = device;
}

Stream compute_stream() {
  Context& c = current();
  ensure_streams(c);
  return c.compute;
}

Stream comm_stream() {
  Context& c = current();
  ensure_streams(c);
  return c.comm;
}

Stream copy_stream() {
  Context& c = current();
  ensure_streams(c);
  return c.copy;
}

cublasHandle_t cublas() {
  Context& c = current();
  ensure_streams(c);
  std::call_once(c.blas_once, [&c] {
    FT_CUBLAS_CHECK(cublasCreate(&c.blas));
    FT_CUBLAS_CHECK(cublasSetStream(c.blas, c.compute));
  });
  return c.blas;
}

unsigned* device_error_word() {
  Context& c = current();
  std::call_once(c.err_once, [&c] {
    FT_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&c.err_word), sizeof(unsigned)));
    FT_CUDA_CHECK(cudaMemset(c.err_word, 0, sizeof(unsigned)));
  });
  return c.err_word;
}

// ---- events and streams

Event::Event() {
  require_device();
  FT_CUDA_CHECK(cudaEventCreate(&ev_));
}

Event::~Event() {
  if (ev_) cudaEventDestroy(ev_);
}

void Event::record(Stream s) { FT_CUDA_CHECK(cudaEventRecord(ev_, s)); }
void Event::wait_on(Stream s) const { FT_CUDA_CHECK(cudaStreamWaitEvent(s, ev_, 0)); }
void Event::synchronize() const { FT_CUDA_CHECK(cudaEventSynchronize(ev_)); }

bool Event::ready() const {
  cudaError_t e = cudaEventQuery(ev_);
  if (e == cudaErrorNotReady) return false;
  FT_CUDA_CHECK(e);
  return true;
}

float Event::elapsed_ms_since(const Event& start) const {
  float ms = 0;
  FT_CUDA_CHECK(cudaEventElapsedTime(&ms, start.ev_, ev_));
  return ms;
}

void stream_wait(Stream waiter, Stream producer) {
  cudaEvent_t ev;
  FT_CUDA_CHECK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
  FT_CUDA_CHECK(cudaEventRecord(ev, producer));
  FT_CUDA_CHECK(cudaStreamWaitEvent(waiter, ev, 0));
  FT_CUDA_CHECK(cudaEventDestroy(ev));  // released once the recorded work completes
}

void synchronize(Stream s) {
  FT_CUDA_CHECK(cudaStreamSynchronize(s));
  unsigned* w = device_error_word();
  unsigned bits = 0;
  FT_CUDA_CHECK(cudaMemcpy(&bits, w, sizeof bits, cudaMemcpyDeviceToHost));
  if (bits == 0) return;
  FT_CUDA_CHECK(cudaMemset(w, 0, sizeof bits));
  std::string what;
  if (bits & kGatherIndexOutOfRange) what += " gather: an index is out of range [0, V);";
  if (bits & kGatherGradIndexOutOfRange) what += " gather_grad: an index is out of range [0, V);";
  if (bits & kLabelOutOfRange) what += " sparse_softmax_cross_entropy: a label is >= the number of classes C;";
  throw Error("cuda kernel reported:" + what + " (the offending rows were skipped)");
}

void synchronize_compute() { synchronize(compute_stream()); }

// ---- memory

CachingAllocator& allocator() { return *current().alloc; }
void empty_cache() { allocator().empty_cache(); }
AllocatorStats memory_stats() { return allocator().stats(); }

DeviceBuffer::DeviceBuffer(size_t bytes) : bytes_(bytes), device_(current_device()) {
  p_ = context(device_).alloc->allocate(bytes);
}

DeviceBuffer::~DeviceBuffer() {
  if (p_) context(device_).alloc->free(p_);
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& o) noexcept : p_(o.p_), bytes_(o.bytes_), device_(o.device_) {
  o.p_ = nullptr;
  o.bytes_ = 0;
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    if (p_) context(device_).alloc->free(p_);
    p_ = o.p_;
    bytes_ = o.bytes_;
    device_ = o.device_;
    o.p_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

namespace {
Stream or_compute(Stream s) { return s ? s : compute_stream(); }
}  // namespace

void copy_to_device(void* dst, const void* src, size_t bytes, Stream s) {
  if (bytes) FT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, or_compute(s)));
}
void copy_to_host(void* dst, const void* src, size_t bytes, Stream s) {
  if (bytes) FT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, or_compute(s)));
}
void copy_on_device(void* dst, const void* src, size_t bytes, Stream s) {
  if (bytes) FT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, or_compute(s)));
}
void copy_2d_on_device(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t height,
                       Stream s) {
  if (width && height)
    FT_CUDA_CHECK(cudaMemcpy2DAsync(dst, dpitch, src, spitch, width, height, cudaMemcpyDeviceToDevice, or_compute(s)));
}
void memset_device(void* dst, int value, size_t bytes, Stream s) {
  if (bytes) FT_CUDA_CHECK(cudaMemsetAsync(dst, value, bytes, or_compute(s)));
}

DeviceTensor empty_device(const Shape& shape, DType dtype) {
  DeviceTensor d;
  const size_t bytes = size_t(numel(shape)) * dtype_size(dtype);
  d.buf = DeviceBuffer(bytes);
  d.t = Tensor::view(d.buf.get(), shape, dtype);
  return d;
}

DeviceTensor to_device(const Tensor& host, Stream s) {
  DeviceTensor d = empty_device(host.shape(), host.dtype());
  copy_to_device(d.buf.get(), host.raw(), host.bytes(), s);
  FT_CUDA_CHECK(cudaStreamSynchronize(or_compute(s)));  // the host buffer may go away
  return d;
}

Tensor to_host(const Tensor& dev, Stream s) {
  Tensor h = Tensor::empty(dev.shape(), dev.dtype());
  copy_to_host(h.raw(), dev.raw(), h.bytes(), s);
  synchronize(or_compute(s));
  return h;
}

// ---- pinned staging

PinnedStaging::PinnedStaging(size_t bytes) : bytes_(bytes) {
  require_device();
  for (int i = 0; i < 2; ++i) {
    FT_CUDA_CHECK(cudaHostAlloc(&host_[i], bytes ? bytes : 1, cudaHostAllocDefault));
    done_[i] = new Event();
  }
}

PinnedStaging::~PinnedStaging() {
  for (int i = 0; i < 2; ++i) {
    if (done_[i]) {
      if (used_[i]) {
        try {
          done_[i]->synchronize();  // an in-flight copy may still read the pinned half
        } catch (const Error&) {
        }
      }
      delete done_[i];
    }
    if (host_[i]) cudaFreeHost(host_[i]);
  }
}

void PinnedStaging::upload(void* device_dst, const void* host_src, size_t bytes, Stream s) {
  if (bytes > bytes_)
    throw Error("cuda: PinnedStaging::upload of " + CachingAllocator::format_bytes(bytes) + " exceeds its capacity of " +
                CachingAllocator::format_bytes(bytes_));
  const int i = next_;
  if (used_[i]) done_[i]->synchronize();  // the previous copy from this half has finished
  std::memcpy(host_[i], host_src, bytes);
  Stream st = or_compute(s);
  FT_CUDA_CHECK(cudaMemcpyAsync(device_dst, host_[i], bytes, cudaMemcpyHostToDevice, st));
  done_[i]->record(st);
  used_[i] = true;
  next_ = 1 - i;
}

// ---- GEMM precision

void set_allow_tf32(bool allow) { g_allow_tf32 = allow; }
bool allow_tf32() { return g_allow_tf32; }

}  // namespace cuda
}  // namespace ft
