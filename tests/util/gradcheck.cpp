// gradcheck.cpp
#include "util/gradcheck.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

namespace ft {
namespace testing {

Tensor rand64(const Shape& s, uint64_t seed, double lo, double hi) {
  Tensor t = Tensor::empty(s, DType::F64);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> d(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<double>()[i] = d(rng);
  return t;
}

Tensor rand32(const Shape& s, uint64_t seed, double lo, double hi) {
  Tensor t = Tensor::empty(s, DType::F32);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> d(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = float(d(rng));
  return t;
}

std::vector<Tensor> eval(Graph& g, const std::vector<Value>& fetches, const Executor::Feeds& feeds) {
  Executor ex(g);
  auto out = ex.run(feeds, fetches);
  for (auto& t : out) t = t.clone();
  return out;
}

Tensor eval1(Graph& g, Value v, const Executor::Feeds& feeds) { return eval(g, {v}, feeds)[0]; }

FusionPair run_fused_and_plain(const std::function<std::vector<Value>(Graph&, Executor::Feeds&)>& build) {
  FusionPair r;
  for (bool fuse : {true, false}) {
    Graph g;
    Executor::Feeds feeds;
    const std::vector<Value> fetches = build(g, feeds);
    Executor ex(g);
    ex.set_fusion(fuse);
    std::vector<Tensor>& out = fuse ? r.fused : r.plain;
    for (const Tensor& t : ex.run(feeds, fetches)) out.push_back(t.clone());
    (fuse ? r.fused_steps : r.plain_steps) = ex.stats(feeds, fetches).nodes;
  }
  return r;
}

void expect_bit_identical(const FusionPair& r) {
  ASSERT_EQ(r.fused.size(), r.plain.size());
  for (size_t i = 0; i < r.fused.size(); ++i) {
    ASSERT_EQ(r.fused[i].shape(), r.plain[i].shape()) << "output " << i;
    ASSERT_EQ(r.fused[i].dtype(), r.plain[i].dtype()) << "output " << i;
    const size_t es = dtype_size(r.fused[i].dtype());
    const auto* f = static_cast<const unsigned char*>(r.fused[i].raw());
    const auto* p = static_cast<const unsigned char*>(r.plain[i].raw());
    for (int64_t j = 0; j < r.fused[i].numel(); ++j)
      ASSERT_EQ(std::memcmp(f + size_t(j) * es, p + size_t(j) * es, es), 0) << "output " << i << " element " << j;
  }
}

void check_gradients(const std::function<Value(Graph&, const std::vector<Value>&)>& f,
                     const std::vector<Tensor>& inputs, double tol, double eps) {
  Graph g(1);
  std::vector<Value> vars, checked;
  std::vector<size_t> checked_idx;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (is_float(inputs[i].dtype())) {
      ASSERT_EQ(inputs[i].dtype(), DType::F64) << "gradient checks run in f64";
      Value v = g.variable("in" + std::to_string(i), inputs[i].shape(), init::zeros(), DType::F64);
      g.value(v).copy_from(inputs[i]);
      vars.push_back(v);
      checked.push_back(v);
      checked_idx.push_back(i);
    } else {
      vars.push_back(g.constant(inputs[i].clone(), "in" + std::to_string(i)));
    }
  }
  Value y = f(g, vars);
  Executor ex(g);
  Tensor y0 = ex.run({}, {y})[0];
  Tensor r = rand64(y0.shape(), 12345, 0.5, 1.5);
  Value loss = sum(y * g.constant(r, "R"));
  auto grads = gradients(loss, checked);
  auto sym = ex.run({}, grads);
  std::vector<Tensor> sym_c;
  for (auto& t : sym) sym_c.push_back(t.clone());
  const std::string op = y.op();
  for (size_t k = 0; k < checked.size(); ++k) {
    Tensor& x = g.value(checked[k]);
    ASSERT_EQ(sym_c[k].shape(), x.shape()) << "gradient shape of input " << checked_idx[k];
    double* p = x.data<double>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      double orig = p[i];
      p[i] = orig + eps;
      double lp = ex.run({}, {loss})[0].at(0);
      p[i] = orig - eps;
      double lm = ex.run({}, {loss})[0].at(0);
      p[i] = orig;
      double num = (lp - lm) / (2 * eps);
      double got = sym_c[k].at(i);
      double err = std::abs(num - got) / std::max(1.0, std::abs(num));
      EXPECT_LT(err, tol) << "op " << op << ": d/d input " << checked_idx[k] << "[" << i << "]: symbolic " << got
                          << " vs numeric " << num;
      if (err >= tol) return;
    }
  }
}

}  // namespace testing
}  // namespace ft
