// cpu/nn.cpp — CPU kernels of the nn ops. Last-axis ops view x as (rows, C) and
// split rows over the pool; reductions over rows (dgamma, dbeta) split columns so
// results do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "ops/cpu/scratch.h"
#include "ops/op_util.h"
#include "ops/precision.h"

namespace ft {
namespace ops {
namespace {

// Rows per chunk so one chunk touches about 16K elements.
int64_t row_grain(int64_t C) { return std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(1, C)); }

template <class T>
void softmax_fwd(KernelCtx& c, bool log) {
  const Tensor& X = c.in(0);
  const int64_t C = X.dim(-1), rows = C ? X.numel() / C : 0;
  const T* x = X.data<T>();
  T* y = c.out(0).data<T>();
  c.pool->parallel_for(rows, row_grain(C), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const CVec<T> xr(x + r * C, C);
      Vec<T> yr(y + r * C, C);
      const T m = xr.maxCoeff();
      yr = (xr - m).exp();  // Eigen's vectorized exp and sums, row by row
      const T s = yr.sum();
      if (log) yr = xr - (m + std::log(s));
      else yr *= T(1) / s;
    }
  });
}

// dx = y * (g - sum(g * y)) (softmax) or g - exp(y) * sum(g) (log_softmax).
template <class T>
void softmax_bwd(KernelCtx& c, bool log) {
  const Tensor& G = c.in(0);
  const int64_t C = G.dim(-1), rows = C ? G.numel() / C : 0;
  const T* g = G.data<T>();
  const T* y = c.in(1).data<T>();
  T* dx = c.out(0).data<T>();
  c.pool->parallel_for(rows, row_grain(C), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const CVec<T> gr(g + r * C, C), yr(y + r * C, C);
      Vec<T> dr(dx + r * C, C);
      if (log) {
        const T s = gr.sum();
        dr = gr - yr.exp() * s;
      } else {
        const T s = (gr * yr).sum();
        dr = yr * (gr - s);
      }
    }
  });
}

// x (.., T), mask broadcasting to x. Masked positions get 0; a row with every
// position masked is all zeros.
template <class T>
void masked_softmax_fwd(KernelCtx& c) {
  const Tensor& X = c.in(0);
  const Tensor& M = c.in(1);
  const int r = X.rank();
  const int64_t C = X.dim(-1), rows = C ? X.numel() / C : 0;
  // mask strides aligned to x's dims; 0 where the mask broadcasts
  std::vector<int64_t> ms(size_t(r), 0);
  {
    auto st = strides_of(M.shape());
    for (int i = 0; i < M.rank(); ++i) {
      int o = r - M.rank() + i;
      ms[size_t(o)] = M.shape()[size_t(i)] == 1 ? 0 : st[size_t(i)];
    }
  }
  const int64_t mstep = ms[size_t(r - 1)];
  const T* x = X.data<T>();
  const T* m = M.data<T>();
  T* y = c.out(0).data<T>();
  c.pool->parallel_for(rows, row_grain(C), [&](int64_t r0, int64_t r1) {
    for (int64_t row = r0; row < r1; ++row) {
      int64_t off = 0, rem = row;
      for (int d = r - 2; d >= 0; --d) {
        int64_t n = X.shape()[size_t(d)];
        off += (rem % n) * ms[size_t(d)];
        rem /= n;
      }
      const T* xr = x + row * C;
      const T* mr = m + off;
      T* yr = y + row * C;
      if (mstep == 1) {
        // A mask row per row (or broadcast over heads): masked entries become -inf
        // (loops the compiler vectorizes), then Eigen's vectorized max, exp and sum.
        // (Eigen's select() evaluates one element at a time, with a scalar exp.)
        const T ninf = -std::numeric_limits<T>::infinity();
        T* __restrict yw = yr;
        const T* __restrict xw = xr;
        const T* __restrict mw = mr;
        for (int64_t j = 0; j < C; ++j) yw[j] = mw[j] != T(0) ? xw[j] : ninf;
        Vec<T> yv(yr, C);
        const T mx = yv.maxCoeff();
        if (mx == ninf) {
          yv.setZero();
          continue;
        }
        yv = (yv - mx).exp();
        // Masked entries exactly 0: Eigen's exp clamps its argument, so exp(-inf)
        // can come out as a denormal instead (the scalar path, unvectorized builds).
        for (int64_t j = 0; j < C; ++j) yw[j] = mw[j] != T(0) ? yw[j] : T(0);
        yv *= T(1) / yv.sum();
        continue;
      }
      T mx = -std::numeric_limits<T>::infinity();
      for (int64_t j = 0; j < C; ++j)
        if (mr[j * mstep] != T(0)) mx = std::max(mx, xr[j]);
      if (mx == -std::numeric_limits<T>::infinity()) {
        std::fill(yr, yr + C, T(0));
        continue;
      }
      T s = 0;
      for (int64_t j = 0; j < C; ++j) s += (yr[j] = mr[j * mstep] != T(0) ? std::exp(xr[j] - mx) : T(0));
      T inv = T(1) / s;
      for (int64_t j = 0; j < C; ++j) yr[j] *= inv;
    }
  });
}

template <class L>
int64_t label_at(const Tensor& t, int64_t i) {
  return int64_t(t.data<L>()[i]);
}

int64_t label(const Tensor& t, int64_t i) {
  return t.dtype() == DType::I32 ? label_at<int32_t>(t, i) : label_at<int64_t>(t, i);
}

// logits (N, C), labels (N) -> loss (N), probs (N, C): one pass per row computes
// the log-sum-exp, the loss and the saved probabilities.
template <class T>
void sce_fwd(KernelCtx& c) {
  const Tensor& L = c.in(0);
  const Tensor& Y = c.in(1);
  const int64_t N = L.dim(0), C = L.dim(1);
  for (int64_t i = 0; i < N; ++i) {
    int64_t k = label(Y, i);
    if (k >= C)
      throw Error("sparse_softmax_cross_entropy: label " + std::to_string(k) + " at row " + std::to_string(i) +
                  " is out of range for C = " + std::to_string(C));
  }
  const T* x = L.data<T>();
  T* loss = c.out(0).data<T>();
  T* p = c.out(1).data<T>();
  c.pool->parallel_for(N, row_grain(C), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * C;
      T* pr = p + r * C;
      T m = C ? CVec<T>(xr, C).maxCoeff() : T(0);
      Vec<T> prow(pr, C);
      prow = (CVec<T>(xr, C) - m).exp();  // vectorized exp over the vocabulary row
      T s = prow.sum();
      prow *= T(1) / s;
      int64_t k = label(Y, r);
      loss[r] = k < 0 ? T(0) : m + std::log(s) - xr[k];
    }
  });
}

// (g (N), probs (N, C), labels (N)) -> (probs - onehot) * g; ignored rows get 0.
// With `to` (sparse_softmax_cross_entropy_grad_cast, T = float), each row is
// computed in a per-thread f32 row and written rounded to f16/bf16.
template <class T>
void sce_bwd(KernelCtx& c, DType to = DType::F32) {
  const T* g = c.in(0).data<T>();
  const Tensor& P = c.in(1);
  const Tensor& Y = c.in(2);
  const int64_t N = P.dim(0), C = P.dim(1);
  const T* p = P.data<T>();
  const bool half = to != DType::F32;
  T* dx = half ? nullptr : c.out(0).data<T>();
  uint16_t* dh = half ? static_cast<uint16_t*>(c.out(0).raw()) : nullptr;
  c.pool->parallel_for(N, row_grain(C), [&](int64_t r0, int64_t r1) {
    T* row = half ? thread_scratch<T>(size_t(C)) : nullptr;
    for (int64_t r = r0; r < r1; ++r) {
      int64_t k = label(Y, r);
      T* dr = half ? row : dx + r * C;
      if (k < 0) {
        std::fill(dr, dr + C, T(0));
      } else {
        const T* pr = p + r * C;
        const T gr = g[r];
        for (int64_t j = 0; j < C; ++j) dr[j] = pr[j] * gr;
        dr[k] -= gr;
      }
      if constexpr (std::is_same_v<T, float>)
        if (half) precision::f32_to_half(row, to, dh + r * C, C);
    }
  });
}

// sparse_softmax_cross_entropy_grad_bias. The sums below must round as the
// unfused steps do (a product rounded, then added), so no multiply-add is
// contracted into an FMA here.
#if defined(__GNUC__) && !defined(__clang__)
#define FT_NO_FP_CONTRACT __attribute__((optimize("fp-contract=off")))
#else
#define FT_NO_FP_CONTRACT
#endif

// A value of dx written as f32 or as bf16 bits.
inline void put(float* d, float v) { *d = v; }
inline void put(uint16_t* d, float v) { *d = precision::f32_to_bf16_bits(v); }

// Columns [0, n) of four rows: d_r = p_r * g_r, and acc += d_0, d_1, d_2, d_3
// in that order, one pass over the columns (acc read and written once for four
// rows). No label falls in these columns.
template <class Out>
FT_NO_FP_CONTRACT void sce_bias_rows4(const float* __restrict p0, const float* __restrict p1,
                                      const float* __restrict p2, const float* __restrict p3, const float* g,
                                      Out* __restrict d0, Out* __restrict d1, Out* __restrict d2, Out* __restrict d3,
                                      float* __restrict acc, int64_t n) {
  const float g0 = g[0], g1 = g[1], g2 = g[2], g3 = g[3];
  for (int64_t j = 0; j < n; ++j) {
    const float v0 = p0[j] * g0, v1 = p1[j] * g1, v2 = p2[j] * g2, v3 = p3[j] * g3;
    put(d0 + j, v0), put(d1 + j, v1), put(d2 + j, v2), put(d3 + j, v3);
    acc[j] = (((acc[j] + v0) + v1) + v2) + v3;
  }
}

template <class Out>
FT_NO_FP_CONTRACT void sce_bias_rows1(const float* __restrict p0, float g0, Out* __restrict d0,
                                      float* __restrict acc, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    const float v0 = p0[j] * g0;
    put(d0 + j, v0);
    acc[j] += v0;
  }
}

// One column j of rows [0, R), a label among them: v_r = p_r * g_r, less g_r
// where j is row r's label, as sce_bwd computes it.
template <class Out>
FT_NO_FP_CONTRACT void sce_bias_column(const float* const* p, const float* g, const int64_t* k, Out* const* d,
                                       float* acc, int R, int64_t j, int64_t col) {
  float a = acc[j];
  for (int r = 0; r < R; ++r) {
    float v = p[r][j] * g[r];
    if (k[r] == col) v -= g[r];
    put(d[r] + j, v);
    a += v;
  }
  acc[j] = a;
}

// Rows [r0, r0 + R) over columns [j0, j0 + n): vector passes between the
// labels' columns, each label's column alone.
template <class Out>
void sce_bias_block(const float* const* pr, const float* gr, const int64_t* k, Out* const* d, float* db, int R,
                    int64_t j0, int64_t n) {
  int64_t cuts[5];
  int nc = 0;
  for (int r = 0; r < R; ++r)
    if (k[r] >= j0 && k[r] < j0 + n) cuts[nc++] = k[r] - j0;
  std::sort(cuts, cuts + nc);
  cuts[nc] = n;
  int64_t from = 0;
  for (int ci = 0; ci <= nc; ++ci) {
    const int64_t upto = cuts[ci];
    if (upto > from) {
      const int64_t len = upto - from;
      float* acc = db + j0 + from;
      if (R == 4)
        sce_bias_rows4(pr[0] + from, pr[1] + from, pr[2] + from, pr[3] + from, gr, d[0] + from, d[1] + from,
                       d[2] + from, d[3] + from, acc, len);
      else
        for (int r = 0; r < R; ++r) sce_bias_rows1(pr[r] + from, gr[r], d[r] + from, acc, len);
    }
    if (ci < nc && (ci == 0 || upto != cuts[ci - 1]))  // a column two rows share is done once
      sce_bias_column(pr, gr, k, d, db + j0, R, upto, j0 + upto);
    if (ci < nc) from = std::max(from, upto + 1);
  }
}

// sparse_softmax_cross_entropy_grad_bias: dx as sce_bwd computes it (in f32,
// written in `to`) and db = the sum of dx's rows, added in row order as
// sum_to_like adds them, so both are the unfused steps' bits at any thread
// count. Each thread takes a range of columns and walks it four rows at a time
// in blocks of columns: the rows stream through once (instead of three passes:
// the gradient, the bias sum, the cast), and db's range stays in L2 and is read
// and written once per four rows.
void sce_bwd_bias(KernelCtx& c) {
  const DType to = c.out(0).dtype();
  const float* g = c.in(0).data<float>();
  const Tensor& P = c.in(1);
  const Tensor& Y = c.in(2);
  const int64_t N = P.dim(0), C = P.dim(1);
  const float* p = P.data<float>();
  const bool half = to != DType::F32;
  float* dx = half ? nullptr : c.out(0).data<float>();
  uint16_t* dh = half ? static_cast<uint16_t*>(c.out(0).raw()) : nullptr;
  float* db = c.out(1).data<float>();
  constexpr int64_t kCols = 1024;
  constexpr int kRows = 4;
  static const std::vector<float> zeros(size_t(kCols), 0.f);  // an ignored row's probs (its g is 0)
  c.pool->parallel_for((C + kCols - 1) / kCols, 1, [&](int64_t b0, int64_t b1) {
    // f16 goes through an f32 block in L1 and the F16C conversion; f32 and bf16
    // are written as they are computed.
    float* seg = to == DType::F16 ? thread_scratch<float>(size_t(kRows * kCols)) : nullptr;
    const int64_t c0 = b0 * kCols, c1 = std::min(C, b1 * kCols);
    std::fill(db + c0, db + c1, 0.f);
    for (int64_t r0 = 0; r0 < N; r0 += kRows) {
      const int R = int(std::min<int64_t>(kRows, N - r0));
      int64_t k[kRows];
      float gr[kRows];
      for (int r = 0; r < R; ++r) {
        k[r] = label(Y, r0 + r);
        gr[r] = k[r] < 0 ? 0.f : g[r0 + r];
      }
      for (int64_t j0 = c0; j0 < c1; j0 += kCols) {
        const int64_t n = std::min(kCols, c1 - j0);
        const float* pr[kRows];
        for (int r = 0; r < R; ++r) pr[r] = k[r] < 0 ? zeros.data() : p + (r0 + r) * C + j0;
        if (to == DType::BF16) {
          uint16_t* d[kRows];
          for (int r = 0; r < R; ++r) d[r] = dh + (r0 + r) * C + j0;
          sce_bias_block(pr, gr, k, d, db, R, j0, n);
        } else {
          float* d[kRows];
          for (int r = 0; r < R; ++r) d[r] = seg ? seg + r * kCols : dx + (r0 + r) * C + j0;
          sce_bias_block(pr, gr, k, d, db, R, j0, n);
          if (seg)
            for (int r = 0; r < R; ++r) precision::f32_to_half(seg + r * kCols, to, dh + (r0 + r) * C + j0, n);
        }
      }
    }
  });
}

template <class T>
void mse_fwd(KernelCtx& c) {
  const int64_t n = c.in(0).numel();
  const T* a = c.in(0).data<T>();
  const T* b = c.in(1).data<T>();
  T s = 0;
  for (int64_t i = 0; i < n; ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
  c.out(0).data<T>()[0] = n ? s / T(n) : T(0);
}

template <class T>
void mse_bwd(KernelCtx& c) {
  const T g = c.in(0).data<T>()[0];
  const int64_t n = c.in(1).numel();
  const T* a = c.in(1).data<T>();
  const T* b = c.in(2).data<T>();
  T* da = c.out(0).data<T>();
  T* db = c.out(1).data<T>();
  const T k = n ? T(2) * g / T(n) : T(0);
  for (int64_t i = 0; i < n; ++i) {
    da[i] = k * (a[i] - b[i]);
    db[i] = -da[i];
  }
}

// x (rows, C) -> y, mean (rows), rstd (rows)
template <class T>
void layer_norm_fwd(KernelCtx& c) {
  const Tensor& X = c.in(0);
  const int64_t C = X.dim(-1), rows = C ? X.numel() / C : 0;
  const T eps = T(c.attrs().f("eps", 1e-5));
  const T* x = X.data<T>();
  const T* gamma = c.in(1).data<T>();
  const T* beta = c.in(2).data<T>();
  T* y = c.out(0).data<T>();
  T* mean = c.out(1).data<T>();
  T* rstd = c.out(2).data<T>();
  c.pool->parallel_for(rows, row_grain(C), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const CVec<T> xr(x + r * C, C);
      Vec<T> yr(y + r * C, C);
      const T m = xr.sum() / T(C);
      const T v = (xr - m).square().sum() / T(C);
      const T rs = T(1) / std::sqrt(v + eps);
      mean[r] = m;
      rstd[r] = rs;
      yr = (xr - m) * rs * CVec<T>(gamma, C) + CVec<T>(beta, C);
    }
  });
}

// (g, x, gamma, mean, rstd) -> dx, dgamma, dbeta. With xhat = (x - mean) * rstd
// and d = g * gamma: dx = rstd * (d - mean(d) - xhat * mean(d * xhat)).
template <class T>
void layer_norm_bwd(KernelCtx& c) {
  const Tensor& X = c.in(1);
  const int64_t C = X.dim(-1), rows = C ? X.numel() / C : 0;
  const T* g = c.in(0).data<T>();
  const T* x = X.data<T>();
  const T* gamma = c.in(2).data<T>();
  const T* mean = c.in(3).data<T>();
  const T* rstd = c.in(4).data<T>();
  T* dx = c.out(0).data<T>();
  T* dgamma = c.out(1).data<T>();
  T* dbeta = c.out(2).data<T>();
  c.pool->parallel_for(rows, row_grain(C), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const CVec<T> xr(x + r * C, C), gr(g + r * C, C), gm(gamma, C);
      Vec<T> dr(dx + r * C, C);
      const T m = mean[r], rs = rstd[r];
      const T sd = (gr * gm).sum() / T(C);
      const T sdx = (gr * gm * (xr - m) * rs).sum() / T(C);
      dr = rs * (gr * gm - sd - (xr - m) * rs * sdx);
    }
  });
  // Column ranges per chunk; each chunk walks all rows in order (deterministic).
  c.pool->parallel_for(C, 64, [&](int64_t j0, int64_t j1) {
    std::fill(dgamma + j0, dgamma + j1, T(0));
    std::fill(dbeta + j0, dbeta + j1, T(0));
    for (int64_t r = 0; r < rows; ++r) {
      const T* xr = x + r * C;
      const T* gr = g + r * C;
      const T m = mean[r], rs = rstd[r];
      for (int64_t j = j0; j < j1; ++j) {
        dgamma[j] += gr[j] * (xr[j] - m) * rs;
        dbeta[j] += gr[j];
      }
    }
  });
}

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Inverted dropout. The keep decision of element i is a pure function of
// (seed, step, i): splitmix64 at position i of a stream keyed by (seed, step).
template <class T>
void dropout_fwd(KernelCtx& c) {
  const Tensor& X = c.in(0);
  const int64_t n = X.numel();
  const double p = c.attrs().f("p");
  const T* x = X.data<T>();
  T* y = c.out(0).data<T>();
  T* mask = c.out(1).data<T>();
  if (!c.training || p <= 0.0) {
    std::copy(x, x + n, y);
    std::fill(mask, mask + n, T(1));
    return;
  }
  const uint64_t key = mix64(uint64_t(c.attrs().i("seed")) ^ mix64(uint64_t(c.step) + 0x632be59bd9b4e019ULL));
  const uint64_t threshold = uint64_t(p * 9007199254740992.0);  // p * 2^53
  const T keep = T(1.0 / (1.0 - p));
  c.pool->parallel_for(n, 1 << 15, [&](int64_t b, int64_t e) {
    // Locals and restrict: otherwise the compiler cannot tell that the stores leave
    // the captured key, threshold and keep alone, and the loop stays scalar, with a
    // branch that mispredicts on every dropped element (ten times slower).
    const uint64_t k = key, th = threshold;
    const T kp = keep;
    const T* __restrict xr = x;
    T* __restrict yr = y;
    T* __restrict mr = mask;
    for (int64_t i = b; i < e; ++i) {
      const uint64_t h = mix64(k + uint64_t(i + 1) * 0x9e3779b97f4a7c15ULL) >> 11;  // 53 bits
      const T m = h < th ? T(0) : kp;
      mr[i] = m;
      yr[i] = xr[i] * m;
    }
  });
}

}  // namespace

void register_nn_cpu() {
  cpu_float_kernel("softmax", [](KernelCtx& c, auto t) { softmax_fwd<decltype(t)>(c, false); });
  cpu_float_kernel("log_softmax", [](KernelCtx& c, auto t) { softmax_fwd<decltype(t)>(c, true); });
  cpu_float_kernel("softmax_grad", [](KernelCtx& c, auto t) { softmax_bwd<decltype(t)>(c, false); });
  cpu_float_kernel("log_softmax_grad", [](KernelCtx& c, auto t) { softmax_bwd<decltype(t)>(c, true); });
  cpu_float_kernel("masked_softmax", [](KernelCtx& c, auto t) { masked_softmax_fwd<decltype(t)>(c); });
  cpu_float_kernel("sparse_softmax_cross_entropy", [](KernelCtx& c, auto t) { sce_fwd<decltype(t)>(c); });
  cpu_float_kernel("sparse_softmax_cross_entropy_grad", [](KernelCtx& c, auto t) { sce_bwd<decltype(t)>(c); });
  OpRegistry::get().add_kernel("sparse_softmax_cross_entropy_grad_cast", "cpu", DType::F32,
                               Kernel{[](KernelCtx& c) { sce_bwd<float>(c, c.out(0).dtype()); }, {}});
  OpRegistry::get().add_kernel("sparse_softmax_cross_entropy_grad_bias", "cpu", DType::F32,
                               Kernel{[](KernelCtx& c) { sce_bwd_bias(c); }, {}});
  cpu_float_kernel("mse", [](KernelCtx& c, auto t) { mse_fwd<decltype(t)>(c); });
  cpu_float_kernel("mse_grad", [](KernelCtx& c, auto t) { mse_bwd<decltype(t)>(c); });
  cpu_float_kernel("layer_norm", [](KernelCtx& c, auto t) { layer_norm_fwd<decltype(t)>(c); });
  cpu_float_kernel("layer_norm_grad", [](KernelCtx& c, auto t) { layer_norm_bwd<decltype(t)>(c); });
  cpu_float_kernel("dropout", [](KernelCtx& c, auto t) { dropout_fwd<decltype(t)>(c); });
}

}  // namespace ops
}  // namespace ft
