// gemm_bench.cpp — GFLOP/s of flowtrain's matmul (through the Executor, on its own
// thread pool) next to OpenBLAS cblas_sgemm (measured in the same run, same thread
// count) and the machine's measured FMA peak.
//
//   build/bin/gemm_bench [--sizes 256,512,1024,2048] [--threads 1,2] [--bert-tiny]
//
// --bert-tiny: instead, the GEMMs of a BERT-tiny like-for-like step (batch 32, seq 128,
// hidden 128, FFN 512, vocab 30522, 20 masked positions) with their transposes, in
// f32 (the kernel the shape rule picks, and oneDNN and OpenBLAS each forced), in f32
// with attr half = bf16 (autocast's cpu form: conversions in the kernel), and on bf16
// tensors (no conversions), next to OpenBLAS f32; then the MNIST MLP's GEMMs.
#include <cblas.h>
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ops/cpu/dnnl_matmul.h"
#include "ops/cpu/kernel_choice.h"
#include "ops/ops.h"
#include "ops/precision.h"

using namespace ft;

namespace {

double seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Median seconds per call of f over enough repetitions to take ~0.5 s.
template <class F>
double time_it(F f) {
  f();
  double t0 = seconds();
  f();
  double one = std::max(1e-6, seconds() - t0);
  int reps = std::max(3, int(0.5 / one));
  std::vector<double> ts;
  for (int r = 0; r < reps; ++r) {
    double a = seconds();
    f();
    ts.push_back(seconds() - a);
  }
  std::sort(ts.begin(), ts.end());
  return ts[ts.size() / 2];
}

// Peak single-precision FMA throughput of one core, on the widest vector unit the
// CPU has (chosen at run time): independent accumulator chains, enough to cover the
// FMA latency on two pipes (16 of 512 bits, 12 of 256), each pinned to a register
// (an empty asm per chain and iteration), timed for at least 0.2 s, best of 3.
#if defined(__x86_64__)
// Sixteen accumulators as named locals (an array would be kept on the stack).
#define FT_CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
#define FT_CHAINS12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

__attribute__((target("avx512f"))) double fma_peak_avx512(long iters) {
#define FT_DECL(i) __m512 c##i = _mm512_set1_ps(float(i));
#define FT_STEP(i) c##i = _mm512_fmadd_ps(c##i, a, b);
#define FT_PIN(i) asm volatile("" : "+v"(c##i));
#define FT_SUM(i) _mm512_storeu_ps(tmp, c##i), sink += tmp[0];
  FT_CHAINS(FT_DECL)
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  const double t0 = seconds();
  for (long it = 0; it < iters; ++it) {
    FT_CHAINS(FT_STEP)
    FT_CHAINS(FT_PIN)
  }
  const double t = seconds() - t0;
  float tmp[16], sink = 0;
  FT_CHAINS(FT_SUM)
  if (sink == 12345.f) std::printf(" ");
  return double(iters) * 16 * 16 * 2 / t / 1e9;
#undef FT_DECL
#undef FT_STEP
#undef FT_SUM
}

__attribute__((target("avx2,fma"))) double fma_peak_avx2(long iters) {
#define FT_DECL(i) __m256 c##i = _mm256_set1_ps(float(i));
#define FT_STEP(i) c##i = _mm256_fmadd_ps(c##i, a, b);
#define FT_SUM(i) _mm256_storeu_ps(tmp, c##i), sink += tmp[0];
  FT_CHAINS12(FT_DECL)
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  const double t0 = seconds();
  for (long it = 0; it < iters; ++it) {
    FT_CHAINS12(FT_STEP)
    FT_CHAINS12(FT_PIN)
  }
  const double t = seconds() - t0;
  float tmp[8], sink = 0;
  FT_CHAINS12(FT_SUM)
  if (sink == 12345.f) std::printf(" ");
  return double(iters) * 12 * 8 * 2 / t / 1e9;
#undef FT_DECL
#undef FT_STEP
#undef FT_SUM
#undef FT_PIN
}

// The vector unit used, and its peak in GFLOP/s (0 when the CPU has neither).
std::pair<const char*, double> fma_peak_one_thread() {
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f");
  if (!avx512 && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) return {"none", 0};
  auto probe = [&](long iters) { return avx512 ? fma_peak_avx512(iters) : fma_peak_avx2(iters); };
  long iters = 1'000'000;
  for (;;) {  // grow until one probe takes at least 0.2 s
    const double t0 = seconds();
    probe(iters);
    if (seconds() - t0 >= 0.2) break;
    iters *= 2;
  }
  double best = 0;
  for (int r = 0; r < 3; ++r) best = std::max(best, probe(iters));
  return {avx512 ? "AVX-512 (16 x 512-bit chains)" : "AVX2+FMA (12 x 256-bit chains)", best};
}
#else
std::pair<const char*, double> fma_peak_one_thread() { return {"none", 0}; }
#endif

std::vector<int> parse_list(const std::string& s) {
  std::vector<int> v;
  std::stringstream ss(s);
  std::string x;
  while (std::getline(ss, x, ',')) v.push_back(std::stoi(x));
  return v;
}

struct Shape2 {
  const char* name;
  int64_t m, n, k;
  bool ta, tb;
  int64_t batch = 0;  // > 0: a batch of (m, k) x (k, n) products (attention)
};

// Fills an f32 tensor with small exact values.
Tensor filled(const Shape& s, int mul, int mod) {
  Tensor t = Tensor::empty(s, DType::F32);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = float((i * mul % mod) - mod / 2) / float(mod);
  return t;
}

int bert_tiny_table(const std::vector<int>& threads) {
  const int64_t tok = 32 * 128, h = 128, ffn = 512, vocab = 30522, masked = 32 * 20;
  const Shape2 shapes[] = {
      {"qkv", tok, 3 * h, h, false, false},       {"ffn_in", tok, ffn, h, false, false},
      {"ffn_out", tok, h, ffn, false, false},     {"ffn_in dW", h, ffn, tok, true, false},
      {"ffn_in dX", tok, h, ffn, false, true},    {"vocab", masked, vocab, h, false, true},
      {"vocab dX", masked, h, vocab, false, false}, {"vocab dW", vocab, h, masked, true, false},
      {"scores", 128, 128, 64, false, true, 64},    {"context", 128, 64, 128, false, false, 64},
      {"mask-gather", 20, 128, 128, false, false, 32}, {"mask dW", 128, 128, 20, true, false, 32},
      // the MNIST MLP 784-512-512-10 at batch 128
      {"mlp fc1", 128, 512, 784, false, false},    {"mlp fc1 dW", 784, 512, 128, true, false},
      {"mlp fc2 dX", 128, 512, 512, false, true},  {"mlp out", 128, 10, 512, false, false},
      {"mlp out dW", 512, 10, 128, true, false},   {"mlp out dX", 128, 512, 10, false, true},
  };
  std::printf("# GF/s; f32+half: f32 tensors, attr half = bf16; bf16: bf16 tensors (%s)\n",
              ops::native_bf16_matmul_available() ? "native, oneDNN" : "emulated in f32");
  std::printf("# f32: flowtrain's f32 matmul, the kernel its rule picks (column 'rule'); f32-onednn and f32-openblas:\n"
              "# each forced\n");
  std::printf("%-11s %6s %6s %6s %2s %2s %7s %9s %9s %11s %12s %9s %9s %9s %10s\n", "gemm", "m", "n", "k", "ta", "tb",
              "threads", "openblas", "f32", "f32-onednn", "f32-openblas", "rule", "f32+half", "bf16", "half/f32");
  for (int t : threads) {
    ThreadPool pool(t);
    for (const Shape2& q : shapes) {
      Shape sa = q.ta ? Shape{q.k, q.m} : Shape{q.m, q.k}, sb = q.tb ? Shape{q.n, q.k} : Shape{q.k, q.n};
      const int64_t nb = std::max<int64_t>(1, q.batch);
      if (q.batch) {
        sa.insert(sa.begin(), q.batch);
        sb.insert(sb.begin(), q.batch);
      }
      Tensor ta = filled(sa, 7, 13), tb = filled(sb, 5, 11);
      Graph g;
      auto a = g.placeholder("a", sa), b = g.placeholder("b", sb);
      auto c = matmul(a, b, q.ta, q.tb);
      auto ch = g.add1("matmul", {a, b}, {{"transpose_a", q.ta}, {"transpose_b", q.tb}, {"half", int64_t(DType::BF16)}});
      auto a16 = g.placeholder("a16", sa, DType::BF16), b16 = g.placeholder("b16", sb, DType::BF16);
      auto c16 = matmul(a16, b16, q.ta, q.tb);
      Executor ex(g, &pool);
      Executor::Feeds feeds = {{a, ta}, {b, tb}};
      Executor::Feeds f16 = {{a16, precision::convert(ta, DType::BF16)}, {b16, precision::convert(tb, DType::BF16)}};
      const double tf = time_it([&] { ex.run(feeds, {c}); });
      ops::force_kernel_choice("onednn");
      const double tfd = time_it([&] { ex.run(feeds, {c}); });
      ops::force_kernel_choice("openblas");
      const double tfo = time_it([&] { ex.run(feeds, {c}); });
      ops::force_kernel_choice("");
      std::string rule = "-";
      for (const auto& kv : ops::kernel_choice_winners())
        if (kv.first.rfind("matmul f32 m" + std::to_string(q.m) + " n" + std::to_string(q.n) + " k" +
                               std::to_string(q.k) + " ta" + std::to_string(int(q.ta)) + " tb" +
                               std::to_string(int(q.tb)) + " x" + std::to_string(nb) + ",",
                           0) == 0)
          rule = kv.second;
      const double th = time_it([&] { ex.run(feeds, {ch}); });
      const double t16 = time_it([&] { ex.run(f16, {c16}); });
      Tensor ref = Tensor::empty({nb, q.m, q.n}, DType::F32);
      openblas_set_num_threads(t);
      const double to = time_it([&] {
        for (int64_t i = 0; i < nb; ++i)
          cblas_sgemm(CblasRowMajor, q.ta ? CblasTrans : CblasNoTrans, q.tb ? CblasTrans : CblasNoTrans, int(q.m),
                      int(q.n), int(q.k), 1.f, ta.data<float>() + i * q.m * q.k, int(sa.back()),
                      tb.data<float>() + i * q.k * q.n, int(sb.back()), 0.f, ref.data<float>() + i * q.m * q.n,
                      int(q.n));
      });
      openblas_set_num_threads(1);
      const double fl = 2.0 * double(nb) * double(q.m) * double(q.n) * double(q.k) / 1e9;
      std::printf("%-11s %6lld %6lld %6lld %2d %2d %7d %9.1f %9.1f %11.1f %12.1f %9s %9.1f %9.1f %9.2fx\n", q.name,
                  (long long)q.m, (long long)q.n, (long long)q.k, int(q.ta), int(q.tb), t, fl / to, fl / tf, fl / tfd,
                  fl / tfo, rule.c_str(), fl / th, fl / t16, tf / th);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes = {256, 512, 1024, 2048}, threads = {1, 2};
  bool bert = false;
  for (int i = 1; i < argc; i += 2) {
    if (!std::strcmp(argv[i], "--bert-tiny")) {
      bert = true;
      --i;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "gemm_bench: %s needs a value\n", argv[i]);
      return 2;
    }
    if (!std::strcmp(argv[i], "--sizes")) sizes = parse_list(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--threads")) threads = parse_list(argv[i + 1]);
    else {
      std::fprintf(stderr, "gemm_bench: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  ops::register_all();
  if (bert) return bert_tiny_table(threads);
  const auto [unit, peak1] = fma_peak_one_thread();
  const char* core = std::getenv("OPENBLAS_CORETYPE");
  std::printf("# OpenBLAS %s, config: %s, OPENBLAS_CORETYPE=%s\n", OPENBLAS_VERSION, openblas_get_config(),
              core ? core : "(unset)");
  std::printf("# measured FMA peak: %.1f GFLOP/s per core (%s)\n", peak1, unit);
  std::printf("# bf16_GF/s: flowtrain's bf16 matmul (%s); bf16/openblas: against OpenBLAS's f32 GEMM\n",
              ops::native_bf16_matmul_available() ? "native, oneDNN" : "emulated in f32");
  std::printf("%6s %7s %14s %14s %9s %10s %10s %9s\n", "n", "threads", "flowtrain_GF/s", "openblas_GF/s", "ratio", "%peak",
              "bf16_GF/s", "bf16/blas");
  int bad = 0;
  for (int t : threads) {
    ThreadPool pool(t);
    for (int n : sizes) {
      Graph g;
      auto a = g.placeholder("a", {n, n});
      auto b = g.placeholder("b", {n, n});
      auto c = matmul(a, b);
      Tensor ta = Tensor::empty({n, n}, DType::F32), tb = Tensor::empty({n, n}, DType::F32);
      for (int64_t i = 0; i < ta.numel(); ++i) {
        ta.data<float>()[i] = float((i * 7 % 13) - 6) / 7.f;
        tb.data<float>()[i] = float((i * 5 % 11) - 5) / 5.f;
      }
      Executor ex(g, &pool);
      Executor::Feeds feeds = {{a, ta}, {b, tb}};
      double tf = time_it([&] { ex.run(feeds, {c}); });
      Tensor ref = Tensor::empty({n, n}, DType::F32);
      openblas_set_num_threads(t);
      double to = time_it([&] {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.f, ta.data<float>(), n, tb.data<float>(), n,
                    0.f, ref.data<float>(), n);
      });
      openblas_set_num_threads(1);
      Tensor got = ex.run(feeds, {c})[0];
      for (int64_t i = 0; i < got.numel(); ++i)
        if (std::abs(got.data<float>()[i] - ref.data<float>()[i]) > 1e-3f * (1 + std::abs(ref.data<float>()[i]))) {
          ++bad;
          break;
        }
      double flops = 2.0 * n * n * n;
      double gf = flops / tf / 1e9, go = flops / to / 1e9;
      // The same product in bf16 (operands cast once, outside the timing): the native
      // kernel where there is one (ops/cpu/dnnl_matmul.h), else the emulated path.
      Graph gh;
      auto ah = gh.placeholder("a", {n, n}, DType::BF16), bh = gh.placeholder("b", {n, n}, DType::BF16);
      auto ch = matmul(ah, bh);
      Executor exh(gh, &pool);
      Executor::Feeds hfeeds = {{ah, precision::convert(ta, DType::BF16)}, {bh, precision::convert(tb, DType::BF16)}};
      const double th = time_it([&] { exh.run(hfeeds, {ch}); });
      std::printf("%6d %7d %14.1f %14.1f %8.1f%% %9.1f%% %10.1f %8.2fx\n", n, t, gf, go, 100 * gf / go,
                  peak1 > 0 ? 100 * gf / (peak1 * t) : 0.0, flops / th / 1e9, (flops / th / 1e9) / go);
    }
  }
  if (bad) std::fprintf(stderr, "gemm_bench: %d wrong results\n", bad);
  return bad ? 1 : 0;
}
