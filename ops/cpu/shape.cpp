// cpu/shape.cpp — shape kernels. reshape and reshape_like are views: the executor
// points their output at the input's buffer, so their kernels do nothing. The
// data-moving ops (transpose, concat, split, slice) are copies of strided blocks
// with the contiguous tail merged into one memcpy; gather/one_hot/argmax index.
#include <algorithm>
#include <cstring>

#include "ops/op_util.h"

namespace ft {
namespace ops {
namespace {

using Strides = std::vector<int64_t>;

// Copies a block of shape `shape` (elements of T) from src to dst, each addressed
// by its own strides. Trailing dims contiguous in both are merged into one run;
// the leading dims are walked with an odometer, split across the pool.
template <class T>
void copy_block(ThreadPool* pool, const Shape& shape, const T* src, const Strides& ss, T* dst, const Strides& ds) {
  const int r = int(shape.size());
  if (numel(shape) == 0) return;
  if (r == 0) {
    dst[0] = src[0];
    return;
  }
  int64_t run = shape[size_t(r - 1)];
  int d = r - 2;
  while (d >= 0 && ss[size_t(d)] == run && ds[size_t(d)] == run) run *= shape[size_t(d--)];
  const int outer_rank = d + 1;
  int64_t outer = 1;
  for (int i = 0; i < outer_rank; ++i) outer *= shape[size_t(i)];
  auto body = [&](int64_t o0, int64_t o1) {
    std::vector<int64_t> idx(size_t(outer_rank), 0);
    int64_t so = 0, dof = 0;
    int64_t rem = o0;
    for (int i = outer_rank - 1; i >= 0; --i) {  // decode o0 into the odometer
      idx[size_t(i)] = rem % shape[size_t(i)];
      rem /= shape[size_t(i)];
      so += idx[size_t(i)] * ss[size_t(i)];
      dof += idx[size_t(i)] * ds[size_t(i)];
    }
    for (int64_t o = o0; o < o1; ++o) {
      std::memcpy(dst + dof, src + so, size_t(run) * sizeof(T));
      for (int i = outer_rank - 1; i >= 0; --i) {
        so += ss[size_t(i)];
        dof += ds[size_t(i)];
        if (++idx[size_t(i)] < shape[size_t(i)]) break;
        so -= ss[size_t(i)] * shape[size_t(i)];
        dof -= ds[size_t(i)] * shape[size_t(i)];
        idx[size_t(i)] = 0;
      }
    }
  };
  pool->parallel_for(outer, std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(1, run)), body);
}

// ---- transpose

// Drops size-1 dims and merges dims that stay adjacent under the permutation.
// Returns the collapsed input shape and permutation (out dim i = in dim perm[i]).
void collapse(const Shape& in, const std::vector<int64_t>& perm_in, Shape& shape, std::vector<int64_t>& perm) {
  const int64_t r = int64_t(in.size());
  std::vector<int64_t> keep_pos(size_t(r), -1);  // in dim -> index among kept dims
  int64_t k = 0;
  for (int64_t d = 0; d < r; ++d)
    if (in[size_t(d)] != 1) keep_pos[size_t(d)] = k++;
  std::vector<int64_t> p;  // kept dims in output order (kept numbering)
  for (int64_t i = 0; i < r; ++i) {
    int64_t a = perm_in[size_t(i)] < 0 ? perm_in[size_t(i)] + r : perm_in[size_t(i)];
    if (keep_pos[size_t(a)] >= 0) p.push_back(keep_pos[size_t(a)]);
  }
  Shape kept;
  for (int64_t d = 0; d < r; ++d)
    if (in[size_t(d)] != 1) kept.push_back(in[size_t(d)]);
  // Groups: runs of consecutive in dims in output order.
  std::vector<std::pair<int64_t, int64_t>> groups;  // [first, last] in dim, in output order
  for (size_t i = 0; i < p.size(); ++i) {
    if (i > 0 && p[i] == p[i - 1] + 1) groups.back().second = p[i];
    else groups.push_back({p[i], p[i]});
  }
  std::vector<size_t> by_in(groups.size());
  for (size_t i = 0; i < by_in.size(); ++i) by_in[i] = i;
  std::sort(by_in.begin(), by_in.end(), [&](size_t a, size_t b) { return groups[a].first < groups[b].first; });
  shape.clear();
  perm.assign(groups.size(), 0);
  for (size_t j = 0; j < by_in.size(); ++j) {
    const auto& gr = groups[by_in[j]];
    int64_t s = 1;
    for (int64_t d = gr.first; d <= gr.second; ++d) s *= kept[size_t(d)];
    shape.push_back(s);
    perm[by_in[j]] = int64_t(j);
  }
}

template <class T>
void transpose_kernel(KernelCtx& c) {
  const Tensor& X = c.in(0);
  Tensor& Y = c.out(0);
  if (X.numel() == 0) return;
  const T* x = X.data<T>();
  T* y = Y.data<T>();
  Shape s;
  std::vector<int64_t> p;
  collapse(X.shape(), c.attrs().ints("perm"), s, p);
  const int k = int(s.size());
  bool identity = true;
  for (int i = 0; i < k; ++i) identity = identity && p[size_t(i)] == i;
  if (identity) {
    std::memcpy(y, x, X.bytes());
    return;
  }
  const Strides is = strides_of(s);
  Shape os(static_cast<size_t>(k));
  Strides ist(static_cast<size_t>(k));  // input stride of each output dim
  for (int i = 0; i < k; ++i) {
    os[size_t(i)] = s[size_t(p[size_t(i)])];
    ist[size_t(i)] = is[size_t(p[size_t(i)])];
  }
  const Strides ostr = strides_of(os);
  if (p[size_t(k - 1)] == k - 1) {
    // The last dim stays last, e.g. (B,T,H,D) -> (B,H,T,D): contiguous runs of D.
    copy_block<T>(c.pool, os, x, ist, y, ostr);
    return;
  }
  // General case: tile over (q = the output dim holding the input's last dim,
  // the output's last dim), so reads and writes both stay within cache lines.
  int q = 0;
  while (p[size_t(q)] != k - 1) ++q;
  const int64_t nq = os[size_t(q)], nl = os[size_t(k - 1)];
  const int64_t oq = ostr[size_t(q)], il = ist[size_t(k - 1)];
  std::vector<int> od;  // remaining output dims
  for (int i = 0; i < k - 1; ++i)
    if (i != q) od.push_back(i);
  int64_t outer = 1;
  for (int i : od) outer *= os[size_t(i)];
  constexpr int64_t B = 32;
  const int64_t tiles_q = (nq + B - 1) / B;
  c.pool->parallel_for(outer * tiles_q, std::max<int64_t>(1, (1 << 14) / (B * nl)), [&](int64_t w0, int64_t w1) {
    for (int64_t w = w0; w < w1; ++w) {
      int64_t o = w / tiles_q, tq = w % tiles_q;
      int64_t xo = 0, yo = 0;
      for (int j = int(od.size()) - 1; j >= 0; --j) {
        const int i = od[size_t(j)];
        int64_t v = o % os[size_t(i)];
        o /= os[size_t(i)];
        xo += v * ist[size_t(i)];
        yo += v * ostr[size_t(i)];
      }
      const int64_t a0 = tq * B, a1 = std::min(nq, a0 + B);
      for (int64_t b0 = 0; b0 < nl; b0 += B) {
        const int64_t b1 = std::min(nl, b0 + B);
        int64_t a = a0;
        for (; a + 8 <= a1; a += 8) {  // 8x8 blocks through a local buffer: both sides contiguous
          int64_t b = b0;
          for (; b + 8 <= b1; b += 8) {
            T buf[8][8];
            for (int i = 0; i < 8; ++i)
              for (int j = 0; j < 8; ++j) buf[j][i] = x[xo + (b + i) * il + a + j];
            for (int j = 0; j < 8; ++j)
              for (int i = 0; i < 8; ++i) y[yo + (a + j) * oq + b + i] = buf[j][i];
          }
          for (int64_t j = a; j < a + 8; ++j)
            for (int64_t bb = b; bb < b1; ++bb) y[yo + j * oq + bb] = x[xo + bb * il + j];
        }
        for (; a < a1; ++a) {
          T* yr = y + yo + a * oq;
          const T* xr = x + xo + a;
          for (int64_t b = b0; b < b1; ++b) yr[b] = xr[b * il];
        }
      }
    }
  });
}

// ---- concat / split along an axis: pieces are blocks at an offset along it.

template <class T>
void concat_kernel(KernelCtx& c) {
  Tensor& Y = c.out(0);
  const int64_t axis = norm_axis(c.attrs().i("axis"), Y.rank());
  const Strides ys = strides_of(Y.shape());
  int64_t off = 0;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const Tensor& X = c.in(int(i));
    copy_block<T>(c.pool, X.shape(), X.data<T>(), strides_of(X.shape()), Y.data<T>() + off * ys[size_t(axis)], ys);
    off += X.dim(int(axis));
  }
}

template <class T>
void split_kernel(KernelCtx& c) {  // split(x) and split_like(x, likes...): pieces from the output shapes
  const Tensor& X = c.in(0);
  const int64_t axis = norm_axis(c.attrs().i("axis"), X.rank());
  const Strides xs = strides_of(X.shape());
  int64_t off = 0;
  for (size_t i = 0; i < c.outputs.size(); ++i) {
    Tensor& Y = c.out(int(i));
    copy_block<T>(c.pool, Y.shape(), X.data<T>() + off * xs[size_t(axis)], xs, Y.data<T>(), strides_of(Y.shape()));
    off += Y.dim(int(axis));
  }
}

// ---- slice and its gradient

int64_t begin_offset(const std::vector<int64_t>& begin, const Strides& st) {
  int64_t o = 0;
  for (size_t d = 0; d < begin.size(); ++d) o += begin[d] * st[d];
  return o;
}

template <class T>
void slice_kernel(KernelCtx& c) {
  const Tensor& X = c.in(0);
  Tensor& Y = c.out(0);
  const Strides xs = strides_of(X.shape());
  copy_block<T>(c.pool, Y.shape(), X.data<T>() + begin_offset(c.attrs().ints("begin"), xs), xs, Y.data<T>(),
                strides_of(Y.shape()));
}

template <class T>
void slice_grad_kernel(KernelCtx& c) {  // (g, x) -> zeros of x's shape with g at begin
  const Tensor& G = c.in(0);
  Tensor& DX = c.out(0);
  std::fill(DX.data<T>(), DX.data<T>() + DX.numel(), T(0));
  const Strides ds = strides_of(DX.shape());
  T* dst = DX.data<T>() + begin_offset(c.attrs().ints("begin"), ds);
  copy_block<T>(c.pool, G.shape(), G.data<T>(), strides_of(G.shape()), dst, ds);
}

// ---- gather (embedding lookup) and its scatter-add gradient

// Indices as i64, each checked against [0, V): throws naming the index, its position and V.
std::vector<int64_t> checked_indices(const Tensor& I, int64_t v, const char* op) {
  std::vector<int64_t> idx(size_t(I.numel()));
  for (int64_t n = 0; n < I.numel(); ++n) {
    int64_t i = I.dtype() == DType::I32 ? int64_t(I.data<int32_t>()[n]) : I.data<int64_t>()[n];
    if (i < 0 || i >= v)
      throw Error(std::string(op) + ": index " + std::to_string(i) + " (at position " + std::to_string(n) +
                  ") is out of range for V = " + std::to_string(v));
    idx[size_t(n)] = i;
  }
  return idx;
}

template <class T>
void gather_kernel(KernelCtx& c) {  // (params (V, D...), indices (I...)) -> (I..., D...)
  const Tensor &P = c.in(0), &I = c.in(1);
  Tensor& Y = c.out(0);
  const int64_t v = P.dim(0), row = v ? P.numel() / v : 0;
  const auto idx = checked_indices(I, v, "gather");
  const T* p = P.data<T>();
  T* y = Y.data<T>();
  c.pool->parallel_for(int64_t(idx.size()), std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(1, row)),
                       [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) std::memcpy(y + n * row, p + idx[size_t(n)] * row, size_t(row) * sizeof(T));
  });
}

template <class T>
void gather_grad_kernel(KernelCtx& c) {  // (g (I..., D...), indices (I...), params (V, D...)) -> (V, D...)
  const Tensor &G = c.in(0), &I = c.in(1);
  Tensor& DP = c.out(0);
  const int64_t v = DP.dim(0), row = v ? DP.numel() / v : 0;
  const auto idx = checked_indices(I, v, "gather_grad");
  const T* g = G.data<T>();
  T* dp = DP.data<T>();
  c.pool->parallel_for(v, std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(1, row)), [&](int64_t r0, int64_t r1) {
    std::fill(dp + r0 * row, dp + r1 * row, T(0));
  });
  // Each worker owns a column range of every row: no two write the same element,
  // and the summation order (by n) is fixed, so results are deterministic.
  c.pool->parallel_for(row, 256, [&](int64_t d0, int64_t d1) {
    for (size_t n = 0; n < idx.size(); ++n) {
      Vec<T> dst(dp + idx[n] * row + d0, d1 - d0);
      dst += CVec<T>(g + int64_t(n) * row + d0, d1 - d0);
    }
  });
}

// ---- one_hot, argmax

template <class I>
void one_hot_kernel(KernelCtx& c) {  // out-of-range indices (e.g. -1 padding) give a zero row
  const Tensor& X = c.in(0);
  Tensor& Y = c.out(0);
  const int64_t depth = c.attrs().i("depth");
  const I* x = X.data<I>();
  float* y = Y.data<float>();
  std::fill(y, y + Y.numel(), 0.f);
  for (int64_t n = 0; n < X.numel(); ++n)
    if (x[n] >= 0 && int64_t(x[n]) < depth) y[n * depth + int64_t(x[n])] = 1.f;
}

template <class T>
void argmax_kernel(KernelCtx& c) {  // first index of the maximum along the axis
  const Tensor& X = c.in(0);
  const int64_t axis = norm_axis(c.attrs().i("axis"), X.rank());
  int64_t outer = 1, inner = 1;
  const int64_t red = X.dim(int(axis));
  for (int64_t d = 0; d < X.rank(); ++d) {
    if (d < axis) outer *= X.dim(int(d));
    else if (d > axis) inner *= X.dim(int(d));
  }
  const T* x = X.data<T>();
  int64_t* y = c.out(0).data<int64_t>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const T* xs = x + o * red * inner + i;
      int64_t best = 0;
      for (int64_t r = 1; r < red; ++r)
        if (xs[r * inner] > xs[best * inner]) best = r;
      y[o * inner + i] = best;
    }
}

template <class F>
void all_kernel(const std::string& op, F f) {
  cpu_float_kernel(op, f);
  cpu_int_kernel(op, f);
}

}  // namespace

void register_shape_cpu() {
  for (DType dt : {DType::F32, DType::F64, DType::I32, DType::I64}) {
    OpRegistry::get().add_kernel("reshape", "cpu", dt, Kernel{[](KernelCtx&) {}, {}});
    OpRegistry::get().add_kernel("reshape_like", "cpu", dt, Kernel{[](KernelCtx&) {}, {}});
  }
  all_kernel("transpose", [](KernelCtx& c, auto t) { transpose_kernel<decltype(t)>(c); });
  all_kernel("concat", [](KernelCtx& c, auto t) { concat_kernel<decltype(t)>(c); });
  all_kernel("split", [](KernelCtx& c, auto t) { split_kernel<decltype(t)>(c); });
  all_kernel("split_like", [](KernelCtx& c, auto t) { split_kernel<decltype(t)>(c); });
  all_kernel("slice", [](KernelCtx& c, auto t) { slice_kernel<decltype(t)>(c); });
  all_kernel("slice_grad", [](KernelCtx& c, auto t) { slice_grad_kernel<decltype(t)>(c); });
  all_kernel("gather", [](KernelCtx& c, auto t) { gather_kernel<decltype(t)>(c); });
  cpu_float_kernel("gather_grad", [](KernelCtx& c, auto t) { gather_grad_kernel<decltype(t)>(c); });
  cpu_int_kernel("one_hot", [](KernelCtx& c, auto t) { one_hot_kernel<decltype(t)>(c); });
  all_kernel("argmax", [](KernelCtx& c, auto t) { argmax_kernel<decltype(t)>(c); });
}

}  // namespace ops
}  // namespace ft
