// cuda_ops_test.cpp — one harness runs every op on "cuda" against the CPU kernel
// on the same random inputs, typed over f32 / f64 / f16 / bf16 with per-op
// tolerances: inputs are rounded to the dtype, the CPU reference runs in f64 on
// the rounded values, the CUDA kernel in the dtype. Also the fused optimizer
// updates against the formulas of optim/, the f16/bf16 conversion kernels
// against ops/precision (bit for bit), loss-scale checks and TF32 GEMM accuracy.
// Without a GPU the CUDA comparisons skip; the harness self-test (every case
// built and run on the CPU) still runs.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>

#include "ops/cuda/cuda.h"
#include "ops/ops.h"
#include "ops/precision.h"
#include "optim/loss_scale.h"

using namespace ft;

namespace {

#define REQUIRE_GPU()                                                                                \
  if (cuda::device_count() == 0)                                                                     \
  GTEST_SKIP() << "no CUDA device on this machine (" << cuda::no_device_reason() << ")"

Tensor rnd(const Shape& s, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  Tensor t = Tensor::empty(s, DType::F64);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> d(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<double>()[i] = d(rng);
  return t;
}
template <class I> Tensor ints(const Shape& s, std::vector<I> v) { return Tensor::from<I>(s, v); }

bool is_floating(DType t) { return t == DType::F32 || t == DType::F64 || t == DType::F16 || t == DType::BF16; }

// A float tensor rounded to dt and back to f64 (ints unchanged).
Tensor rounded(const Tensor& x, DType dt) {
  if (!is_floating(x.dtype())) return x;
  return precision::convert(precision::convert(x, dt), DType::F64);
}

struct Case {
  Case(std::string l, std::string o, std::vector<Tensor> in, AttrMap a = {}, double t = 1.0,
       std::vector<DType> d = {DType::F32, DType::F64, DType::F16, DType::BF16})
      : label(std::move(l)), op(std::move(o)), inputs(std::move(in)), attrs(std::move(a)), tol(t), dtypes(std::move(d)) {}
  std::string label;
  std::string op;
  std::vector<Tensor> inputs;  // floats as f64 (converted per dtype), ints as they are
  AttrMap attrs;
  double tol;  // multiplier of the dtype's tolerance
  std::vector<DType> dtypes;
};

double base_tol(DType dt) {
  switch (dt) {
    case DType::F64: return 1e-10;
    case DType::F32: return 2e-5;
    case DType::F16: return 4e-3;
    default: return 3e-2;  // bf16
  }
}

// Runs the case's op on `device` with float inputs in `dt`; returns every output
// as f64 (floats) or in its own dtype (ints).
std::vector<Tensor> run_op(const Case& c, const std::vector<Tensor>& inputs64, DType dt, const std::string& device) {
  std::vector<Tensor> in;
  for (const Tensor& x : inputs64) in.push_back(is_floating(x.dtype()) ? precision::convert(x, dt) : x.clone());
  Graph g;
  std::vector<Value> vals;
  for (const Tensor& x : in) vals.push_back(g.constant(x));
  auto outs = g.add(c.op, vals, c.attrs);
  const Node& n = g.node(outs[0].node());
  std::vector<DType> in_dtypes;
  for (const Tensor& x : in) in_dtypes.push_back(x.dtype());
  const Kernel* k = OpRegistry::get().find_kernel(c.op, device, dispatch_dtype(n, in_dtypes));
  if (!k) throw Error("no " + device + " kernel for " + c.op + " at " + dtype_name(dispatch_dtype(n, in_dtypes)));
  std::vector<Tensor> result;
  if (device == "cpu") {
    std::vector<Tensor> out;
    for (size_t i = 0; i < n.out_shapes.size(); ++i) out.push_back(Tensor::empty(n.out_shapes[i], n.out_dtypes[i]));
    KernelCtx ctx{n, {}, {}, &ThreadPool::global()};
    for (auto& t : in) ctx.inputs.push_back(&t);
    for (auto& t : out) ctx.outputs.push_back(&t);
    ctx.step = 3;
    k->fn(ctx);
    result = out;
  } else {
    std::vector<cuda::DeviceTensor> din, dout;
    for (const Tensor& t : in) din.push_back(cuda::to_device(t));
    for (size_t i = 0; i < n.out_shapes.size(); ++i) dout.push_back(cuda::empty_device(n.out_shapes[i], n.out_dtypes[i]));
    KernelCtx ctx{n, {}, {}, &ThreadPool::global()};
    for (auto& t : din) ctx.inputs.push_back(&t.t);
    for (auto& t : dout) ctx.outputs.push_back(&t.t);
    ctx.step = 3;
    k->fn(ctx);
    cuda::synchronize_compute();
    for (auto& t : dout) result.push_back(cuda::to_host(t.t));
  }
  for (auto& t : result)
    if (is_floating(t.dtype()) && t.dtype() != DType::F64) t = precision::convert(t, DType::F64);
  return result;
}

// Compares `got` with the f64 CPU reference on the same rounded inputs.
void compare(const Case& c, DType dt, const std::string& device) {
  std::vector<Tensor> in64;
  for (const Tensor& x : c.inputs) in64.push_back(rounded(x, dt));
  const std::vector<Tensor> ref = run_op(c, in64, DType::F64, "cpu");
  const std::vector<Tensor> got = run_op(c, in64, dt, device);
  ASSERT_EQ(ref.size(), got.size()) << c.label;
  const double tol = base_tol(dt) * c.tol;
  for (size_t o = 0; o < ref.size(); ++o) {
    ASSERT_EQ(ref[o].shape(), got[o].shape()) << c.label << " output " << o;
    int bad = 0;
    for (int64_t i = 0; i < ref[o].numel() && bad < 5; ++i) {
      const double r = ref[o].at(i), v = got[o].at(i);
      const bool ok = is_floating(ref[o].dtype()) ? std::fabs(r - v) <= tol * (1.0 + std::fabs(r)) : r == v;
      if (!ok) {
        ++bad;
        ADD_FAILURE() << c.label << " [" << dtype_name(dt) << " on " << device << "] output " << o << " element " << i
                      << ": got " << v << ", want " << r << " (tol " << tol << ")";
      }
    }
  }
}

std::vector<Case> all_cases() {
  using D = DType;
  std::vector<Case> cs;
  auto add = [&](Case c) { cs.push_back(std::move(c)); };
  const Tensor a = rnd({4, 5}, 1), b = rnd({4, 5}, 2), pos = rnd({4, 5}, 3, 0.2, 2.0);
  // elementwise, broadcasting
  add({"add same", "add", {a, b}});
  add({"add bias", "add", {rnd({3, 4, 5}, 4), rnd({5}, 5)}});
  add({"add general broadcast", "add", {rnd({3, 1, 4}, 6), rnd({2, 1}, 7)}});
  add({"sub scalar", "sub", {a, rnd({}, 8)}});
  add({"mul broadcast", "mul", {rnd({2, 3, 1}, 9), rnd({1, 4}, 10)}});
  add({"div", "div", {a, pos}, {}, 2});
  add({"pow", "pow", {pos, b}, {}, 2, {D::F32, D::F64}});
  add({"add_n", "add_n", {a, b, pos}});
  for (const char* op : {"neg", "exp", "square", "abs", "sign", "relu", "tanh", "sigmoid", "gelu"})
    add({op, op, {rnd({6, 7}, 11)}, {}, 2});
  for (const char* op : {"log", "sqrt", "rsqrt"}) add({op, op, {rnd({6, 7}, 12, 0.1, 3.0)}, {}, 2});
  add({"scale", "scale", {a}, {{"s", 0.25}}});
  add({"add_scalar", "add_scalar", {a}, {{"s", -1.5}}});
  for (const char* op : {"relu_grad", "tanh_grad", "sigmoid_grad", "gelu_grad"})
    add({op, op, {rnd({5, 9}, 13), rnd({5, 9}, 14)}, {}, 2});
  add({"sum_to_like bias", "sum_to_like", {rnd({6, 4, 5}, 15), rnd({5}, 16)}, {}, 4});
  add({"sum_to_like middle", "sum_to_like", {rnd({6, 4, 5}, 17), rnd({4, 1}, 18)}, {}, 4});
  add({"broadcast_like", "broadcast_like", {rnd({1, 5}, 19), rnd({3, 4, 5}, 20)}});
  add({"cast f->i32", "cast", {rnd({10}, 21, -5, 5)}, {{"to", int64_t(D::I32)}}});
  add({"cast f->f32", "cast", {rnd({10}, 22)}, {{"to", int64_t(D::F32)}}, 1, {D::F64, D::F16, D::BF16}});
  add({"zeros_like", "zeros_like", {a}});
  add({"ones_like", "ones_like", {a}});
  add({"stop_gradient", "stop_gradient", {a}});
  // matmul (fp32 without TF32 here; see MatmulTf32)
  const std::vector<D> mm_dt = {D::F32, D::F64, D::F16, D::BF16};
  add({"matmul", "matmul", {rnd({7, 9}, 30), rnd({9, 5}, 31)}, {}, 4, mm_dt});
  add({"matmul ta", "matmul", {rnd({9, 7}, 32), rnd({9, 5}, 33)}, {{"transpose_a", true}}, 4, mm_dt});
  add({"matmul tb", "matmul", {rnd({7, 9}, 34), rnd({5, 9}, 35)}, {{"transpose_b", true}}, 4, mm_dt});
  add({"matmul ta tb", "matmul", {rnd({9, 7}, 36), rnd({5, 9}, 37)},
       {{"transpose_a", true}, {"transpose_b", true}}, 4, mm_dt});
  add({"matmul batched tb", "matmul", {rnd({2, 3, 7, 9}, 38), rnd({2, 3, 5, 9}, 39)}, {{"transpose_b", true}}, 4,
       mm_dt});
  add({"matmul rank3 x weights", "matmul", {rnd({2, 7, 9}, 40), rnd({9, 5}, 41)}, {}, 4, mm_dt});
  // reductions
  const Tensor x3 = rnd({3, 4, 5}, 50);
  add({"reduce_sum axis1", "reduce_sum", {x3}, {{"axes", std::vector<int64_t>{1}}, {"keepdims", false}}, 4});
  add({"reduce_sum all", "reduce_sum", {x3}, {{"axes", std::vector<int64_t>{}}, {"keepdims", false}}, 8});
  add({"reduce_sum non-contiguous", "reduce_sum", {x3}, {{"axes", std::vector<int64_t>{0, 2}}, {"keepdims", true}}, 4});
  add({"reduce_mean last", "reduce_mean", {x3}, {{"axes", std::vector<int64_t>{-1}}, {"keepdims", false}}, 4});
  add({"reduce_max first", "reduce_max", {x3}, {{"axes", std::vector<int64_t>{0}}, {"keepdims", false}}});
  add({"reduce_sum columns", "reduce_sum", {rnd({600, 24}, 51)}, {{"axes", std::vector<int64_t>{0}}}, 30,
       {D::F32, D::F64}});
  {
    AttrMap ra = {{"axes", std::vector<int64_t>{1}}, {"keepdims", false}};
    const Tensor g = rnd({3, 5}, 52);
    AttrMap s = ra, m = ra, mx = ra;
    s.set("mode", std::string("sum"));
    m.set("mode", std::string("mean"));
    mx.set("mode", std::string("max"));
    add({"reduce_grad sum", "reduce_grad", {g, x3}, s});
    add({"reduce_grad mean", "reduce_grad", {g, x3}, m});
    Case mc{"reduce_max (for its grad)", "reduce_max", {x3}, ra};
    const Tensor y = run_op(mc, {x3}, D::F64, "cpu")[0];
    add({"reduce_grad max", "reduce_grad", {g, x3, y}, mx});
  }
  // nn
  add({"softmax", "softmax", {rnd({6, 37}, 60, -3, 3)}, {}, 2});
  add({"log_softmax", "log_softmax", {rnd({6, 37}, 61, -3, 3)}, {}, 4});
  add({"softmax_grad", "softmax_grad", {rnd({6, 37}, 62), rnd({6, 37}, 63, 0, 1)}, {}, 4});
  add({"log_softmax_grad", "log_softmax_grad", {rnd({6, 37}, 64), rnd({6, 37}, 65, -3, 0)}, {}, 4});
  {
    Tensor mask = Tensor::zeros({2, 1, 1, 8}, D::F64);
    for (int i = 0; i < 5; ++i) mask.data<double>()[i] = 1;  // batch 0: first 5 positions; batch 1: all masked
    add({"masked_softmax", "masked_softmax", {rnd({2, 3, 4, 8}, 66, -3, 3), mask}, {}, 2});
  }
  add({"sparse_softmax_cross_entropy", "sparse_softmax_cross_entropy",
       {rnd({6, 11}, 67, -3, 3), ints<int32_t>({6}, {0, 3, 10, -1, 5, 5})}, {}, 4});
  add({"sparse_softmax_cross_entropy i64", "sparse_softmax_cross_entropy",
       {rnd({4, 300}, 68, -3, 3), ints<int64_t>({4}, {299, 0, 17, 150})}, {}, 4, {D::F32, D::F64}});
  add({"sparse_softmax_cross_entropy_grad", "sparse_softmax_cross_entropy_grad",
       {rnd({6}, 69), rnd({6, 11}, 70, 0, 1), ints<int32_t>({6}, {0, 3, 10, -1, 5, 5})}});
  add({"mse", "mse", {rnd({4, 6}, 71), rnd({4, 6}, 72)}, {}, 4});
  add({"mse_grad", "mse_grad", {rnd({}, 73), rnd({4, 6}, 74), rnd({4, 6}, 75)}, {}, 2});
  add({"layer_norm", "layer_norm", {rnd({2, 3, 40}, 76, -2, 2), rnd({40}, 77, 0.5, 1.5), rnd({40}, 78)},
       {{"eps", 1e-5}}, 4});
  add({"layer_norm_grad", "layer_norm_grad",
       {rnd({2, 3, 40}, 79), rnd({2, 3, 40}, 80), rnd({40}, 81, 0.5, 1.5), rnd({2, 3}, 82, -0.5, 0.5),
        rnd({2, 3}, 83, 0.5, 2.0)},
       {}, 8});
  add({"layer_norm_grad many rows", "layer_norm_grad",
       {rnd({300, 16}, 84), rnd({300, 16}, 85), rnd({16}, 86, 0.5, 1.5), rnd({300}, 87, -0.5, 0.5),
        rnd({300}, 88, 0.5, 2.0)},
       {}, 40, {D::F32, D::F64}});
  add({"dropout", "dropout", {rnd({1000}, 89)}, {{"p", 0.3}, {"seed", int64_t(42)}}});
  // shape
  add({"transpose 0213", "transpose", {rnd({2, 3, 4, 5}, 90)}, {{"perm", std::vector<int64_t>{0, 2, 1, 3}}}});
  add({"transpose 201", "transpose", {rnd({3, 4, 5}, 91)}, {{"perm", std::vector<int64_t>{2, 0, 1}}}});
  add({"concat", "concat", {rnd({2, 3, 4}, 92), rnd({2, 1, 4}, 93)}, {{"axis", int64_t(1)}}});
  add({"split", "split", {rnd({2, 6, 3}, 94)}, {{"sizes", std::vector<int64_t>{1, 5}}, {"axis", int64_t(1)}}});
  add({"split_like", "split_like", {rnd({4, 5}, 95), rnd({4, 2}, 96), rnd({4, 3}, 97)}, {{"axis", int64_t(-1)}}});
  add({"slice", "slice", {rnd({4, 6, 5}, 98)},
       {{"begin", std::vector<int64_t>{1, 2, 0}}, {"size", std::vector<int64_t>{2, -1, 3}}}});
  add({"slice_grad", "slice_grad", {rnd({2, 4, 3}, 99), rnd({4, 6, 5}, 100)},
       {{"begin", std::vector<int64_t>{1, 2, 0}}, {"size", std::vector<int64_t>{2, -1, 3}}}});
  add({"gather i32", "gather", {rnd({7, 3}, 101), ints<int32_t>({2, 2}, {6, 0, 3, 3})}});
  add({"gather i64", "gather", {rnd({7, 3}, 102), ints<int64_t>({3}, {1, 1, 5})}});
  add({"gather_grad", "gather_grad", {rnd({5, 3}, 103), ints<int32_t>({5}, {2, 0, 2, 6, 2}), rnd({7, 3}, 104)}, {},
       2});
  add({"one_hot", "one_hot", {ints<int32_t>({4}, {0, 3, -1, 9})}, {{"depth", int64_t(5)}}, 1, {D::F32}});
  add({"argmax", "argmax", {rnd({3, 7, 2}, 105)}, {{"axis", int64_t(1)}}, 1, {D::F32, D::F64}});
  // conv and pooling
  const AttrMap same = {{"stride", int64_t(1)}, {"padding", int64_t(1)}};
  const AttrMap strided = {{"stride", int64_t(2)}, {"padding", int64_t(0)}};
  const AttrMap point = {{"stride", int64_t(1)}, {"padding", int64_t(0)}};
  const Tensor cx = rnd({2, 3, 9, 9}, 110), cw = rnd({4, 3, 3, 3}, 111);
  add({"conv2d same", "conv2d", {cx, cw}, same, 8});
  add({"conv2d strided", "conv2d", {cx, cw}, strided, 8});
  add({"conv2d 1x1", "conv2d", {cx, rnd({4, 3, 1, 1}, 112)}, point, 4});
  add({"conv2d_grad_input", "conv2d_grad_input", {rnd({2, 4, 9, 9}, 113), cw, cx}, same, 8});
  add({"conv2d_grad_input strided", "conv2d_grad_input", {rnd({2, 4, 4, 4}, 114), cw, cx}, strided, 8});
  add({"conv2d_grad_filter", "conv2d_grad_filter", {rnd({2, 4, 9, 9}, 115), cx, cw}, same, 20});
  add({"conv2d_grad_filter 1x1", "conv2d_grad_filter", {rnd({2, 4, 9, 9}, 116), cx, rnd({4, 3, 1, 1}, 117)}, point,
       20});
  const AttrMap pool = {{"k", int64_t(2)}, {"stride", int64_t(2)}};
  const Tensor px = rnd({2, 3, 8, 8}, 118);
  add({"max_pool2d", "max_pool2d", {px}, pool});
  add({"avg_pool2d", "avg_pool2d", {px}, pool});
  add({"avg_pool2d overlapping", "avg_pool2d", {px}, {{"k", int64_t(3)}, {"stride", int64_t(2)}}});
  add({"avg_pool2d_grad", "avg_pool2d_grad", {rnd({2, 3, 3, 3}, 119), px}, {{"k", int64_t(3)}, {"stride", int64_t(2)}}});
  {
    Case mp{"max_pool2d (for its grad)", "max_pool2d", {px}, pool};
    const Tensor am = run_op(mp, {px}, D::F64, "cpu")[1];
    add({"max_pool2d_grad", "max_pool2d_grad", {rnd({2, 3, 4, 4}, 120), am, px}, pool});
  }
  return cs;
}

class CudaOps : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cuda::register_kernels();
    if (cuda::device_count() > 0) cuda::set_allow_tf32(false);  // strict fp32 for the comparisons
  }
};

}  // namespace

// Runs on any machine: each case builds and its CPU kernel runs in f32 and f64,
// so on a GPU machine the only new variable is the CUDA kernel.
TEST_F(CudaOps, HarnessCasesRunOnCpu) {
  const auto cases = all_cases();
  EXPECT_GT(cases.size(), 80u);
  for (const Case& c : cases) {
    for (DType dt : {DType::F32, DType::F64}) {
      if (std::find(c.dtypes.begin(), c.dtypes.end(), dt) == c.dtypes.end()) continue;
      compare(c, dt, "cpu");
    }
    for (DType dt : c.dtypes) {
      const DType kd = is_floating(c.inputs[0].dtype()) ? dt : c.inputs[0].dtype();
      EXPECT_NE(OpRegistry::get().find_kernel(c.op, "cuda", kd), nullptr) << c.label << " " << dtype_name(kd);
    }
  }
}

TEST_F(CudaOps, EveryOpMatchesCpuF32) {
  REQUIRE_GPU();
  for (const Case& c : all_cases()) compare(c, DType::F32, "cuda");
}

TEST_F(CudaOps, EveryOpMatchesCpuF64) {
  REQUIRE_GPU();
  for (const Case& c : all_cases())
    if (std::find(c.dtypes.begin(), c.dtypes.end(), DType::F64) != c.dtypes.end()) compare(c, DType::F64, "cuda");
}

TEST_F(CudaOps, HalfPrecisionOpsMatchCpu) {
  REQUIRE_GPU();
  for (DType dt : {DType::F16, DType::BF16})
    for (const Case& c : all_cases())
      if (std::find(c.dtypes.begin(), c.dtypes.end(), dt) != c.dtypes.end()) compare(c, dt, "cuda");
}

TEST_F(CudaOps, MatmulTf32IsCloseAndFullFp32IsExactish) {
  REQUIRE_GPU();
  Case c{"matmul large k", "matmul", {rnd({64, 256}, 200), rnd({256, 48}, 201)}};
  cuda::set_allow_tf32(true);
  c.tol = 1e-2 / base_tol(DType::F32);  // TF32 keeps 10 mantissa bits
  compare(c, DType::F32, "cuda");
  cuda::set_allow_tf32(false);
  c.tol = 20;
  compare(c, DType::F32, "cuda");
}

// ---- fused optimizer updates vs the formulas of optim/sgd.h and optim/adam.h

namespace {

struct Buffers {
  std::vector<float> host;
  cuda::DeviceBuffer dev;
  explicit Buffers(std::vector<float> h) : host(std::move(h)), dev(host.size() * sizeof(float)) {
    cuda::copy_to_device(dev.get(), host.data(), host.size() * sizeof(float));
  }
  float* d() { return static_cast<float*>(dev.get()); }
  std::vector<float> fetch() {
    std::vector<float> v(host.size());
    cuda::copy_to_host(v.data(), dev.get(), v.size() * sizeof(float));
    cuda::synchronize_compute();
    return v;
  }
};

std::vector<float> rvec(size_t n, uint64_t seed, double lo = -1, double hi = 1) {
  Tensor t = rnd({int64_t(n)}, seed, lo, hi);
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = float(t.data<double>()[i]);
  return v;
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, double tol, const char* what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], tol * (1 + std::fabs(want[i]))) << what << " element " << i;
}

}  // namespace

TEST(CudaOptim, SgdMomentumNesterovMatchFormulas) {
  REQUIRE_GPU();
  const size_t n = 1000;
  for (bool nesterov : {false, true}) {
    std::vector<float> w = rvec(n, 1), v(n, 0.f);
    Buffers dw(w), dv(v);
    cuda::SgdParams p;
    p.lr = 0.1f;
    p.momentum = 0.9f;
    p.weight_decay = 0.01f;
    p.nesterov = nesterov;
    for (int step = 0; step < 3; ++step) {
      std::vector<float> g = rvec(n, 10 + uint64_t(step));
      Buffers dg(g);
      cuda::sgd_update(dw.d(), dg.d(), dv.d(), int64_t(n), p);
      for (size_t i = 0; i < n; ++i) {
        const float gi = g[i] + p.weight_decay * w[i];
        v[i] = p.momentum * v[i] + gi;
        w[i] -= p.lr * (nesterov ? gi + p.momentum * v[i] : v[i]);
      }
    }
    expect_close(dw.fetch(), w, 1e-6, "w");
    expect_close(dv.fetch(), v, 1e-6, "v");
  }
}

TEST(CudaOptim, AdamAdamWLambMatchFormulas) {
  REQUIRE_GPU();
  const size_t n = 777;
  cuda::AdamParams p;
  p.lr = 0.01f;
  p.weight_decay = 0.05f;
  for (int kind = 0; kind < 3; ++kind) {  // adam, adamw, lamb
    std::vector<float> w = rvec(n, 2), m(n, 0.f), v(n, 0.f);
    Buffers dw(w), dm(m), dv(v);
    cuda::LambWorkspace ws;
    for (int64_t t = 1; t <= 3; ++t) {
      p.step = t;
      std::vector<float> g = rvec(n, 20 + uint64_t(t));
      Buffers dg(g);
      if (kind == 2) cuda::lamb_update(dw.d(), dg.d(), dm.d(), dv.d(), int64_t(n), p, ws);
      else cuda::adam_update(dw.d(), dg.d(), dm.d(), dv.d(), int64_t(n), p, kind == 1);
      const float c1 = float(1.0 / (1.0 - std::pow(0.9, double(t)))), c2 = float(1.0 / (1.0 - std::pow(0.999, double(t))));
      std::vector<float> u(n);
      for (size_t i = 0; i < n; ++i) {
        const float gi = kind == 0 ? g[i] + p.weight_decay * w[i] : g[i];
        m[i] = p.beta1 * m[i] + (1 - p.beta1) * gi;
        v[i] = p.beta2 * v[i] + (1 - p.beta2) * gi * gi;
        u[i] = (m[i] * c1) / (std::sqrt(v[i] * c2) + p.eps) + (kind == 0 ? 0.f : p.weight_decay * w[i]);
      }
      double r = 1.0;
      if (kind == 2) {
        double wn = 0, un = 0;
        for (size_t i = 0; i < n; ++i) {
          wn += double(w[i]) * w[i];
          un += double(u[i]) * u[i];
        }
        r = (wn > 0 && un > 0) ? std::sqrt(wn) / std::sqrt(un) : 1.0;
      }
      for (size_t i = 0; i < n; ++i) w[i] -= float(p.lr * r) * u[i];
    }
    expect_close(dw.fetch(), w, 2e-5, kind == 0 ? "adam w" : kind == 1 ? "adamw w" : "lamb w");
    expect_close(dm.fetch(), m, 1e-6, "m");
    expect_close(dv.fetch(), v, 1e-6, "v");
  }
}

// ---- mixed precision

TEST(CudaPrecision, ConversionKernelsMatchCpuBitForBit) {
  REQUIRE_GPU();
  std::vector<float> x = rvec(5000, 30, -70000, 70000);
  const std::vector<float> special = {0.f, -0.f, 1.f, 65504.f, 65519.f, 65520.f, 1e-8f, std::ldexp(1.f, -24),
                                      std::ldexp(1.f, -25), 3 * std::ldexp(1.f, -25), 1.f + std::ldexp(1.f, -11),
                                      1.f + std::ldexp(1.f, -8), 3.4e38f, std::numeric_limits<float>::infinity()};
  x.insert(x.end(), special.begin(), special.end());
  std::vector<float> small = rvec(5000, 31, -1e-4, 1e-4);  // f16 subnormals
  x.insert(x.end(), small.begin(), small.end());
  const int64_t n = int64_t(x.size());
  Buffers dx(x);
  cuda::DeviceBuffer h(size_t(n) * 2), back(size_t(n) * 4);
  for (DType dt : {DType::F16, DType::BF16}) {
    cuda::convert(dx.d(), DType::F32, h.get(), dt, n);
    std::vector<uint16_t> bits(static_cast<size_t>(n));
    cuda::copy_to_host(bits.data(), h.get(), bits.size() * 2);
    cuda::convert(h.get(), dt, back.get(), DType::F32, n);
    std::vector<float> wide(static_cast<size_t>(n));
    cuda::copy_to_host(wide.data(), back.get(), wide.size() * 4);
    cuda::synchronize_compute();
    for (int64_t i = 0; i < n; ++i) {
      const uint16_t want = dt == DType::F16 ? precision::f32_to_f16_bits(x[size_t(i)])
                                             : precision::f32_to_bf16_bits(x[size_t(i)]);
      ASSERT_EQ(bits[size_t(i)], want) << dtype_name(dt) << " of " << x[size_t(i)];
      const float w = dt == DType::F16 ? precision::f16_bits_to_f32(want) : precision::bf16_bits_to_f32(want);
      ASSERT_EQ(wide[size_t(i)], w) << dtype_name(dt) << " back from bits " << want;
    }
  }
}

TEST(CudaPrecision, UnscaleFindsInfAndDrivesTheLossScaler) {
  REQUIRE_GPU();
  optim::LossScalerConfig cfg;
  cfg.init_scale = 1024;
  optim::LossScaler scaler(cfg);
  cuda::DeviceBuffer flag(sizeof(int));
  cuda::memset_device(flag.get(), 0, sizeof(int));
  int* found = static_cast<int*>(flag.get());
  Buffers g(std::vector<float>{1024.f, -2048.f, 512.f});
  cuda::unscale_and_check(g.d(), 3, float(1.0 / scaler.scale()), found);
  EXPECT_FALSE(cuda::read_and_clear_flag(found));
  EXPECT_EQ(g.fetch(), (std::vector<float>{1.f, -2.f, 0.5f}));
  EXPECT_TRUE(scaler.update(false));
  // bf16 gradients with an overflowed element
  std::vector<uint16_t> hb = {precision::f32_to_bf16_bits(2.f), precision::f32_to_bf16_bits(
                                                                    std::numeric_limits<float>::infinity())};
  cuda::DeviceBuffer gb(4);
  cuda::copy_to_device(gb.get(), hb.data(), 4);
  Buffers out(std::vector<float>(2, 0.f));
  cuda::unscale_to_f32(gb.get(), DType::BF16, out.d(), 2, 0.5f, found);
  const bool inf = cuda::read_and_clear_flag(found);
  EXPECT_TRUE(inf);
  EXPECT_EQ(out.fetch()[0], 1.f);
  EXPECT_FALSE(scaler.update(inf));  // the step is skipped, the scale halves
  EXPECT_EQ(scaler.scale(), 512);
  EXPECT_FALSE(cuda::read_and_clear_flag(found));  // cleared
}
