// cpu/dnnl_matmul.cpp — bf16 matmul through oneDNN (Debian libdnnl-dev) on CPUs with
// AVX512_BF16: bf16 operands, f32 accumulation, a bf16 result rounded to nearest even,
// as the emulated path (convert to f32, f32 GEMM, round) computes it, at about twice
// the f32 GEMM's speed. Split like the f32 kernel: row blocks of C (or batch entries)
// on flowtrain's pool, each block one single-threaded oneDNN matmul whose primitive is
// created once per shape and thread and reused every step.
//
// Without oneDNN at build time, or without AVX512_BF16 at run time, bf16 matmul stays
// on the emulated path (ops/cpu/precision.cpp), and the log says so once.
#include "ops/cpu/dnnl_matmul.h"

#ifdef FT_HAVE_DNNL
#include <omp.h>

#include <dnnl.hpp>
#include <map>
#include <tuple>

#include "ops/cpu/gemm_split.h"

namespace ft {
namespace ops {
namespace {

using dt = dnnl::memory::data_type;

struct Gemm {
  dnnl::matmul prim;
  dnnl::memory a, b, c;
};

// One engine and stream per thread; primitives by (m, n, k, ta, tb, lda, ldb, ldc, f32 result).
struct ThreadState {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{eng};
  std::map<std::tuple<int64_t, int64_t, int64_t, bool, bool, int64_t, int64_t, int64_t, bool>, Gemm> cache;
  ThreadState() { omp_set_num_threads(1); }  // oneDNN's OpenMP threads: this thread only
};

ThreadState& state() {
  thread_local ThreadState s;
  return s;
}

// C (m, n) = op(A) (m, k) x op(B) (k, n), row-major; A is (m, k) with leading dimension
// lda, or (k, m) when ta; B is (k, n) with ldb, or (n, k) when tb. C has leading
// dimension ldc and is bf16 or, when c_f32, the f32 accumulator itself.
void gemm_bf16_to(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const uint16_t* a, int64_t lda,
                  const uint16_t* b, int64_t ldb, void* c, int64_t ldc, bool c_f32) {
  ThreadState& s = state();
  const auto key = std::make_tuple(m, n, k, ta, tb, lda, ldb, ldc, c_f32);
  auto it = s.cache.find(key);
  if (it == s.cache.end()) {
    using dims = dnnl::memory::dims;
    dnnl::memory::desc amd({m, k}, dt::bf16, ta ? dims{1, lda} : dims{lda, 1});
    dnnl::memory::desc bmd({k, n}, dt::bf16, tb ? dims{1, ldb} : dims{ldb, 1});
    dnnl::memory::desc cmd({m, n}, c_f32 ? dt::f32 : dt::bf16, dims{ldc, 1});
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(amd, bmd, cmd), s.eng);
    Gemm g{dnnl::matmul(pd), dnnl::memory(amd, s.eng, nullptr), dnnl::memory(bmd, s.eng, nullptr),
           dnnl::memory(cmd, s.eng, nullptr)};
    it = s.cache.emplace(key, std::move(g)).first;
  }
  Gemm& g = it->second;
  g.a.set_data_handle(const_cast<uint16_t*>(a));
  g.b.set_data_handle(const_cast<uint16_t*>(b));
  g.c.set_data_handle(c);
  g.prim.execute(s.stream, {{DNNL_ARG_SRC, g.a}, {DNNL_ARG_WEIGHTS, g.b}, {DNNL_ARG_DST, g.c}});
  s.stream.wait();
}

void gemm_bf16(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const uint16_t* a, int64_t lda, const uint16_t* b,
               int64_t ldb, uint16_t* c) {
  gemm_bf16_to(ta, tb, m, n, k, a, lda, b, ldb, c, n, false);
}

void matmul_bf16_kernel(KernelCtx& ctx) { split_matmul<uint16_t>(ctx, gemm_bf16); }

}  // namespace

void gemm_bf16_f32(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const uint16_t* a, int64_t lda,
                   const uint16_t* b, int64_t ldb, float* c, int64_t ldc) {
  gemm_bf16_to(ta, tb, m, n, k, a, lda, b, ldb, c, ldc, true);
}

bool native_bf16_matmul_available() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bf16");
}

bool register_dnnl_bf16_matmul() {
  if (!native_bf16_matmul_available()) return false;
  OpRegistry::get().add_kernel("matmul", "cpu", DType::BF16, Kernel{matmul_bf16_kernel, {}});
  return true;
}

}  // namespace ops
}  // namespace ft

#else  // no oneDNN at build time

#include "core/tensor.h"

namespace ft {
namespace ops {
bool native_bf16_matmul_available() { return false; }
bool register_dnnl_bf16_matmul() { return false; }
void gemm_bf16_f32(bool, bool, int64_t, int64_t, int64_t, const uint16_t*, int64_t, const uint16_t*, int64_t, float*,
                   int64_t) {
  throw Error("gemm_bf16_f32: this build has no oneDNN");
}
}  // namespace ops
}  // namespace ft

#endif
