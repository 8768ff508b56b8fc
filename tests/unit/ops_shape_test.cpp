// ops_shape_test.cpp — shape ops: forward values by hand, finite-difference
// gradients, unknown (-1) dims and the errors for bad axes, perms and indices.
#include <gtest/gtest.h>

#include "ops/op_util.h"
#include "util/gradcheck.h"

using namespace ft;
using ft::testing::check_gradients;
using ft::testing::eval1;
using ft::testing::rand32;
using ft::testing::rand64;

namespace {

template <class T>
std::vector<T> iota(int64_t n, T start = T(0)) {
  std::vector<T> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = start + T(i);
  return v;
}

// Builds the graph with f and expects a build-time Error whose message holds every word.
template <class F>
void expect_error(F f, const std::vector<std::string>& words) {
  try {
    f();
    ADD_FAILURE() << "expected an ft::Error";
  } catch (const Error& e) {
    std::string m = e.what();
    for (const auto& w : words) EXPECT_NE(m.find(w), std::string::npos) << "'" << w << "' not in: " << m;
  }
}

// Reference transpose by index arithmetic.
std::vector<float> naive_transpose(const Tensor& x, const std::vector<int64_t>& perm) {
  const Shape& s = x.shape();
  const int r = x.rank();
  Shape os;
  for (int64_t p : perm) os.push_back(s[size_t(p)]);
  auto is = ops::strides_of(s), ostr = ops::strides_of(os);
  std::vector<float> out(static_cast<size_t>(x.numel()));
  for (int64_t o = 0; o < x.numel(); ++o) {
    int64_t rem = o, src = 0;
    for (int i = 0; i < r; ++i) {
      int64_t v = rem / ostr[size_t(i)];
      rem %= ostr[size_t(i)];
      src += v * is[size_t(perm[size_t(i)])];
    }
    out[size_t(o)] = x.data<float>()[src];
  }
  return out;
}

}  // namespace

// ---- transpose

TEST(Transpose, Matrix) {
  Graph g;
  auto x = g.constant(Tensor::from<float>({2, 3}, {1, 2, 3, 4, 5, 6}));
  Tensor y = eval1(g, transpose(x, {1, 0}));
  EXPECT_EQ(y.shape(), (Shape{3, 2}));
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
}

TEST(Transpose, HeadsBTHDtoBHTD) {
  // (B=1, T=2, H=2, D=2) -> (1, 2, 2, 2): rows (t, h) become (h, t).
  Graph g;
  auto x = g.constant(Tensor::from<float>({1, 2, 2, 2}, iota<float>(8)));
  Tensor y = eval1(g, transpose(x, {0, 2, 1, 3}));
  EXPECT_EQ(y.shape(), (Shape{1, 2, 2, 2}));
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{0, 1, 4, 5, 2, 3, 6, 7}));
}

TEST(Transpose, Rank3Rotation) {
  // (2, 1, 3) with perm (2, 0, 1) -> (3, 2, 1): y[k][i][0] = x[i][0][k].
  Graph g;
  auto x = g.constant(Tensor::from<float>({2, 1, 3}, {1, 2, 3, 4, 5, 6}));
  Tensor y = eval1(g, transpose(x, {2, 0, -2}));
  EXPECT_EQ(y.shape(), (Shape{3, 2, 1}));
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
}

TEST(Transpose, LargeShapesMatchReference) {
  // Exercise the contiguous-run path, the tiled path (sizes not multiples of the
  // tile) and size-1 dims, on a pool with several threads.
  struct Case { Shape s; std::vector<int64_t> perm; };
  std::vector<Case> cases = {{{3, 17, 4, 24}, {0, 2, 1, 3}},  {{67, 45}, {1, 0}},
                             {{5, 33, 1, 40}, {3, 0, 2, 1}}, {{2, 3, 4, 5, 6}, {4, 2, 0, 3, 1}},
                             {{1, 1, 7}, {2, 1, 0}},          {{4, 5, 6}, {0, 1, 2}},
                             {{3, 4, 17, 24}, {0, 1, 3, 2}}};
  ThreadPool pool(3);
  for (const auto& cs : cases) {
    Graph g;
    Tensor xt = rand32(cs.s, 7);
    auto y = transpose(g.constant(xt), cs.perm);
    Executor ex(g, &pool);
    Tensor out = ex.run({}, {y})[0];
    EXPECT_EQ(out.to_vector<float>(), naive_transpose(xt, cs.perm)) << shape_str(cs.s);
  }
}

TEST(Transpose, IntegerDtypes) {
  Graph g;
  auto a = g.constant(Tensor::from<int32_t>({2, 2}, {1, 2, 3, 4}));
  auto b = g.constant(Tensor::from<int64_t>({2, 2}, {1, 2, 3, 4}));
  EXPECT_EQ(eval1(g, transpose(a, {1, 0})).to_vector<int32_t>(), (std::vector<int32_t>{1, 3, 2, 4}));
  EXPECT_EQ(eval1(g, transpose(b, {1, 0})).to_vector<int64_t>(), (std::vector<int64_t>{1, 3, 2, 4}));
}

TEST(Transpose, UnknownDims) {
  Graph g;
  auto x = g.placeholder("x", {-1, 3});
  auto y = transpose(x, {1, 0});
  EXPECT_EQ(y.shape(), (Shape{3, -1}));
  Tensor out = eval1(g, y, {{x, Tensor::from<float>({1, 3}, {7, 8, 9})}});
  EXPECT_EQ(out.shape(), (Shape{3, 1}));
  EXPECT_EQ(out.to_vector<float>(), (std::vector<float>{7, 8, 9}));
}

TEST(Transpose, Gradients) {
  check_gradients([](Graph&, const std::vector<Value>& v) { return transpose(v[0], {2, 0, 1}); },
                  {rand64({2, 3, 4}, 1)});
  check_gradients([](Graph&, const std::vector<Value>& v) { return transpose(v[0], {0, 2, 1, 3}); },
                  {rand64({2, 3, 2, 2}, 2)});
}

TEST(Transpose, BadPermIsBuildError) {
  Graph g;
  auto x = g.placeholder("x", {2, 3, 4});
  expect_error([&] { transpose(x, {1, 0}); }, {"transpose", "perm", "[2, 3, 4]"});
  expect_error([&] { transpose(x, {0, 0, 1}); }, {"transpose", "repeats axis 0"});
  expect_error([&] { transpose(x, {0, 1, 3}); }, {"transpose", "out of range"});
}

// ---- concat

TEST(Concat, AlongEachAxis) {
  Graph g;
  auto a = g.constant(Tensor::from<float>({2, 1}, {1, 2}));
  auto b = g.constant(Tensor::from<float>({2, 2}, {3, 4, 5, 6}));
  Tensor y = eval1(g, concat({a, b}, 1));
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{1, 3, 4, 2, 5, 6}));
  auto c = g.constant(Tensor::from<float>({1, 2}, {7, 8}));
  Tensor z = eval1(g, concat({b, c, b}, -2));
  EXPECT_EQ(z.shape(), (Shape{5, 2}));
  EXPECT_EQ(z.to_vector<float>(), (std::vector<float>{3, 4, 5, 6, 7, 8, 3, 4, 5, 6}));
}

TEST(Concat, MiddleAxisRank3AndInts) {
  Graph g;
  auto a = g.constant(Tensor::from<int32_t>({2, 1, 2}, {1, 2, 3, 4}));
  auto b = g.constant(Tensor::from<int32_t>({2, 2, 2}, {5, 6, 7, 8, 9, 10, 11, 12}));
  Tensor y = eval1(g, concat({a, b}, 1));
  EXPECT_EQ(y.shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(y.to_vector<int32_t>(), (std::vector<int32_t>{1, 2, 5, 6, 7, 8, 3, 4, 9, 10, 11, 12}));
}

TEST(Concat, UnknownDimsAndGradientThroughThem) {
  Graph g;
  auto x = g.placeholder("x", {-1, 2}, DType::F64);
  auto w = g.variable("w", {3, 2}, init::constant(2.0), DType::F64);
  auto y = concat({x, w}, 0);
  EXPECT_EQ(y.shape(), (Shape{-1, 2}));
  auto p = g.placeholder("p", {-1, 3});
  EXPECT_EQ(concat({p, g.placeholder("q", {4, 5})}, 1).shape(), (Shape{4, 8}));
  // d sum(y^2)/dw = 2w; the split back into pieces happens at run time.
  auto gw = gradients(sum(y * y), {w})[0];
  Tensor xt = Tensor::from<double>({1, 2}, {1, 1});
  Tensor out = eval1(g, gw, {{x, xt}});
  EXPECT_EQ(out.to_vector<double>(), std::vector<double>(6, 4.0));
}

TEST(Concat, Gradients) {
  check_gradients([](Graph&, const std::vector<Value>& v) { return concat({v[0], v[1], v[2]}, 1); },
                  {rand64({2, 1, 3}, 1), rand64({2, 2, 3}, 2), rand64({2, 3, 3}, 3)});
  check_gradients([](Graph&, const std::vector<Value>& v) { return concat({v[0], v[1]}, 0); },
                  {rand64({1, 4}, 4), rand64({2, 4}, 5)});
}

TEST(Concat, BadInputsAreBuildErrors) {
  Graph g;
  auto a = g.placeholder("a", {2, 3});
  auto b = g.placeholder("b", {3, 3});
  expect_error([&] { concat({a, b}, 1); }, {"concat", "differs in dim 0", "[2, 3]", "[3, 3]"});
  expect_error([&] { concat({a, b}, 2); }, {"concat", "axis 2 out of range"});
  expect_error([&] { concat({a, g.placeholder("c", {2, 3}, DType::F64)}, 0); }, {"concat", "f64"});
}

// ---- split

TEST(Split, PiecesAndRest) {
  Graph g;
  auto x = g.constant(Tensor::from<float>({2, 5}, iota<float>(10)));
  auto s = split(x, {2, -1}, 1);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[1].shape(), (Shape{2, 3}));
  auto out = ft::testing::eval(g, s);
  EXPECT_EQ(out[0].to_vector<float>(), (std::vector<float>{0, 1, 5, 6}));
  EXPECT_EQ(out[1].to_vector<float>(), (std::vector<float>{2, 3, 4, 7, 8, 9}));
  auto r = split(x, {1, 1}, 0);
  EXPECT_EQ(eval1(g, r[1]).to_vector<float>(), (std::vector<float>{5, 6, 7, 8, 9}));
}

TEST(Split, Gradients) {
  // The middle piece is unused: its gradient is zero.
  check_gradients([](Graph&, const std::vector<Value>& v) {
    auto s = split(v[0], {1, 2, 1}, 0);
    return s[0] * s[2] + s[0];
  }, {rand64({4, 3}, 1)});
  check_gradients([](Graph&, const std::vector<Value>& v) {
    auto s = split(v[0], {2, 2}, -1);
    return concat({s[1], s[0]}, -1);
  }, {rand64({2, 3, 4}, 2)});
}

TEST(Split, BadSizesAreErrors) {
  Graph g;
  auto x = g.placeholder("x", {-1, 5});
  expect_error([&] { split(x, {2, 2}, 1); }, {"split", "sum to 4", "is 5"});
  expect_error([&] { split(x, {-1, -1}, 1); }, {"split", "more than one -1"});
  expect_error([&] { split(x, {2, 3}, 2); }, {"split", "axis 2 out of range"});
  // Unknown at build time, checked when the run's shapes are known.
  auto s = split(x, {1, 1}, 0);
  EXPECT_EQ(s[0].shape(), (Shape{1, 5}));
  Executor ex(g);
  EXPECT_THROW(ex.run({{x, Tensor::zeros({3, 5}, DType::F32)}}, {s[0]}), Error);
}

// ---- slice

TEST(Slice, ForwardWithToTheEnd) {
  Graph g;
  auto x = g.constant(Tensor::from<float>({3, 4}, iota<float>(12)));
  Tensor y = eval1(g, slice(x, {1, 1}, {2, -1}));
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{5, 6, 7, 9, 10, 11}));
  Tensor z = eval1(g, slice(x, {0, 2}, {-1, 1}));
  EXPECT_EQ(z.to_vector<float>(), (std::vector<float>{2, 6, 10}));
  Tensor rows = eval1(g, slice(x, {1, 0}, {1, 4}));  // one contiguous run
  EXPECT_EQ(rows.to_vector<float>(), (std::vector<float>{4, 5, 6, 7}));
}

TEST(Slice, UnknownDims) {
  Graph g;
  auto x = g.placeholder("x", {-1, 4});
  auto y = slice(x, {1, 0}, {-1, 2});
  EXPECT_EQ(y.shape(), (Shape{-1, 2}));
  Tensor out = eval1(g, y, {{x, Tensor::from<float>({2, 4}, iota<float>(8))}});
  EXPECT_EQ(out.shape(), (Shape{1, 2}));
  EXPECT_EQ(out.to_vector<float>(), (std::vector<float>{4, 5}));
  // Out of range only once the fed shape is known.
  auto bad = slice(x, {2, 0}, {2, -1});
  Executor ex(g);
  try {
    ex.run({{x, Tensor::zeros({3, 4}, DType::F32)}}, {bad});
    ADD_FAILURE() << "expected a run-time shape error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("slice"), std::string::npos) << e.what();
  }
}

TEST(Slice, Gradients) {
  check_gradients([](Graph&, const std::vector<Value>& v) { return slice(v[0], {1, 0, 2}, {2, -1, 2}); },
                  {rand64({3, 2, 5}, 1)});
}

TEST(Slice, BadBoundsAreBuildErrors) {
  Graph g;
  auto x = g.placeholder("x", {3, 4});
  expect_error([&] { slice(x, {2, 0}, {2, 4}); }, {"slice", "exceeds dim 0"});
  expect_error([&] { slice(x, {0}, {1}); }, {"slice", "one entry per dim"});
  expect_error([&] { slice(x, {-1, 0}, {1, 1}); }, {"slice", "negative"});
}

// ---- gather

TEST(Gather, EmbeddingLookup) {
  Graph g;
  auto p = g.constant(Tensor::from<float>({4, 2}, iota<float>(8)));
  auto i32 = g.constant(Tensor::from<int32_t>({2, 2}, {3, 0, 1, 3}));
  Tensor y = eval1(g, gather(p, i32));
  EXPECT_EQ(y.shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{6, 7, 0, 1, 2, 3, 6, 7}));
  auto i64 = g.constant(Tensor::from<int64_t>({3}, {2, 2, 0}));
  EXPECT_EQ(eval1(g, gather(p, i64)).to_vector<float>(), (std::vector<float>{4, 5, 4, 5, 0, 1}));
  // Rank-1 params: a lookup table of scalars.
  auto t = g.constant(Tensor::from<float>({3}, {10, 20, 30}));
  EXPECT_EQ(eval1(g, gather(t, i64)).to_vector<float>(), (std::vector<float>{30, 30, 10}));
}

TEST(Gather, GradientSumsRepeatedRows) {
  Graph g;
  auto p = g.variable("p", {3, 2}, init::ones());
  auto idx = g.constant(Tensor::from<int64_t>({4}, {2, 0, 2, 2}));
  auto gp = gradients(sum(gather(p, idx)), {p})[0];
  EXPECT_EQ(eval1(g, gp).to_vector<float>(), (std::vector<float>{1, 1, 0, 0, 3, 3}));
  check_gradients([](Graph&, const std::vector<Value>& v) { return gather(v[0], v[1]); },
                  {rand64({5, 3}, 1), Tensor::from<int64_t>({2, 3}, {1, 4, 1, 0, 4, 4})});
  check_gradients([](Graph&, const std::vector<Value>& v) { return gather(v[0], v[1]); },
                  {rand64({4, 2, 2}, 2), Tensor::from<int32_t>({3}, {3, 3, 0})});
}

TEST(Gather, IndexOutOfRangeAtRunTime) {
  Graph g;
  auto p = g.variable("p", {5, 2}, init::ones());
  auto idx = g.placeholder("idx", {-1}, DType::I32);
  auto y = gather(p, idx);
  Executor ex(g);
  for (int32_t bad : {7, -1}) {
    try {
      ex.run({{idx, Tensor::from<int32_t>({3}, {0, bad, 1})}}, {y});
      ADD_FAILURE() << "expected an out-of-range error";
    } catch (const Error& e) {
      std::string m = e.what();
      EXPECT_NE(m.find("gather"), std::string::npos) << m;
      EXPECT_NE(m.find("index " + std::to_string(bad)), std::string::npos) << m;
      EXPECT_NE(m.find("V = 5"), std::string::npos) << m;
    }
  }
  EXPECT_THROW(gather(p, g.placeholder("f", {2})), Error);  // float indices
}

// ---- one_hot, argmax

TEST(OneHot, RowsAndIgnoredIndices) {
  Graph g;
  auto i = g.constant(Tensor::from<int32_t>({3}, {2, 0, -1}));
  Tensor y = eval1(g, one_hot(i, 3));
  EXPECT_EQ(y.dtype(), DType::F32);
  EXPECT_EQ(y.shape(), (Shape{3, 3}));
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{0, 0, 1, 1, 0, 0, 0, 0, 0}));
  auto j = g.constant(Tensor::from<int64_t>({1, 2}, {1, 1}));
  Tensor z = eval1(g, one_hot(j, 2));
  EXPECT_EQ(z.shape(), (Shape{1, 2, 2}));
  EXPECT_EQ(z.to_vector<float>(), (std::vector<float>{0, 1, 0, 1}));
  expect_error([&] { one_hot(i, 0); }, {"one_hot", "depth"});
}

TEST(Argmax, EachAxis) {
  Graph g;
  auto x = g.constant(Tensor::from<float>({2, 3}, {1, 5, 2, 7, 0, 7}));
  Tensor a = eval1(g, argmax(x));
  EXPECT_EQ(a.dtype(), DType::I64);
  EXPECT_EQ(a.to_vector<int64_t>(), (std::vector<int64_t>{1, 0}));  // ties: first index
  Tensor b = eval1(g, argmax(x, 0));
  EXPECT_EQ(b.shape(), (Shape{3}));
  EXPECT_EQ(b.to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 1}));
  auto d = g.constant(Tensor::from<double>({2, 2, 2}, {0, 9, 3, 1, 5, 2, 4, 8}));
  EXPECT_EQ(eval1(g, argmax(d, 1)).to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 0, 1}));
  expect_error([&] { argmax(x, 2); }, {"argmax", "axis 2 out of range"});
}

TEST(Argmax, NoGradientFlowsThroughIndices) {
  Graph g;
  auto w = g.variable("w", {2, 3}, init::ones());
  auto y = sum(w * cast(one_hot(argmax(w), 3), DType::F32));
  auto gw = gradients(y, {w})[0];
  EXPECT_EQ(eval1(g, gw).to_vector<float>(), (std::vector<float>{1, 0, 0, 1, 0, 0}));
}
