// cuda_gemm_bench.cpp — TFLOP/s of flowtrain's CUDA matmul kernel (the registered
// "matmul" kernel, called as the executor would) next to a direct cublasGemmEx
// call measured in the same run, per dtype: fp32 (strict), tf32, bf16, fp16; plus
// the device's spec peak where known (A100 / H100 class). Without a GPU it prints
// why and exits 0.
//
//   build/bin/cuda_gemm_bench [--sizes 1024,2048,4096,8192] [--min-ms 300]
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "ops/cuda/cuda.h"
#include "ops/ops.h"

using namespace ft;

namespace {

struct Mode {
  const char* name;
  DType dt;
  bool tf32;
  cudaDataType_t type;
  cublasComputeType_t compute;
};

// Dense tensor-core / CUDA-core spec peaks (TFLOP/s) of the data-center parts.
double spec_peak(const cuda::DeviceInfo& d, const Mode& m) {
  const bool a100 = d.major == 8 && d.minor == 0, h100 = d.major == 9;
  if (!a100 && !h100) return 0;
  const double fp32 = d.peak_fp32_tflops;  // from SM count and clock
  if (m.dt == DType::F32 && !m.tf32) return fp32;
  if (m.tf32) return a100 ? fp32 * 8 : fp32 * 7.4;
  return a100 ? fp32 * 16 : fp32 * 14.8;  // bf16 / fp16
}

template <class F> double time_ms(F f, double min_ms) {
  cuda::Event start, stop;
  f();  // warm-up (cuBLAS heuristics, allocator)
  f();
  cuda::synchronize_compute();
  int iters = 1;
  for (;;) {
    start.record(cuda::compute_stream());
    for (int i = 0; i < iters; ++i) f();
    stop.record(cuda::compute_stream());
    stop.synchronize();
    const double ms = stop.elapsed_ms_since(start);
    if (ms >= min_ms || iters >= (1 << 14)) return ms / iters;
    iters *= ms > 0 ? std::max(2, int(min_ms / ms) + 1) : 16;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> sizes = {1024, 2048, 4096, 8192};
  double min_ms = 300;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--sizes") && i + 1 < argc) {
      sizes.clear();
      std::stringstream ss(argv[++i]);
      std::string s;
      while (std::getline(ss, s, ',')) sizes.push_back(std::atoll(s.c_str()));
    } else if (!std::strcmp(argv[i], "--min-ms") && i + 1 < argc) {
      min_ms = std::atof(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--sizes 1024,2048,4096] [--min-ms 300]\n", argv[0]);
      return 2;
    }
  }
  if (cuda::device_count() == 0) {
    std::printf("cuda_gemm_bench: skipped, no CUDA device on this machine (%s)\n", cuda::no_device_reason().c_str());
    return 0;
  }
  try {
    cuda::register_kernels();
    const cuda::DeviceInfo info = cuda::device_info(0);
    std::printf("# device: %s (sm_%d%d, %d SMs, %.1f GiB), fp32 CUDA-core peak %.1f TFLOP/s\n", info.name.c_str(),
                info.major, info.minor, info.sm_count, double(info.total_bytes) / double(1 << 30),
                info.peak_fp32_tflops);
    std::printf("# C (M, N) = A (M, K) x B (K, N), row-major, M = N = K; mean over >= %.0f ms of back-to-back calls\n", min_ms);
    std::printf("%6s %6s %12s %12s %8s %10s %8s\n", "size", "dtype", "flowtrain", "cuBLAS", "ratio", "spec-peak",
                "of-peak");
    const Mode modes[] = {
        {"fp32", DType::F32, false, CUDA_R_32F, CUBLAS_COMPUTE_32F},
        {"tf32", DType::F32, true, CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32},
        {"bf16", DType::BF16, false, CUDA_R_16BF, CUBLAS_COMPUTE_32F},
        {"fp16", DType::F16, false, CUDA_R_16F, CUBLAS_COMPUTE_32F},
    };
    cublasHandle_t ref;
    if (cublasCreate(&ref) != CUBLAS_STATUS_SUCCESS) throw Error("cublasCreate failed");
    cublasSetStream(ref, cuda::compute_stream());
    Graph g;
    auto pa = g.placeholder("a", {-1, -1});
    auto pb = g.placeholder("b", {-1, -1});
    const Node& node = g.node(matmul(pa, pb).node());
    for (int64_t n : sizes) {
      for (const Mode& m : modes) {
        const size_t bytes = size_t(n * n) * dtype_size(m.dt);
        cuda::DeviceTensor a = cuda::empty_device({n, n}, m.dt), b = cuda::empty_device({n, n}, m.dt),
                           c = cuda::empty_device({n, n}, m.dt);
        cuda::memset_device(a.t.raw(), 0x3c, bytes);  // small finite values in every dtype
        cuda::memset_device(b.t.raw(), 0x3c, bytes);
        cuda::set_allow_tf32(m.tf32);
        KernelCtx ctx{node, {&a.t, &b.t}, {&c.t}};
        const Kernel* k = OpRegistry::get().find_kernel("matmul", "cuda", m.dt);
        const double ours = time_ms([&] { k->fn(ctx); }, min_ms);
        const float alpha = 1.f, beta = 0.f;
        const int N = int(n);
        const double theirs = time_ms(
            [&] {
              cublasGemmEx(ref, CUBLAS_OP_N, CUBLAS_OP_N, N, N, N, &alpha, b.t.raw(), m.type, N, a.t.raw(), m.type,
                           N, &beta, c.t.raw(), m.type, N, m.compute, CUBLAS_GEMM_DEFAULT);
            },
            min_ms);
        const double flops = 2.0 * double(n) * double(n) * double(n);
        const double t_ours = flops / (ours * 1e-3) / 1e12, t_ref = flops / (theirs * 1e-3) / 1e12;
        const double peak = spec_peak(info, m);
        char pk[32] = "-", of[32] = "-";
        if (peak > 0) {
          std::snprintf(pk, sizeof pk, "%.0f", peak);
          std::snprintf(of, sizeof of, "%.0f%%", 100.0 * t_ours / peak);
        }
        std::printf("%6lld %6s %12.1f %12.1f %8.3f %10s %8s\n", (long long)n, m.name, t_ours, t_ref, t_ours / t_ref,
                    pk, of);
        std::fflush(stdout);
      }
    }
    cublasDestroy(ref);
    cuda::synchronize_compute();
  } catch (const Error& e) {
    std::fprintf(stderr, "cuda_gemm_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
