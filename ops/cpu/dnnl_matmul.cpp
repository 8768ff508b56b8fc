// cpu/dnnl_matmul.cpp — bf16 matmul through oneDNN (Debian libdnnl-dev) on CPUs with
// AVX512_BF16: bf16 operands, f32 accumulation, a bf16 result rounded to nearest even,
// as the emulated path (convert to f32, f32 GEMM, round) computes it, at about twice
// the f32 GEMM's speed. Split like the f32 kernel: row blocks of C (or batch entries)
// on flowtrain's pool, each block one single-threaded oneDNN matmul whose primitive is
// created once per shape and thread and reused every step.
//
// Without oneDNN at build time, or without AVX512_BF16 at run time, bf16 matmul stays
// on the emulated path (ops/cpu/precision.cpp), and the log says so once.
//
// f32 matmul and matmul_bias_act (without autocast's "half") choose per GEMM shape
// between oneDNN (the bias and ReLU as post-ops, applied while the tile is in
// registers) and OpenBLAS (the kernels of ops/cpu/matmul.cpp), by a rule on the shape
// (choose_f32). The two ops share the choice of a shape, so a fused step gives the
// bits of the unfused ones.
#include "ops/cpu/dnnl_matmul.h"

#ifdef FT_HAVE_DNNL
#include <omp.h>

#include <algorithm>
#include <dnnl.hpp>
#include <map>
#include <string>
#include <tuple>

#include <fmt/format.h>

#include "ops/cpu/gemm_split.h"

namespace ft {
namespace ops {
namespace {

using dt = dnnl::memory::data_type;

struct Gemm {
  dnnl::matmul prim;
  dnnl::memory a, b, c, bias;
};

// The epilogue of a oneDNN GEMM: none, + bias (one value per column), or relu(+ bias).
enum class Post { kNone, kBias, kBiasRelu };

// One engine and stream per thread; primitives by shape, leading dimensions, the
// operands' and the result's type and the epilogue.
using GemmKey = std::tuple<int64_t, int64_t, int64_t, bool, bool, int64_t, int64_t, int64_t, int, int, int>;
struct ThreadState {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{eng};
  std::map<GemmKey, Gemm> cache;
  ThreadState() { omp_set_num_threads(1); }  // oneDNN's OpenMP threads: this thread only
};

ThreadState& state() {
  thread_local ThreadState s;
  return s;
}

// C (m, n) = op(A) (m, k) x op(B) (k, n), row-major; A is (m, k) with leading dimension
// lda, or (k, m) when ta; B is (k, n) with ldb, or (n, k) when tb. A and B are of type
// `in` (bf16 or f32), C of type `out` with leading dimension ldc; `post` adds the f32
// bias (n) and a ReLU.
void gemm_dnnl(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const void* a, int64_t lda, const void* b,
               int64_t ldb, void* c, int64_t ldc, dt in, dt out, Post post = Post::kNone,
               const float* bias = nullptr) {
  ThreadState& s = state();
  const GemmKey key = std::make_tuple(m, n, k, ta, tb, lda, ldb, ldc, int(in), int(out), int(post));
  auto it = s.cache.find(key);
  if (it == s.cache.end()) {
    using dims = dnnl::memory::dims;
    dnnl::memory::desc amd({m, k}, in, ta ? dims{1, lda} : dims{lda, 1});
    dnnl::memory::desc bmd({k, n}, in, tb ? dims{1, ldb} : dims{ldb, 1});
    dnnl::memory::desc cmd({m, n}, out, dims{ldc, 1});
    dnnl::memory::desc biasmd({1, n}, dt::f32, dims{n, 1});
    dnnl::primitive_attr attr;
    if (post == Post::kBiasRelu) {
      dnnl::post_ops po;
      po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
      attr.set_post_ops(po);
    }
    const dnnl::matmul::desc d = post == Post::kNone ? dnnl::matmul::desc(amd, bmd, cmd)
                                                      : dnnl::matmul::desc(amd, bmd, biasmd, cmd);
    dnnl::matmul::primitive_desc pd(d, attr, s.eng);
    Gemm g{dnnl::matmul(pd), dnnl::memory(amd, s.eng, nullptr), dnnl::memory(bmd, s.eng, nullptr),
           dnnl::memory(cmd, s.eng, nullptr), dnnl::memory(biasmd, s.eng, nullptr)};
    it = s.cache.emplace(key, std::move(g)).first;
  }
  Gemm& g = it->second;
  g.a.set_data_handle(const_cast<void*>(a));
  g.b.set_data_handle(const_cast<void*>(b));
  g.c.set_data_handle(c);
  if (post == Post::kNone) {
    g.prim.execute(s.stream, {{DNNL_ARG_SRC, g.a}, {DNNL_ARG_WEIGHTS, g.b}, {DNNL_ARG_DST, g.c}});
  } else {
    g.bias.set_data_handle(const_cast<float*>(bias));
    g.prim.execute(s.stream, {{DNNL_ARG_SRC, g.a}, {DNNL_ARG_WEIGHTS, g.b}, {DNNL_ARG_BIAS, g.bias}, {DNNL_ARG_DST, g.c}});
  }
  s.stream.wait();
}

void gemm_bf16_to(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const uint16_t* a, int64_t lda,
                  const uint16_t* b, int64_t ldb, void* c, int64_t ldc, bool c_f32) {
  gemm_dnnl(ta, tb, m, n, k, a, lda, b, ldb, c, ldc, dt::bf16, c_f32 ? dt::f32 : dt::bf16);
}

void gemm_bf16(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const uint16_t* a, int64_t lda, const uint16_t* b,
               int64_t ldb, uint16_t* c) {
  gemm_bf16_to(ta, tb, m, n, k, a, lda, b, ldb, c, n, false);
}

void matmul_bf16_kernel(KernelCtx& ctx) { split_matmul<uint16_t>(ctx, gemm_bf16); }

// f32 matmul (post kNone) or matmul_bias_act (kBias, kBiasRelu) through oneDNN, split
// over the pool as the OpenBLAS kernel is; k > 0 (choose_f32 gives k = 0 to OpenBLAS's).
void matmul_f32_dnnl(KernelCtx& ctx, Post post) {
  const float* bias = post == Post::kNone ? nullptr : ctx.in(2).data<float>();
  try {
    split_matmul<float>(ctx, [&](bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                                 const float* b, int64_t ldb, float* c) {
      gemm_dnnl(ta, tb, m, n, k, a, lda, b, ldb, c, n, dt::f32, dt::f32, post, bias);
    });
  } catch (const dnnl::error& e) {
    throw Error(std::string("oneDNN: ") + e.what());
  }
}

// The choice between oneDNN and OpenBLAS (`fallback`, the kernel registered before),
// one per GEMM shape for matmul and matmul_bias_act together, by a rule on the shape
// rather than by timing: timed choices can differ between two processes (two runs of
// one config, the ranks of one run) and with them the last bits of every product.
// oneDNN's f32 GEMM ran up to 1.3x faster than OpenBLAS's (about 1.1-1.25x at most
// shapes of the MLP and BERT-tiny steps; `gemm_bench --bert-tiny`, docs/PERFORMANCE.md)
// but for three kinds, which keep OpenBLAS: a thin result (under 16 rows or
// columns), a small product (under 2^19 multiply-adds per call, where oneDNN's
// per-call cost shows: BERT's batched 20 x 128 x 128), and an inner dimension over
// 32 times the larger outer one (BERT's 640 x 128 x 30522: 1.06-1.25x slower).
// A matmul computing in half (autocast's attr "half") keeps its own kernel.
void choose_f32(const Kernel& fallback, Post post, KernelCtx& ctx) {
  bool ok = !ctx.attrs().has("half") && ctx.pool;
  for (const Tensor* t : ctx.inputs) ok = ok && t->dtype() == DType::F32;
  const MatmulDims d = matmul_dims(ctx);
  if (!ok || d.k == 0) return fallback.fn(ctx);  // no product: zeros (and the bias), OpenBLAS's kernel
  const Tensor& C = ctx.out(0);
  const int64_t batch = ctx.in(1).rank() == 2 ? 1 : C.numel() / std::max<int64_t>(1, d.m * d.n);
  const int64_t m = ctx.in(1).rank() == 2 ? d.rows : d.m;
  const std::string key =
      fmt::format("matmul f32 m{} n{} k{} ta{} tb{} x{}", m, d.n, d.k, int(d.ta), int(d.tb), batch);
  // m: the rows of one GEMM call (all rows with a matrix B, one entry's in a batch)
  const bool onednn =
      std::min(m, d.n) >= 16 && m * d.n * d.k >= (int64_t(1) << 19) && d.k <= 32 * std::max(m, d.n);
  run_chosen(key, ctx, {{"onednn", [post](KernelCtx& k) { matmul_f32_dnnl(k, post); }}, {"openblas", fallback.fn}},
             onednn ? 0 : 1);
}

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

bool register_dnnl_f32_matmul() {
  OpRegistry& r = OpRegistry::get();
  for (const char* op : {"matmul", "matmul_bias_act"}) {
    const Kernel* k = r.find_kernel(op, "cpu", DType::F32);
    FT_CHECK(k && k->fn, std::string("register_dnnl_f32_matmul: no CPU kernel for ") + op);
    const Kernel fallback = *k;
    const bool fused = std::string(op) == "matmul_bias_act";
    r.add_kernel(op, "cpu", DType::F32, Kernel{[fallback, fused](KernelCtx& c) {
                   const Post post = !fused ? Post::kNone
                                            : c.attrs().s("act") == "relu" ? Post::kBiasRelu : Post::kBias;
                   choose_f32(fallback, post, c);
                 }, {}});
  }
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
bool register_dnnl_f32_matmul() { return false; }
void gemm_bf16_f32(bool, bool, int64_t, int64_t, int64_t, const uint16_t*, int64_t, const uint16_t*, int64_t, float*,
                   int64_t) {
  throw Error("gemm_bf16_f32: this build has no oneDNN");
}
}  // namespace ops
}  // namespace ft

#endif
