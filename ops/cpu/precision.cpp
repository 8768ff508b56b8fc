// cpu/precision.cpp — CPU kernels for reduced precision: `cast` between every
// dtype (f16/bf16 rounded to nearest even, ops/precision.h), reshape views of
// f16/bf16 tensors, and f16/bf16 kernels of the GEMM-class ops (matmul, batched
// matmul, conv2d and its two gradients).
//
// The CPU has no half-precision arithmetic: a half kernel converts its half
// operands to f32, runs the op's f32 kernel (OpenBLAS GEMM, im2col + GEMM) and
// rounds the result to the half dtype. The numbers are those of a GPU computing
// in half with f32 accumulation (up to summation order); the time is the f32
// kernel's plus the conversions. The f32 copies live in scratch buffers that are
// reused across calls, so steady-state steps allocate nothing.
#include <memory>
#include <mutex>

#include "ops/op_util.h"
#include "ops/precision.h"

namespace ft {
namespace ops {
namespace {

constexpr int64_t kGrain = 1 << 15;

bool is_half(DType t) { return t == DType::F16 || t == DType::BF16; }

// Float scratch shared by all half kernels; a buffer is leased for one kernel call.
class Scratch {
 public:
  static Scratch& get() {
    static Scratch s;
    return s;
  }
  // A 64-byte-aligned buffer of at least n floats until release().
  std::vector<float>* acquire(int64_t n, float** aligned) {
    std::unique_ptr<std::vector<float>> b;
    {
      std::lock_guard<std::mutex> l(mu_);
      size_t best = free_.size();
      for (size_t i = 0; i < free_.size(); ++i)
        if (free_[i]->size() >= size_t(n) + 16 && (best == free_.size() || free_[i]->size() < free_[best]->size()))
          best = i;
      if (best == free_.size() && !free_.empty()) best = 0;  // grow the first one
      if (best < free_.size()) {
        b = std::move(free_[best]);
        free_.erase(free_.begin() + long(best));
      }
    }
    if (!b) b = std::make_unique<std::vector<float>>();
    if (b->size() < size_t(n) + 16) b->resize(size_t(n) + 16);
    uintptr_t p = reinterpret_cast<uintptr_t>(b->data());
    *aligned = reinterpret_cast<float*>((p + 63) & ~uintptr_t(63));
    return b.release();
  }
  void release(std::vector<float>* b) {
    std::lock_guard<std::mutex> l(mu_);
    free_.emplace_back(b);
  }

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<std::vector<float>>> free_;
};

template <class F>
void chunked(ThreadPool* pool, int64_t n, F f) {
  if (pool) pool->parallel_for(n, kGrain, f);
  else f(0, n);
}

const uint16_t* bits(const Tensor& t) { return static_cast<const uint16_t*>(t.raw()); }
uint16_t* bits(Tensor& t) { return static_cast<uint16_t*>(t.raw()); }

// ---- cast

double load(const Tensor& x, int64_t i) {
  switch (x.dtype()) {
    case DType::F16: return precision::f16_bits_to_f32(bits(x)[i]);
    case DType::BF16: return precision::bf16_bits_to_f32(bits(x)[i]);
    default: return x.at(i);
  }
}

void cast_kernel(KernelCtx& c) {
  const Tensor& x = c.in(0);
  Tensor& y = c.out(0);
  const DType from = x.dtype(), to = y.dtype();
  const int64_t n = x.numel();
  if (from == to) {
    y.copy_from(x);
    return;
  }
  // The hot paths of autocast: f32 <-> f16/bf16.
  if (from == DType::F32 && is_half(to)) {
    chunked(c.pool, n, [&](int64_t b, int64_t e) { precision::f32_to_half(x.data<float>() + b, to, bits(y) + b, e - b); });
    return;
  }
  if (is_half(from) && to == DType::F32) {
    chunked(c.pool, n, [&](int64_t b, int64_t e) { precision::half_to_f32(bits(x) + b, from, y.data<float>() + b, e - b); });
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    const double v = load(x, i);
    switch (to) {
      case DType::F32: y.data<float>()[i] = float(v); break;
      case DType::F64: y.data<double>()[i] = v; break;
      case DType::I32: y.data<int32_t>()[i] = int32_t(v); break;
      case DType::I64: y.data<int64_t>()[i] = int64_t(v); break;
      // From f64 or an integer the value is rounded to f32 first (exact for |v| < 2^24 integers).
      case DType::F16: bits(y)[i] = precision::f32_to_f16_bits(float(v)); break;
      case DType::BF16: bits(y)[i] = precision::f32_to_bf16_bits(float(v)); break;
    }
  }
}

// ---- half kernels through the f32 kernel

// Runs `f32` on f32 copies of the half inputs and outputs, then rounds the outputs.
void via_f32(const Kernel& f32, KernelCtx& c) {
  Scratch& scratch = Scratch::get();
  std::vector<std::vector<float>*> leases;
  std::vector<Tensor> in32(c.inputs.size()), out32(c.outputs.size());
  KernelCtx k{c.node, {}, {}, c.pool, c.resources, c.step, c.training};
  try {
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      const Tensor& x = *c.inputs[i];
      if (!is_half(x.dtype())) {
        k.inputs.push_back(&x);
        continue;
      }
      float* p = nullptr;
      leases.push_back(scratch.acquire(x.numel(), &p));
      chunked(c.pool, x.numel(), [&](int64_t b, int64_t e) { precision::half_to_f32(bits(x) + b, x.dtype(), p + b, e - b); });
      in32[i] = Tensor::view(p, x.shape(), DType::F32);
      k.inputs.push_back(&in32[i]);
    }
    for (size_t i = 0; i < c.outputs.size(); ++i) {
      Tensor& y = *c.outputs[i];
      if (!is_half(y.dtype())) {
        k.outputs.push_back(&y);
        continue;
      }
      float* p = nullptr;
      leases.push_back(scratch.acquire(y.numel(), &p));
      out32[i] = Tensor::view(p, y.shape(), DType::F32);
      k.outputs.push_back(&out32[i]);
    }
    f32.fn(k);
    for (size_t i = 0; i < c.outputs.size(); ++i) {
      Tensor& y = *c.outputs[i];
      if (!is_half(y.dtype())) continue;
      const float* p = out32[i].data<float>();
      chunked(c.pool, y.numel(), [&](int64_t b, int64_t e) { precision::f32_to_half(p + b, y.dtype(), bits(y) + b, e - b); });
    }
  } catch (...) {
    for (auto* b : leases) scratch.release(b);
    throw;
  }
  for (auto* b : leases) scratch.release(b);
}

}  // namespace

void register_precision_cpu() {
  OpRegistry& r = OpRegistry::get();
  for (DType dt : {DType::F32, DType::F64, DType::I32, DType::I64, DType::F16, DType::BF16})
    r.add_kernel("cast", "cpu", dt, Kernel{cast_kernel, {}});
  for (DType dt : {DType::F16, DType::BF16}) {
    r.add_kernel("reshape", "cpu", dt, Kernel{[](KernelCtx&) {}, {}});
    r.add_kernel("reshape_like", "cpu", dt, Kernel{[](KernelCtx&) {}, {}});
  }
  for (const char* op : {"matmul", "conv2d", "conv2d_grad_input", "conv2d_grad_filter"}) {
    const Kernel* k = r.find_kernel(op, "cpu", DType::F32);
    FT_CHECK(k && k->fn, std::string("register_precision_cpu: no f32 CPU kernel for ") + op);
    const Kernel f32 = *k;
    for (DType dt : {DType::F16, DType::BF16})
      r.add_kernel(op, "cpu", dt, Kernel{[f32](KernelCtx& c) { via_f32(f32, c); }, {}});
  }
}

}  // namespace ops
}  // namespace ft
