// executor_stress_test.cpp — many short runs of a wide graph on a multi-thread
// pool, with asynchronous ops that complete on their own thread. The executor's
// per-run state must outlive run() for as long as a pool thread or a completion
// still touches it: under AddressSanitizer (detect_stack_use_after_return=1,
// as the sanitizer job runs it) a closure left on run()'s stack is reported
// here within a few thousand runs.
#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "core/core.h"
#include "ops/ops.h"

using namespace ft;

namespace {

// One thread that runs queued completions, like the comm engine's thread.
class Completer {
 public:
  Completer() : t_([this] { loop(); }) {}
  ~Completer() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    t_.join();
  }
  void post(std::function<void()> f) {
    {
      std::lock_guard<std::mutex> l(mu_);
      q_.push_back(std::move(f));
    }
    cv_.notify_all();
  }
  static Completer& get() {
    static Completer c;
    return c;
  }

 private:
  void loop() {
    std::unique_lock<std::mutex> l(mu_);
    for (;;) {
      cv_.wait(l, [&] { return stop_ || !q_.empty(); });
      if (q_.empty()) return;
      auto f = std::move(q_.front());
      q_.pop_front();
      l.unlock();
      f();
      l.lock();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> q_;
  bool stop_ = false;
  std::thread t_;
};

// y = x + 1, computed on the completer thread, then done().
void register_async_op() {
  static bool done = [] {
    OpRegistry& reg = OpRegistry::get();
    OpDef d;
    d.name = "test_async_inc";
    d.num_inputs = 1;
    d.is_async = true;
    d.stateful = true;
    d.shape = [](ShapeCtx& c) { c.set(0, c.in_shapes[0], c.in_dtypes[0]); };
    reg.add_op(d);
    Kernel k;
    k.async_fn = [](KernelCtx& c, DoneFn fin) {
      const float* x = c.in(0).data<float>();
      float* y = c.out(0).data<float>();
      const int64_t n = c.in(0).numel();
      Completer::get().post([x, y, n, fin] {
        for (int64_t i = 0; i < n; ++i) y[i] = x[i] + 1.0f;
        fin(Status());
      });
    };
    reg.add_kernel("test_async_inc", "cpu", DType::F32, k);
    return true;
  }();
  (void)done;
}

Value async_inc(Value x) { return x.graph().add1("test_async_inc", {x}); }

}  // namespace

// Wide graph: 8 independent branches, each x*w_i -> async +1 -> relu, summed.
// The last node to finish alternates between compute and async completions.
TEST(ExecutorStress, ManyShortRunsOnThreeThreads) {
  register_async_op();
  Graph g(3);
  Value x = g.placeholder("x", {-1, 4});
  Value total;
  for (int b = 0; b < 8; ++b) {
    Value w = g.variable("w" + std::to_string(b), {4, 4}, init::constant(0.25 * (b + 1)));
    Value h = async_inc(matmul(x, w));
    Value r = relu(h);
    total = total.defined() ? total + r : r;
  }
  Value out = sum(async_inc(total));
  ThreadPool pool(3);
  Executor ex(g, &pool);
  Tensor xv = Tensor::from<float>({2, 4}, std::vector<float>(8, 1.0f));
  // Each branch b: every entry of x*w_b is 4 * 0.25 (b+1) = b+1, +1 -> b+2; sum over
  // branches 2+...+9 = 44 per entry, +1 -> 45, over 8 entries = 360.
  const int runs = 5000;
  int wrong = 0;
  for (int i = 0; i < runs; ++i) {
    RunOptions ro;
    ro.step = i;
    auto res = ex.run({{x, xv}}, {out}, ro);
    if (res[0].item<float>() != 360.0f) ++wrong;
  }
  EXPECT_EQ(wrong, 0);
}

// Two threads, two async branches joined by the last compute node.
TEST(ExecutorStress, TwoThreadsTwoAsyncBranches) {
  register_async_op();
  Graph g(3);
  Value x = g.placeholder("x", {-1, 4});
  Value w = g.variable("w", {4, 4}, init::constant(1.0));
  Value a = async_inc(matmul(x, w));
  Value b = async_inc(matmul(x, w));
  Value out = sum(a + b);
  ThreadPool pool(2);
  Executor ex(g, &pool);
  Tensor ok = Tensor::from<float>({3, 4}, std::vector<float>(12, 1.0f));
  for (int i = 0; i < 1000; ++i) {
    auto res = ex.run({{x, ok}}, {out});
    ASSERT_EQ(res[0].item<float>(), 3 * 4 * 2 * 5.0f);
  }
}
