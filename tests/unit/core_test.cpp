// core_test.cpp — graph building, shape errors, executor planning and scheduling.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <thread>

#include "core/checked.h"
#include "util/gradcheck.h"

using namespace ft;
using ft::testing::eval1;

// Element and byte counts are overflow-checked: shapes like [2^62, 4] come
// from files (checkpoints, IDX headers) and used to wrap to small numbers.
TEST(Tensor, NumelAndBytesOverflowAreErrors) {
  auto err = [](const std::function<void()>& f) -> std::string {
    try {
      f();
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  const int64_t big = int64_t{1} << 62;
  EXPECT_NE(err([&] { numel({big, 4}); }).find("shape [4611686018427387904, 4] has more than 2^63-1 elements"),
            std::string::npos);
  EXPECT_EQ(numel({big, 4, -1}), -1);   // unknown dims are still -1, wherever they are
  EXPECT_EQ(numel({-1, big, 4}), -1);
  EXPECT_EQ(numel({big, 1}), big);
  EXPECT_NE(err([&] { Tensor::empty({big}, DType::F32); }).find("needs more than 2^63 bytes"), std::string::npos);
  EXPECT_NE(err([&] { Tensor::empty({big, 4}, DType::F32); }).find("more than 2^63-1 elements"), std::string::npos);
  EXPECT_EQ(Tensor::empty({3, 0}, DType::F64).bytes(), 0u);
  int64_t r;
  EXPECT_TRUE(checked_mul<int64_t>(big, 1, &r));
  EXPECT_FALSE(checked_mul<int64_t>(big, 2, &r));
  EXPECT_FALSE(checked_add<int64_t>(INT64_MAX, 1, &r));
  EXPECT_FALSE(checked_bytes({big}, 2, &r));
  EXPECT_TRUE(checked_bytes({big / 2}, 2, &r));
  EXPECT_EQ(r, big);
}

TEST(Graph, ShapeMismatchNamesOpAndShapes) {
  Graph g;
  auto a = g.placeholder("a", {-1, 3});
  auto b = g.variable("b", {4, 5}, init::zeros());
  try {
    matmul(a, b);
    FAIL() << "expected a shape error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("matmul"), std::string::npos) << m;
    EXPECT_NE(m.find("[?, 3]"), std::string::npos) << m;
    EXPECT_NE(m.find("[4, 5]"), std::string::npos) << m;
  }
}

TEST(Graph, NameScopesAndUniqueNames) {
  Graph g;
  Value w;
  {
    auto s = g.name_scope("fc1");
    w = g.variable("w", {2, 2}, init::ones());
  }
  EXPECT_EQ(w.name(), "fc1/w");
  EXPECT_THROW(g.variable("fc1/w", {2}, init::zeros()), Error);
  EXPECT_EQ(g.trainable().size(), 1u);
}

TEST(Graph, VariablesInitDependsOnNameNotOrder) {
  Graph g1(7), g2(7);
  auto a1 = g1.variable("a", {10}, init::normal(1.0));
  g2.variable("b", {10}, init::normal(1.0));
  auto a2 = g2.variable("a", {10}, init::normal(1.0));
  EXPECT_EQ(g1.value(a1).to_vector<float>(), g2.value(a2).to_vector<float>());
}

TEST(Executor, FeedsAndFetches) {
  Graph g;
  auto x = g.placeholder("x", {-1, 2});
  auto w = g.constant(Tensor::from<float>({2, 2}, {1, 2, 3, 4}));
  auto y = relu(matmul(x, w) + g.scalar(-5.0));
  Executor ex(g);
  auto out = ex.run({{x, Tensor::from<float>({1, 2}, {1, 1})}}, {y});
  EXPECT_EQ(out[0].to_vector<float>(), (std::vector<float>{0, 1}));
  out = ex.run({{x, Tensor::from<float>({2, 2}, {1, 1, 2, 2})}}, {y});
  EXPECT_EQ(out[0].to_vector<float>(), (std::vector<float>{0, 1, 3, 7}));
}

// The plan's shapes follow the feed: -1 resolved, a reshape's inferred dim too,
// and a node the fusion absorbs (the matmul and the add of matmul_bias_act) has
// its fused step's shape.
TEST(Executor, ShapesAreThePlansResolvedShapes) {
  Graph g;
  auto x = g.placeholder("x", {-1, 2});
  auto w = g.constant(Tensor::from<float>({2, 3}, {1, 2, 3, 4, 5, 6}));
  auto b = g.constant(Tensor::from<float>({3}, {1, 1, 1}));
  auto mm = matmul(x, w);
  auto y = relu(mm + b);
  auto flat = reshape(y, {-1});
  for (bool fuse : {true, false}) {
    Executor ex(g);
    ex.set_fusion(fuse);
    const Executor::Feeds feeds = {{x, Tensor::zeros({4, 2}, DType::F32)}};
    const auto shapes = ex.shapes(feeds, {flat});
    EXPECT_EQ(shapes.at(mm.node()), (std::vector<Shape>{{4, 3}}));
    EXPECT_EQ(shapes.at(y.node()), (std::vector<Shape>{{4, 3}}));
    EXPECT_EQ(shapes.at(flat.node()), (std::vector<Shape>{{12}}));
    EXPECT_EQ(shapes.at(x.node()), (std::vector<Shape>{{4, 2}}));
    EXPECT_EQ(ex.order(feeds, {flat}).size(), shapes.size());  // every node of the plan, once
  }
}

TEST(Executor, MissingFeedAndBadFeedAreErrors) {
  Graph g;
  auto x = g.placeholder("x", {-1, 2});
  auto y = x * 2.0;
  Executor ex(g);
  EXPECT_THROW(ex.run({}, {y}), Error);
  EXPECT_THROW(ex.run({{x, Tensor::zeros({3}, DType::F32)}}, {y}), Error);
}

TEST(Executor, MemoryPlanReusesBuffers) {
  Graph g;
  auto x = g.placeholder("x", {64, 64});
  Value h = x;
  for (int i = 0; i < 20; ++i) h = tanh(h) * 0.5;
  Executor ex(g);
  Executor::Feeds feeds = {{x, Tensor::zeros({64, 64}, DType::F32)}};
  const PlanStats& st = ex.stats(feeds, {h});
  EXPECT_EQ(st.unplanned_bytes, 40u * 64 * 64 * 4);
  EXPECT_LE(st.arena_bytes, 3u * 64 * 64 * 4);
}

// Two executors sharing a HostArena take turns in one block as big as the
// larger plan; a plan compiled before the block grew rebinds to the new one and
// still computes the same values as an executor with its own arenas.
TEST(Executor, SharedHostArenaIsTheLargerPlanAndRebinds) {
  Graph g;
  auto x = g.placeholder("x", {-1, 16});
  auto w = g.constant(ft::testing::rand32({16, 16}, 7));
  Value h = x;
  for (int i = 0; i < 4; ++i) h = tanh(matmul(h, w));
  auto arena = std::make_shared<HostArena>();
  Executor a(g), b(g), own(g);
  a.set_host_arena(arena);
  b.set_host_arena(arena);
  const Tensor small = ft::testing::rand32({2, 16}, 1), big = ft::testing::rand32({256, 16}, 2);
  const auto want_small = own.run({{x, small}}, {h})[0].to_vector<float>();
  const auto want_big = own.run({{x, big}}, {h})[0].to_vector<float>();
  EXPECT_EQ(a.run({{x, small}}, {h})[0].to_vector<float>(), want_small);
  const size_t small_bytes = a.last_stats().arena_bytes;
  EXPECT_GE(arena->bytes(), small_bytes);
  EXPECT_EQ(b.run({{x, big}}, {h})[0].to_vector<float>(), want_big);  // grows the block
  const size_t big_bytes = b.last_stats().arena_bytes;
  ASSERT_GT(big_bytes, small_bytes);
  EXPECT_GE(arena->bytes(), big_bytes);
  EXPECT_LT(arena->bytes(), big_bytes + small_bytes);  // the larger plan, not the sum
  EXPECT_EQ(a.run({{x, small}}, {h})[0].to_vector<float>(), want_small);  // rebound after the growth
  EXPECT_EQ(b.run({{x, big}}, {h})[0].to_vector<float>(), want_big);
}

TEST(Executor, ConcurrentRunMatchesSequential) {
  ThreadPool pool2(2), pool1(1);
  Graph g;
  auto x = g.placeholder("x", {32, 32});
  std::vector<Value> branches;
  for (int b = 0; b < 8; ++b) {
    Value h = x;
    for (int i = 0; i < 5; ++i) h = sigmoid(matmul(h, x) * 0.1);
    branches.push_back(h);
  }
  auto y = add_n(branches);
  Tensor xt = ft::testing::rand32({32, 32}, 3);
  Executor e1(g, &pool1), e2(g, &pool2);
  auto a = e1.run({{x, xt}}, {y})[0].clone();
  for (int rep = 0; rep < 20; ++rep) {
    auto b = e2.run({{x, xt}}, {y})[0];
    ASSERT_EQ(a.to_vector<float>(), b.to_vector<float>());
  }
}

TEST(Executor, KernelErrorNamesTheOp) {
  Graph g;
  auto x = g.placeholder("x", {-1});
  auto y = reshape(x, {3, -1});
  Executor ex(g);
  try {
    ex.run({{x, Tensor::zeros({4}, DType::F32)}}, {y});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("reshape"), std::string::npos) << e.what();
  }
}

// An async kernel that completes on another thread with a failed status:
// the status becomes the run's error, named like a throwing kernel's.
namespace {
void register_failing_async_op() {
  static bool once = [] {
    OpDef d;
    d.name = "test_async_fail";
    d.num_inputs = 1;
    d.is_async = true;
    d.stateful = true;
    d.shape = [](ShapeCtx& c) { c.set(0, c.in_shapes[0], c.in_dtypes[0]); };
    OpRegistry::get().add_op(d);
    Kernel k;
    k.async_fn = [](KernelCtx& c, DoneFn done) {
      const bool fail = c.attrs().i("fail") != 0;
      c.out(0).copy_from(c.in(0));  // y = x
      std::thread([done, fail] { done(fail ? Status::failed("link to rank 3 lost") : Status()); }).detach();
    };
    OpRegistry::get().add_kernel("test_async_fail", "cpu", DType::F32, k);
    return true;
  }();
  (void)once;
}
}  // namespace

TEST(Executor, FailedAsyncStatusIsTheRunsError) {
  register_failing_async_op();
  for (int threads : {1, 3}) {
    Graph g;
    auto x = g.placeholder("x", {2});
    auto ok = g.add1("test_async_fail", {x * 2.0f}, {{"fail", int64_t(0)}}, "fine");
    auto bad = g.add1("test_async_fail", {ok}, {{"fail", int64_t(1)}}, "bucket_7");
    auto y = relu(bad);
    ThreadPool pool(threads);
    Executor ex(g, &pool);
    const Tensor xt = Tensor::from<float>({2}, {1, -1});
    try {
      ex.run({{x, xt}}, {y});
      FAIL() << "expected an error";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()), "op 'bucket_7' (test_async_fail): link to rank 3 lost");
    }
    // The plan stays usable: a graph whose async nodes succeed runs.
    EXPECT_EQ(ex.run({{x, xt}}, {ok})[0].to_vector<float>(), (std::vector<float>{2, -2}));
  }
}

TEST(Gradients, ChainRuleThroughMatmulAndRelu) {
  ft::testing::check_gradients(
      [](Graph&, const std::vector<Value>& v) { return relu(matmul(v[0], v[1]) + v[2]); },
      {ft::testing::rand64({3, 4}, 1), ft::testing::rand64({4, 5}, 2), ft::testing::rand64({5}, 3)});
}

TEST(Gradients, UnusedVariableGetsZeros) {
  Graph g;
  auto a = g.variable("a", {2}, init::ones());
  auto b = g.variable("b", {3}, init::ones());
  auto gr = gradients(sum(a * a), {a, b});
  auto out = ft::testing::eval(g, gr);
  EXPECT_EQ(out[0].to_vector<float>(), (std::vector<float>{2, 2}));
  EXPECT_EQ(out[1].to_vector<float>(), (std::vector<float>{0, 0, 0}));
}
