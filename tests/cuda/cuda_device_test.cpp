// cuda_device_test.cpp — the CUDA device seam. Runs everywhere: the caching
// allocator's logic (on a bounded host heap), device discovery without a GPU,
// kernel coverage of the registry, the dropout hash against the CPU kernel.
// With a GPU: device allocation and out-of-memory, streams, events, copies,
// pinned staging and device-side error reporting.
#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

#include "ops/cuda/cuda.h"
#include "ops/cuda/dropout_hash.h"
#include "ops/ops.h"

using namespace ft;
using namespace ft::cuda;

namespace {

// A raw allocator over malloc with a byte budget, counting live raw blocks.
struct HostHeap {
  size_t budget, used = 0;
  int live = 0;
  std::map<void*, size_t> sizes;
  explicit HostHeap(size_t b) : budget(b) {}
  CachingAllocator make() {
    return CachingAllocator(
        "host-test",
        [this](size_t n) -> void* {
          if (used + n > budget) return nullptr;
          void* p = std::malloc(n);
          used += n;
          sizes[p] = n;
          ++live;
          return p;
        },
        [this](void* p) {
          used -= sizes.at(p);
          sizes.erase(p);
          --live;
          std::free(p);
        },
        [this] { return "heap has " + std::to_string(budget - used) + " bytes left"; });
  }
};

#define REQUIRE_GPU() \
  if (device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine (" << no_device_reason() << ")"

}  // namespace

TEST(CachingAllocator, SizeClasses) {
  EXPECT_EQ(CachingAllocator::size_class(0), 0u);
  EXPECT_EQ(CachingAllocator::size_class(1), 512u);
  EXPECT_EQ(CachingAllocator::size_class(512), 512u);
  EXPECT_EQ(CachingAllocator::size_class(513), 1024u);
  EXPECT_EQ(CachingAllocator::size_class(1 << 20), size_t(1) << 20);
  // above 1 MiB: four classes per power of two
  EXPECT_EQ(CachingAllocator::size_class((1 << 20) + 1), size_t(1280) << 10);
  EXPECT_EQ(CachingAllocator::size_class(size_t(3) << 20), size_t(3) << 20);
  EXPECT_EQ(CachingAllocator::size_class((size_t(3) << 20) + 1), size_t(7) << 19);
  for (size_t b : {size_t(1000), size_t(5) << 20, size_t(123456789)}) {
    const size_t c = CachingAllocator::size_class(b);
    EXPECT_GE(c, b);
    EXPECT_LE(double(c), 1.25 * double(b) + 512) << b;
  }
}

TEST(CachingAllocator, ReusesFreedBlocksAndKeepsStats) {
  HostHeap heap(1 << 24);
  CachingAllocator a = heap.make();
  void* p = a.allocate(1000);
  EXPECT_EQ(a.block_size(p), 1024u);
  EXPECT_EQ(a.stats().in_use, 1024u);
  a.free(p);
  EXPECT_EQ(a.stats().in_use, 0u);
  EXPECT_EQ(a.stats().cached, 1024u);
  void* q = a.allocate(700);  // same class: the cached block comes back
  EXPECT_EQ(q, p);
  EXPECT_EQ(a.stats().cache_hits, 1);
  EXPECT_EQ(a.stats().raw_allocs, 1);
  void* r = a.allocate(5000);
  EXPECT_NE(r, q);
  EXPECT_EQ(a.stats().in_use, 1024u + 5120u);
  EXPECT_EQ(a.stats().peak_in_use, 1024u + 5120u);
  EXPECT_EQ(a.stats().requested, 700u + 5000u);
  a.free(q);
  a.free(r);
  a.free(nullptr);
  EXPECT_EQ(a.stats().peak_in_use, 6144u);
  EXPECT_EQ(heap.live, 2);
  a.empty_cache();
  EXPECT_EQ(heap.live, 0);
  EXPECT_EQ(a.stats().cached, 0u);
  EXPECT_EQ(a.stats().raw_frees, 2);
  EXPECT_EQ(a.allocate(0), nullptr);
  int x = 0;
  EXPECT_THROW(a.free(&x), Error);
}

TEST(CachingAllocator, EmptiesCacheAndRetriesBeforeOutOfMemory) {
  HostHeap heap(8192);
  CachingAllocator a = heap.make();
  a.free(a.allocate(4096));  // 4 KiB cached
  void* p = a.allocate(6000);  // does not fit beside the cached block: cache released, retried
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(a.stats().cached, 0u);
  EXPECT_EQ(heap.live, 1);
  try {
    a.allocate(3000);
    FAIL() << "expected out of memory";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("out of memory"), std::string::npos) << m;
    EXPECT_NE(m.find("2.93 KiB"), std::string::npos) << m;   // the request
    EXPECT_NE(m.find("6.00 KiB"), std::string::npos) << m;   // what is held (class of 6000)
    EXPECT_NE(m.find("heap has"), std::string::npos) << m;   // the backend's memory info
  }
  a.free(p);
}

TEST(CudaDevice, DiscoveryNeverCrashes) {
  const int n = device_count();
  EXPECT_GE(n, 0);
  if (n == 0) {
    EXPECT_FALSE(no_device_reason().empty());
    // Everything that needs a device says so with an ft::Error.
    EXPECT_THROW(compute_stream(), Error);
    EXPECT_THROW(DeviceBuffer(16), Error);
    try {
      device_info(0);
      FAIL();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("no CUDA device"), std::string::npos) << e.what();
    }
  } else {
    EXPECT_TRUE(no_device_reason().empty());
    DeviceInfo d = device_info(0);
    EXPECT_FALSE(d.name.empty());
    EXPECT_GT(d.sm_count, 0);
  }
}

// Registration needs no GPU: every op the MLP, CNN and BERT models use has an
// f32 kernel on "cuda", and the GEMM-heavy ones have f16/bf16 kernels.
TEST(CudaKernels, CoverEveryModelOp) {
  register_kernels();
  register_kernels();  // idempotent
  auto& r = OpRegistry::get();
  const std::vector<std::string> ops = {
      "add", "sub", "mul", "div", "pow", "add_n", "neg", "exp", "log", "sqrt", "rsqrt", "square", "abs", "sign",
      "relu", "gelu", "tanh", "sigmoid", "relu_grad", "gelu_grad", "tanh_grad", "sigmoid_grad", "cast",
      "ones_like", "zeros_like", "stop_gradient", "scale", "add_scalar", "sum_to_like", "broadcast_like", "matmul",
      "reduce_sum", "reduce_mean", "reduce_max", "reduce_grad", "reshape", "reshape_like", "transpose", "concat",
      "split", "split_like", "slice", "slice_grad", "gather", "gather_grad", "argmax", "softmax", "log_softmax",
      "masked_softmax", "softmax_grad", "log_softmax_grad", "sparse_softmax_cross_entropy",
      "sparse_softmax_cross_entropy_grad", "mse", "mse_grad", "layer_norm", "layer_norm_grad", "dropout", "conv2d",
      "conv2d_grad_input", "conv2d_grad_filter", "max_pool2d", "max_pool2d_grad", "avg_pool2d", "avg_pool2d_grad"};
  for (const auto& op : ops) {
    EXPECT_NE(r.find(op), nullptr) << op << " is not an op";
    EXPECT_NE(r.find_kernel(op, "cuda", DType::F32), nullptr) << op;
    EXPECT_NE(r.find_kernel(op, "cuda", DType::F64), nullptr) << op;
  }
  for (const char* op : {"matmul", "add", "mul", "gelu", "softmax", "masked_softmax", "layer_norm",
                         "layer_norm_grad", "dropout", "reduce_sum", "sum_to_like", "transpose", "gather",
                         "gather_grad", "sparse_softmax_cross_entropy", "conv2d", "cast"}) {
    EXPECT_NE(r.find_kernel(op, "cuda", DType::F16), nullptr) << op;
    EXPECT_NE(r.find_kernel(op, "cuda", DType::BF16), nullptr) << op;
  }
  EXPECT_NE(r.find_kernel("one_hot", "cuda", DType::I32), nullptr);
  EXPECT_NE(r.find_kernel("gather", "cuda", DType::I64), nullptr);
  // The CPU kernels are still there.
  EXPECT_NE(r.find_kernel("matmul", "cpu", DType::F32), nullptr);
  EXPECT_TRUE(r.has_kernel("layer_norm", "cuda"));
}

// The CUDA dropout kernel draws from dropout_hash.h; the CPU kernel must give the same mask.
TEST(CudaKernels, DropoutHashMatchesCpuMask) {
  ops::register_all();
  Graph g;
  Tensor xv = Tensor::empty({1000}, DType::F32);
  for (int64_t i = 0; i < xv.numel(); ++i) xv.data<float>()[i] = 1.f;
  auto x = g.constant(xv);
  const double p = 0.3;
  const int64_t seed = 1234;
  auto outs = g.add("dropout", {x}, {{"p", p}, {"seed", seed}});
  Executor ex(g);
  RunOptions opt;
  opt.step = 17;
  Tensor mask = ex.run({}, {outs[1]}, opt)[0].clone();
  const uint64_t key = dropout_key(uint64_t(seed), 17);
  const uint64_t thr = dropout_threshold(p);
  int dropped = 0;
  for (int64_t i = 0; i < 1000; ++i) {
    const bool drop = dropout_bits(key, i) < thr;
    dropped += drop;
    ASSERT_EQ(mask.data<float>()[i], drop ? 0.f : float(1.0 / (1.0 - p))) << "element " << i;
  }
  EXPECT_GT(dropped, 230);
  EXPECT_LT(dropped, 370);
}

// ---- with a GPU

TEST(CudaDevice, AllocatorOnDeviceReusesAndReportsOutOfMemory) {
  REQUIRE_GPU();
  empty_cache();
  const AllocatorStats s0 = memory_stats();
  void* p;
  {
    DeviceBuffer b(3000);
    p = b.get();
    EXPECT_EQ(memory_stats().in_use, s0.in_use + 3072);
  }
  EXPECT_EQ(memory_stats().cached, s0.cached + 3072);
  {
    DeviceBuffer b(2900);
    EXPECT_EQ(b.get(), p);
  }
  try {
    DeviceBuffer huge(size_t(1) << 50);  // 1 PiB
    FAIL() << "expected out of memory";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("out of memory allocating 1048576.00 GiB"), std::string::npos) << m;
    EXPECT_NE(m.find("free of"), std::string::npos) << m;
  }
  DeviceBuffer after(1024);  // the device still works after the failed allocation
  EXPECT_NE(after.get(), nullptr);
}

TEST(CudaDevice, CopiesStreamsAndEvents) {
  REQUIRE_GPU();
  std::vector<float> h(1 << 16), back(h.size());
  for (size_t i = 0; i < h.size(); ++i) h[i] = float(i) * 0.5f;
  DeviceBuffer a(h.size() * sizeof(float)), b(h.size() * sizeof(float));
  copy_to_device(a.get(), h.data(), h.size() * sizeof(float), compute_stream());
  comm_waits_for_compute();  // the comm stream sees the upload
  copy_on_device(b.get(), a.get(), h.size() * sizeof(float), comm_stream());
  Event done;
  done.record(comm_stream());
  done.wait_on(compute_stream());
  copy_to_host(back.data(), b.get(), back.size() * sizeof(float), compute_stream());
  synchronize_compute();
  EXPECT_TRUE(done.ready());
  EXPECT_EQ(back, h);
  Event t0, t1;
  t0.record(compute_stream());
  t1.record(compute_stream());
  t1.synchronize();
  EXPECT_GE(t1.elapsed_ms_since(t0), 0.f);
}

TEST(CudaDevice, TensorRoundTripAndPinnedStaging) {
  REQUIRE_GPU();
  Tensor x = Tensor::from<int64_t>({2, 3}, {1, -2, 3, -4, 5, 1 << 30});
  DeviceTensor d = to_device(x);
  EXPECT_EQ(d.t.shape(), x.shape());
  EXPECT_EQ(to_host(d.t).to_vector<int64_t>(), x.to_vector<int64_t>());
  PinnedStaging stage(1024);
  DeviceBuffer dst(1024);
  std::vector<uint8_t> src(1000), back(1000);
  for (int round = 0; round < 4; ++round) {  // both halves, each reused
    for (size_t i = 0; i < src.size(); ++i) src[i] = uint8_t(i * 7 + size_t(round));
    stage.upload(dst.get(), src.data(), src.size());
    copy_to_host(back.data(), dst.get(), back.size());
    synchronize_compute();
    ASSERT_EQ(back, src) << "round " << round;
  }
  EXPECT_THROW(stage.upload(dst.get(), src.data(), 2048), Error);
}

TEST(CudaDevice, KernelIndexErrorsSurfaceAtSynchronize) {
  REQUIRE_GPU();
  register_kernels();
  Graph g;
  auto params = g.constant(Tensor::from<float>({3, 2}, {1, 2, 3, 4, 5, 6}));
  auto idx = g.constant(Tensor::from<int32_t>({2}, {1, 7}));
  auto y = g.add1("gather", {params, idx});
  const Node& n = g.node(y.node());
  DeviceTensor dp = to_device(g.value(params)), di = to_device(g.value(idx));
  DeviceTensor dy = empty_device({2, 2}, DType::F32);
  KernelCtx ctx{n, {&dp.t, &di.t}, {&dy.t}};
  OpRegistry::get().find_kernel("gather", "cuda", DType::F32)->fn(ctx);
  try {
    synchronize_compute();
    FAIL() << "expected the out-of-range index to be reported";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gather"), std::string::npos) << e.what();
  }
  synchronize_compute();  // the error word was cleared
}
