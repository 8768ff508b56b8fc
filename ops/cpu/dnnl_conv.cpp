// cpu/dnnl_conv.cpp — conv2d, conv2d_grad_input and conv2d_grad_filter through
// oneDNN, f32 and bf16 (bf16 operands, f32 accumulation; the filter gradient is
// accumulated in f32 and rounded once); max_pool2d, avg_pool2d and avg_pool2d_grad
// through oneDNN, f32.
//
// The batch is split over flowtrain's pool: one chunk per thread (more where a
// chunk would exceed 128 samples), each a single-threaded oneDNN primitive created
// once per (direction, dtype, chunk shape, layout) and thread, cached, with its
// scratchpad in a per-thread buffer that only grows. Two layouts:
//   onednn          plain NCHW / OIHW, as flowtrain stores tensors: no reorders;
//   onednn-blocked  the layouts oneDNN picks (nChw16c, OIhw16i16o...): activations
//                   are reordered per chunk into per-thread buffers, the filter once
//                   per call (that is, once per step) into a buffer shared by the chunks.
// The filter gradient of chunk i > 0 goes to a partial summed in chunk order, as the
// im2col kernel does: deterministic for a given thread count.
#include "ops/cpu/dnnl_conv.h"

#ifdef FT_HAVE_DNNL
#include <fmt/format.h>
#include <omp.h>

#include <array>
#include <dnnl.hpp>
#include <map>
#include <memory>
#include <unordered_map>

#include "ops/cpu/dnnl_matmul.h"
#include "ops/cpu/kernel_choice.h"
#include "ops/cpu/scratch.h"
#include "ops/op_util.h"
#include "ops/precision.h"

namespace ft {
namespace ops {
namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;
using md = dnnl::memory::desc;

enum Dir { kFwd = 0, kBwdData = 1, kBwdWeights = 2 };
enum Role { kS = 0, kW = 1, kD = 2 };  // src (or diff_src), weights (or diff), dst (or diff_dst)

// x (N, C, H, W), w (O, C, KH, KW), y (N, O, OH, OW)
struct Geom {
  int64_t N, C, H, W, O, KH, KW, OH, OW, s, p;
};

// The geometry of the op's tensors: conv2d (x, w) -> y; conv2d_grad_input
// (g, w, x) -> dx; conv2d_grad_filter (g, x, w) -> dw.
Geom geom_of(Dir d, const KernelCtx& c) {
  const Shape& x = d == kFwd ? c.in(0).shape() : d == kBwdData ? c.in(2).shape() : c.in(1).shape();
  const Shape& w = d == kFwd ? c.in(1).shape() : d == kBwdData ? c.in(1).shape() : c.in(2).shape();
  const Shape& y = d == kFwd ? c.out(0).shape() : c.in(0).shape();
  return {x[0], x[1], x[2], x[3], w[0], w[2], w[3], y[2], y[3], c.attrs().i("stride"), c.attrs().i("padding")};
}

// One primitive with what it needs to run on flowtrain's plain buffers.
struct Prim {
  dnnl::primitive prim;
  std::array<int, 3> arg;             // DNNL_ARG_* per role
  std::array<bool, 3> is_out;         // the role is the primitive's output
  std::array<md, 3> want;             // the primitive's layouts
  std::array<dnnl::memory, 3> mem;    // in `want`, handle set per call
  std::array<dnnl::memory, 3> plain;  // flowtrain's layout, handle set per call
  std::array<std::unique_ptr<dnnl::reorder>, 3> reorder;  // plain -> want (inputs), want -> plain (outputs)
  dnnl::memory scratch;
  size_t scratch_bytes = 0;
  dnnl::memory bias;  // forward with a fused bias (conv2d_bias_act); handle set per call
};

// What a forward convolution fuses: nothing, the bias, or the bias and a ReLU.
enum Post { kNone = 0, kBias = 1, kBiasRelu = 2 };

using Key = std::array<int64_t, 15>;  // dir, dtype, n, C, H, W, O, KH, KW, OH, OW, s, p, blocked, post

// A pooling primitive: max forward (with its workspace), avg forward, avg backward.
enum PoolDir { kMaxFwd = 0, kAvgFwd = 1, kAvgBwd = 2 };
struct PoolPrim {
  dnnl::primitive prim;
  dnnl::memory src, dst, ws;  // src/diff_src, dst/diff_dst; ws for max
};
using PoolKey = std::array<int64_t, 9>;  // dir, n, C, H, W, OH, OW, k, s

struct ThreadState {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{eng};
  std::map<Key, std::unique_ptr<Prim>> cache;
  std::map<PoolKey, std::unique_ptr<PoolPrim>> pool_cache;
  std::array<std::vector<char>, 4> bufs;  // per role, and the scratchpad
  ThreadState() { omp_set_num_threads(1); }  // oneDNN's OpenMP threads: this thread only
  // A 64-byte-aligned buffer of n bytes that only grows.
  char* buf(int i, size_t n) {
    std::vector<char>& b = bufs[size_t(i)];
    if (b.size() < n + 64) {
      std::vector<char>().swap(b);
      b.resize(n + 64);
    }
    return reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(b.data()) + 63) & ~uintptr_t(63));
  }
};

ThreadState& state() {
  thread_local ThreadState s;
  return s;
}

std::unique_ptr<Prim> build(Dir d, dt t, const Geom& g, int64_t n, bool blocked, Post post, ThreadState& ts) {
  using dims = dnnl::memory::dims;
  const dims src{n, g.C, g.H, g.W}, wei{g.O, g.C, g.KH, g.KW}, dst{n, g.O, g.OH, g.OW}, st{g.s, g.s}, pl{g.p, g.p},
      pr{(g.OH - 1) * g.s + g.KH - g.H - g.p, (g.OW - 1) * g.s + g.KW - g.W - g.p};
  const dt wt = d == kBwdWeights ? dt::f32 : t;  // the filter gradient is f32
  const std::array<md, 3> plain = {md(src, t, tag::nchw), md(wei, wt, tag::oihw), md(dst, t, tag::nchw)};
  auto ask = [&](int r) {
    return blocked ? md(r == kS ? src : r == kW ? wei : dst, r == kW ? wt : t, tag::any) : plain[size_t(r)];
  };
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  const auto alg = dnnl::algorithm::convolution_direct;
  // The fused forward: the bias added and the ReLU applied to each output in
  // registers, before the output is stored (and reordered, when blocked).
  dnnl::primitive_attr fattr = attr;
  if (post == kBiasRelu) {
    dnnl::post_ops po;
    po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    fattr.set_post_ops(po);
  }
  const md bias_md({g.O}, t, tag::a);
  // The forward descriptor (with t weights) is the backward ones' hint.
  const md fw = blocked ? md(wei, t, tag::any) : md(wei, t, tag::oihw);
  dnnl::convolution_forward::primitive_desc fpd =
      post == kNone || d != kFwd
          ? dnnl::convolution_forward::primitive_desc(
                dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, alg, ask(kS), fw, ask(kD), st, pl, pr),
                attr, ts.eng)
          : dnnl::convolution_forward::primitive_desc(
                dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, alg, ask(kS), fw, bias_md, ask(kD), st,
                                                pl, pr),
                fattr, ts.eng);
  auto p = std::make_unique<Prim>();
  md scratch;
  if (d == kFwd) {
    p->prim = dnnl::convolution_forward(fpd);
    p->arg = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST};
    p->is_out = {false, false, true};
    p->want = {fpd.src_desc(), fpd.weights_desc(), fpd.dst_desc()};
    scratch = fpd.scratchpad_desc();
  } else if (d == kBwdData) {
    dnnl::convolution_backward_data::primitive_desc pd(
        dnnl::convolution_backward_data::desc(alg, ask(kS), ask(kW), ask(kD), st, pl, pr), attr, ts.eng, fpd);
    p->prim = dnnl::convolution_backward_data(pd);
    p->arg = {DNNL_ARG_DIFF_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_DST};
    p->is_out = {true, false, false};
    p->want = {pd.diff_src_desc(), pd.weights_desc(), pd.diff_dst_desc()};
    scratch = pd.scratchpad_desc();
  } else {
    dnnl::convolution_backward_weights::primitive_desc pd(
        dnnl::convolution_backward_weights::desc(alg, ask(kS), ask(kW), ask(kD), st, pl, pr), attr, ts.eng, fpd);
    p->prim = dnnl::convolution_backward_weights(pd);
    p->arg = {DNNL_ARG_SRC, DNNL_ARG_DIFF_WEIGHTS, DNNL_ARG_DIFF_DST};
    p->is_out = {false, true, false};
    p->want = {pd.src_desc(), pd.diff_weights_desc(), pd.diff_dst_desc()};
    scratch = pd.scratchpad_desc();
  }
  for (size_t r = 0; r < 3; ++r) {
    p->mem[r] = dnnl::memory(p->want[r], ts.eng, nullptr);
    p->plain[r] = dnnl::memory(plain[r], ts.eng, nullptr);
    if (p->want[r] == plain[r]) continue;
    p->reorder[r] = p->is_out[r] ? std::make_unique<dnnl::reorder>(p->mem[r], p->plain[r])
                                 : std::make_unique<dnnl::reorder>(p->plain[r], p->mem[r]);
  }
  p->scratch_bytes = scratch.get_size();
  p->scratch = dnnl::memory(scratch, ts.eng, nullptr);
  if (post != kNone) p->bias = dnnl::memory(bias_md, ts.eng, nullptr);
  return p;
}

Prim& prim(Dir d, dt t, const Geom& g, int64_t n, bool blocked, Post post = kNone) {
  ThreadState& ts = state();
  const Key k = {d, int64_t(t), n, g.C, g.H, g.W, g.O, g.KH, g.KW, g.OH, g.OW, g.s, g.p, blocked, post};
  auto it = ts.cache.find(k);
  if (it == ts.cache.end()) it = ts.cache.emplace(k, build(d, t, g, n, blocked, post, ts)).first;
  return *it->second;
}

// Runs p on plain buffers ptr[role]; a weights buffer already in p.want[kW] layout
// (the filter reordered once for all chunks) is passed as `wei_ready`; a fused
// forward's bias (O values) as `bias`.
void execute(Prim& p, std::array<void*, 3> ptr, void* wei_ready, const void* bias = nullptr) {
  ThreadState& ts = state();
  for (int r = 0; r < 3; ++r) {
    const size_t i = size_t(r);
    if (!p.reorder[i]) {
      p.mem[i].set_data_handle(ptr[i]);
    } else if (r == kW && wei_ready) {
      p.mem[i].set_data_handle(wei_ready);
    } else {
      p.mem[i].set_data_handle(ts.buf(r, p.want[i].get_size()));
      if (!p.is_out[i]) {
        p.plain[i].set_data_handle(ptr[i]);
        p.reorder[i]->execute(ts.stream, p.plain[i], p.mem[i]);
      }
    }
  }
  p.scratch.set_data_handle(ts.buf(3, p.scratch_bytes));
  std::unordered_map<int, dnnl::memory> args = {
      {p.arg[0], p.mem[0]}, {p.arg[1], p.mem[1]}, {p.arg[2], p.mem[2]}, {DNNL_ARG_SCRATCHPAD, p.scratch}};
  if (bias) {
    p.bias.set_data_handle(const_cast<void*>(bias));
    args.emplace(DNNL_ARG_BIAS, p.bias);
  }
  p.prim.execute(ts.stream, args);
  for (size_t i = 0; i < 3; ++i)
    if (p.is_out[i] && p.reorder[i]) {
      p.plain[i].set_data_handle(ptr[i]);
      p.reorder[i]->execute(ts.stream, p.mem[i], p.plain[i]);
    }
  ts.stream.wait();
}

size_t dsize(dt t) { return t == dt::f32 ? 4 : 2; }

// Chunks of the batch: one per thread, and at most kMaxChunk samples each, so the
// per-thread buffers (blocked copies, scratchpads) stay bounded by kMaxChunk samples
// whatever the batch (an evaluation at batch 500 would otherwise grow them ~4x).
constexpr int64_t kMaxChunk = 128;
int64_t chunk_count(int64_t n, int64_t threads) {
  return std::max<int64_t>({1, std::min<int64_t>(threads, n), (n + kMaxChunk - 1) / kMaxChunk});
}

// conv2d or conv2d_grad_input: the batch split into one chunk per thread; the
// filter (an input) reordered once into a buffer the chunks share. `post` fuses
// conv2d_bias_act's bias (input 2) and ReLU into the forward.
void conv_fwd_or_bwd_data(Dir d, dt t, bool blocked, KernelCtx& c, Post post = kNone) {
  const Geom g = geom_of(d, c);
  const char* x = static_cast<const char*>(d == kFwd ? c.in(0).raw() : nullptr);
  const char* gy = static_cast<const char*>(d == kBwdData ? c.in(0).raw() : nullptr);
  void* w = const_cast<void*>(c.in(1).raw());
  char* out = static_cast<char*>(c.out(0).raw());
  const size_t xs = size_t(g.C * g.H * g.W) * dsize(t), ys = size_t(g.O * g.OH * g.OW) * dsize(t);
  const int64_t chunks = chunk_count(g.N, c.pool->threads());
  // The filter's layout is the same for every chunk size in practice; a chunk whose
  // primitive wants another reorders it itself.
  Prim& p0 = prim(d, t, g, (g.N + chunks - 1) / chunks, blocked, post);
  const void* bias = post != kNone ? c.in(2).raw() : nullptr;
  std::vector<char> wbuf;
  void* wready = nullptr;
  if (p0.reorder[kW]) {
    wbuf = BufferPool<char>::get().take(p0.want[kW].get_size() + 64);
    wready = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(wbuf.data()) + 63) & ~uintptr_t(63));
    ThreadState& ts = state();
    p0.plain[kW].set_data_handle(w);
    p0.mem[kW].set_data_handle(wready);
    p0.reorder[kW]->execute(ts.stream, p0.plain[kW], p0.mem[kW]);
    ts.stream.wait();
  }
  c.pool->parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t ch = c0; ch < c1; ++ch) {
      const int64_t n0 = ch * g.N / chunks, n1 = (ch + 1) * g.N / chunks;
      if (n1 == n0) continue;
      Prim& p = prim(d, t, g, n1 - n0, blocked, post);
      void* ready = wready && p.want[kW] == p0.want[kW] ? wready : nullptr;
      if (d == kFwd) execute(p, {const_cast<char*>(x) + size_t(n0) * xs, w, out + size_t(n0) * ys}, ready, bias);
      else execute(p, {out + size_t(n0) * xs, w, const_cast<char*>(gy) + size_t(n0) * ys}, ready);
    }
  });
  if (!wbuf.empty()) BufferPool<char>::get().give(std::move(wbuf));
}

// conv2d_grad_filter: chunk i's filter gradient (f32) into dw (f32, chunk 0) or a
// partial, summed in chunk order; a bf16 dw is rounded once from the f32 sum.
void conv_bwd_weights(dt t, bool blocked, KernelCtx& c) {
  const Geom g = geom_of(kBwdWeights, c);
  char* gy = static_cast<char*>(const_cast<void*>(c.in(0).raw()));
  char* x = static_cast<char*>(const_cast<void*>(c.in(1).raw()));
  Tensor& DW = c.out(0);
  const int64_t wn = g.O * g.C * g.KH * g.KW;
  const size_t xs = size_t(g.C * g.H * g.W) * dsize(t), ys = size_t(g.O * g.OH * g.OW) * dsize(t);
  const int64_t chunks = chunk_count(g.N, c.pool->threads());
  const bool direct = t == dt::f32;  // chunk 0 writes dw itself
  std::vector<float> partial = BufferPool<float>::get().take(size_t((chunks - (direct ? 1 : 0)) * wn));
  auto acc = [&](int64_t ch) {
    return direct ? (ch == 0 ? DW.data<float>() : partial.data() + (ch - 1) * wn) : partial.data() + ch * wn;
  };
  c.pool->parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t ch = c0; ch < c1; ++ch) {
      const int64_t n0 = ch * g.N / chunks, n1 = (ch + 1) * g.N / chunks;
      float* a = acc(ch);
      if (n1 == n0) {
        std::fill(a, a + wn, 0.f);
        continue;
      }
      execute(prim(kBwdWeights, t, g, n1 - n0, blocked), {x + size_t(n0) * xs, a, gy + size_t(n0) * ys}, nullptr);
    }
  });
  float* sum = acc(0);
  for (int64_t ch = 1; ch < chunks; ++ch) {
    const float* pp = acc(ch);
    for (int64_t i = 0; i < wn; ++i) sum[i] += pp[i];
  }
  if (!direct) precision::f32_to_half(sum, DType::BF16, static_cast<uint16_t*>(DW.raw()), wn);
  BufferPool<float>::get().give(std::move(partial));
}

void dnnl_kernel(Dir d, dt t, bool blocked, KernelCtx& c, Post post = kNone) {
  try {
    if (d == kBwdWeights) conv_bwd_weights(t, blocked, c);
    else conv_fwd_or_bwd_data(d, t, blocked, c, post);
  } catch (const dnnl::error& e) {
    throw Error(std::string("oneDNN: ") + e.what());
  }
}

// The chooser kernel of one (op, dtype); `fallback` is the kernel registered before.
void choose(const char* op, Dir d, DType dtype, const Kernel& fallback, KernelCtx& c) {
  const Geom g = geom_of(d, c);
  bool ok = g.N > 0 && g.C > 0 && g.O > 0 && g.OH > 0 && g.OW > 0 && g.H > 0 && g.W > 0;
  for (const Tensor* t : c.inputs) ok = ok && t->dtype() == dtype;
  ok = ok && c.out(0).dtype() == dtype && c.pool;
  if (!ok) return fallback.fn(c);
  const dt t = dtype == DType::BF16 ? dt::bf16 : dt::f32;
  const std::string key = fmt::format("{} {} x({},{},{},{}) w({},{},{},{}) s{} p{}", op, dtype_name(dtype), g.N, g.C,
                                      g.H, g.W, g.O, g.C, g.KH, g.KW, g.s, g.p);
  run_chosen(key, c,
             {{"onednn", [=](KernelCtx& k) { dnnl_kernel(d, t, false, k); }},
              {"onednn-blocked", [=](KernelCtx& k) { dnnl_kernel(d, t, true, k); }},
              {dtype == DType::F32 ? "im2col" : "emulated", fallback.fn}});
}

// conv2d_bias_act f32: oneDNN with the bias and ReLU fused (plain or blocked), or
// "unfused": `fallback` (conv2d's own choice, then the bias and activation in one pass).
void choose_fused(const Kernel& fallback, KernelCtx& c) {
  const Geom g = geom_of(kFwd, c);
  bool ok = g.N > 0 && g.C > 0 && g.O > 0 && g.OH > 0 && g.OW > 0 && g.H > 0 && g.W > 0 && c.pool;
  for (const Tensor* t : c.inputs) ok = ok && t->dtype() == DType::F32;
  if (!ok) return fallback.fn(c);
  const Post post = c.attrs().s("act") == "relu" ? kBiasRelu : kBias;
  const std::string key = fmt::format("conv2d_bias_act{} f32 x({},{},{},{}) w({},{},{},{}) s{} p{}",
                                      post == kBiasRelu ? "(relu)" : "", g.N, g.C, g.H, g.W, g.O, g.C, g.KH, g.KW,
                                      g.s, g.p);
  run_chosen(key, c,
             {{"onednn", [=](KernelCtx& k) { dnnl_kernel(kFwd, dt::f32, false, k, post); }},
              {"onednn-blocked", [=](KernelCtx& k) { dnnl_kernel(kFwd, dt::f32, true, k, post); }},
              {"unfused", fallback.fn}});
}

// ---- pooling (no padding; a window that does not fit at the end is dropped)

PoolPrim& pool_prim(PoolDir d, int64_t n, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t k,
                    int64_t s) {
  ThreadState& ts = state();
  const PoolKey key = {d, n, C, H, W, OH, OW, k, s};
  auto it = ts.pool_cache.find(key);
  if (it != ts.pool_cache.end()) return *it->second;
  using dims = dnnl::memory::dims;
  const md src({n, C, H, W}, dt::f32, tag::nchw), dst({n, C, OH, OW}, dt::f32, tag::nchw);
  const dims st{s, s}, ker{k, k}, pl{0, 0}, pr{(OH - 1) * s + k - H, (OW - 1) * s + k - W};
  const auto alg = d == kMaxFwd ? dnnl::algorithm::pooling_max : dnnl::algorithm::pooling_avg_exclude_padding;
  dnnl::pooling_forward::primitive_desc fpd(
      dnnl::pooling_forward::desc(d == kMaxFwd ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference,
                                  alg, src, dst, st, ker, pl, pr),
      ts.eng);
  auto p = std::make_unique<PoolPrim>();
  if (d == kAvgBwd) {
    dnnl::pooling_backward::primitive_desc bpd(dnnl::pooling_backward::desc(alg, src, dst, st, ker, pl, pr), ts.eng,
                                               fpd);
    p->prim = dnnl::pooling_backward(bpd);
  } else {
    p->prim = dnnl::pooling_forward(fpd);
  }
  p->src = dnnl::memory(src, ts.eng, nullptr);
  p->dst = dnnl::memory(dst, ts.eng, nullptr);
  if (d == kMaxFwd) {
    const md ws = fpd.workspace_desc();
    FT_CHECK(ws.data_type() == dt::u8 && ws == md({n, C, OH, OW}, dt::u8, tag::nchw),
             "oneDNN max pooling: a workspace layout this kernel does not read");
    p->ws = dnnl::memory(ws, ts.eng, nullptr);
  }
  return *ts.pool_cache.emplace(key, std::move(p)).first->second;
}

// max_pool2d x (N, C, H, W) -> y, argmax (N, C, OH, OW) int32 within the plane;
// avg_pool2d x -> y; avg_pool2d_grad (g, x) -> dx. The batch split as for conv2d.
void pool_kernel(PoolDir d, KernelCtx& c) {
  const Shape& x = d == kAvgBwd ? c.in(1).shape() : c.in(0).shape();
  const Shape& y = d == kAvgBwd ? c.in(0).shape() : c.out(0).shape();
  const int64_t N = x[0], C = x[1], H = x[2], W = x[3], OH = y[2], OW = y[3], k = c.attrs().i("k"),
                s = c.attrs().i("stride");
  const int64_t xs = C * H * W, ys = C * OH * OW;
  const int64_t chunks = chunk_count(N, c.pool->threads());
  c.pool->parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t ch = c0; ch < c1; ++ch) {
      const int64_t n0 = ch * N / chunks, n1 = (ch + 1) * N / chunks;
      if (n1 == n0) continue;
      PoolPrim& p = pool_prim(d, n1 - n0, C, H, W, OH, OW, k, s);
      ThreadState& ts = state();
      if (d == kAvgBwd) {
        p.dst.set_data_handle(const_cast<float*>(c.in(0).data<float>()) + n0 * ys);
        p.src.set_data_handle(c.out(0).data<float>() + n0 * xs);
        p.prim.execute(ts.stream, {{DNNL_ARG_DIFF_DST, p.dst}, {DNNL_ARG_DIFF_SRC, p.src}});
        ts.stream.wait();
        continue;
      }
      p.src.set_data_handle(const_cast<float*>(c.in(0).data<float>()) + n0 * xs);
      p.dst.set_data_handle(c.out(0).data<float>() + n0 * ys);
      if (d == kAvgFwd) {
        p.prim.execute(ts.stream, {{DNNL_ARG_SRC, p.src}, {DNNL_ARG_DST, p.dst}});
        ts.stream.wait();
        continue;
      }
      const int64_t m = (n1 - n0) * ys;
      uint8_t* ws = reinterpret_cast<uint8_t*>(ts.buf(0, size_t(m)));
      p.ws.set_data_handle(ws);
      p.prim.execute(ts.stream, {{DNNL_ARG_SRC, p.src}, {DNNL_ARG_DST, p.dst}, {DNNL_ARG_WORKSPACE, p.ws}});
      ts.stream.wait();
      // The workspace holds the window offset kh * k + kw: argmax = (oh s + kh) W + ow s + kw.
      int32_t* am = c.out(1).data<int32_t>() + n0 * ys;
      for (int64_t r = 0; r < (n1 - n0) * C * OH; ++r) {
        const int64_t oh = r % OH;
        const uint8_t* wr = ws + r * OW;
        int32_t* ar = am + r * OW;
        if (k == 2) {
          for (int64_t ow = 0; ow < OW; ++ow)
            ar[ow] = int32_t((oh * s + (wr[ow] >> 1)) * W + ow * s + (wr[ow] & 1));
        } else {
          for (int64_t ow = 0; ow < OW; ++ow) ar[ow] = int32_t((oh * s + wr[ow] / k) * W + ow * s + wr[ow] % k);
        }
      }
    }
  });
}

void choose_pool(const char* op, PoolDir d, const Kernel& fallback, KernelCtx& c) {
  const Shape& x = d == kAvgBwd ? c.in(1).shape() : c.in(0).shape();
  const int64_t k = c.attrs().i("k");
  bool ok = numel(x) > 0 && c.out(0).numel() > 0 && c.pool && k * k <= 255;
  for (const Tensor* t : c.inputs) ok = ok && t->dtype() == DType::F32;
  if (!ok) return fallback.fn(c);
  const std::string key =
      fmt::format("{} f32 x({},{},{},{}) k{} s{}", op, x[0], x[1], x[2], x[3], k, c.attrs().i("stride"));
  run_chosen(key, c,
             {{"onednn",
               [=](KernelCtx& kc) {
                 try {
                   pool_kernel(d, kc);
                 } catch (const dnnl::error& e) {
                   throw Error(std::string("oneDNN: ") + e.what());
                 }
               }},
              {"direct", fallback.fn}});
}

}  // namespace

bool dnnl_conv_available() { return true; }

bool register_dnnl_conv() {
  OpRegistry& r = OpRegistry::get();
  std::vector<DType> types = {DType::F32};
  if (native_bf16_matmul_available()) types.push_back(DType::BF16);
  const std::array<std::pair<const char*, Dir>, 3> ops = {
      {{"conv2d", kFwd}, {"conv2d_grad_input", kBwdData}, {"conv2d_grad_filter", kBwdWeights}}};
  for (const auto& [op, d] : ops)
    for (DType dtype : types) {
      const Kernel* k = r.find_kernel(op, "cpu", dtype);
      FT_CHECK(k && k->fn, std::string("register_dnnl_conv: no CPU kernel for ") + op);
      const Kernel fallback = *k;
      const char* name = op;
      const Dir dir = d;
      r.add_kernel(op, "cpu", dtype, Kernel{[=](KernelCtx& c) { choose(name, dir, dtype, fallback, c); }, {}});
    }
  {
    const Kernel* k = r.find_kernel("conv2d_bias_act", "cpu", DType::F32);
    FT_CHECK(k && k->fn, "register_dnnl_conv: no CPU kernel for conv2d_bias_act");
    const Kernel fallback = *k;
    r.add_kernel("conv2d_bias_act", "cpu", DType::F32, Kernel{[=](KernelCtx& c) { choose_fused(fallback, c); }, {}});
  }
  // Pooling, f32 (autocast keeps pooling in f32). The max-pool gradient stays the
  // direct scatter: it reads flowtrain's argmax, not oneDNN's workspace.
  const std::array<std::pair<const char*, PoolDir>, 3> pools = {
      {{"max_pool2d", kMaxFwd}, {"avg_pool2d", kAvgFwd}, {"avg_pool2d_grad", kAvgBwd}}};
  for (const auto& [op, d] : pools) {
    const Kernel* k = r.find_kernel(op, "cpu", DType::F32);
    FT_CHECK(k && k->fn, std::string("register_dnnl_conv: no CPU kernel for ") + op);
    const Kernel fallback = *k;
    const char* name = op;
    const PoolDir dir = d;
    r.add_kernel(op, "cpu", DType::F32, Kernel{[=](KernelCtx& c) { choose_pool(name, dir, fallback, c); }, {}});
  }
  return true;
}

}  // namespace ops
}  // namespace ft

#else  // no oneDNN at build time

namespace ft {
namespace ops {
bool dnnl_conv_available() { return false; }
bool register_dnnl_conv() { return false; }
}  // namespace ops
}  // namespace ft

#endif
