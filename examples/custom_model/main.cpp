// main.cpp — a model written directly against flowtrain's graph API (no nn layers):
// a two-layer network with a residual tanh block learns to classify points of two
// interleaved spirals. Builds the graph, adds gradients, trains with Adam, and
// exits non-zero unless the loss falls and accuracy ends above 90%.
#include <cmath>
#include <cstdio>
#include <random>

#include "core/core.h"
#include "ops/ops.h"
#include "optim/optim.h"

int main() {
  using namespace ft;
  // Data: two spirals, (N, 2) points and (N) labels.
  const int64_t n = 512;
  Tensor xs = Tensor::empty({n, 2}, DType::F32), ys = Tensor::empty({n}, DType::I32);
  std::mt19937 rng(7);
  std::normal_distribution<float> noise(0.f, 0.05f);
  for (int64_t i = 0; i < n; ++i) {
    int label = int(i % 2);
    float t = 0.5f + 3.0f * float(i / 2) / float(n / 2);
    float sgn = label ? -1.f : 1.f;
    xs.data<float>()[2 * i] = sgn * t * std::cos(t) / 3.5f + noise(rng);
    xs.data<float>()[2 * i + 1] = sgn * t * std::sin(t) / 3.5f + noise(rng);
    ys.data<int32_t>()[i] = label;
  }

  // Model: h = tanh(x W1 + b1); h = h + tanh(h W2 + b2); logits = h W3 + b3.
  Graph g(42);
  Value x = g.placeholder("x", {-1, 2});
  Value y = g.placeholder("y", {-1}, DType::I32);
  Value w1 = g.variable("l1/w", {2, 64}, init::glorot()), b1 = g.variable("l1/b", {64}, init::zeros());
  Value w2 = g.variable("l2/w", {64, 64}, init::glorot()), b2 = g.variable("l2/b", {64}, init::zeros());
  Value w3 = g.variable("l3/w", {64, 2}, init::glorot()), b3 = g.variable("l3/b", {2}, init::zeros());
  Value h = tanh(matmul(x, w1) + b1);
  h = h + tanh(matmul(h, w2) + b2);
  Value logits = matmul(h, w3) + b3;
  Value loss = mean(sparse_softmax_cross_entropy(logits, y));
  std::vector<Value> params = g.trainable();
  std::vector<Value> grads = gradients(loss, params);

  optim::OptimizerOptions oo;
  oo.type = "adam";
  oo.lr = 0.01;
  auto opt = optim::make_optimizer(oo);
  Executor ex(g);
  std::vector<Value> fetch = {loss};
  fetch.insert(fetch.end(), grads.begin(), grads.end());
  float first = 0, last = 0;
  for (int step = 0; step < 300; ++step) {
    auto out = ex.run({{x, xs}, {y, ys}}, fetch);
    last = out[0].item<float>();
    if (step == 0) first = last;
    opt->step(optim::bind(g, params, std::vector<Tensor>(out.begin() + 1, out.end())));
    if (step % 50 == 0) std::printf("step %3d  loss %.4f\n", step, last);
  }
  Tensor l = ex.run({{x, xs}, {y, ys}}, {logits})[0];
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i)
    correct += (l.data<float>()[2 * i + 1] > l.data<float>()[2 * i]) == (ys.data<int32_t>()[i] == 1);
  double acc = double(correct) / double(n);
  std::printf("loss %.4f -> %.4f, training accuracy %.3f\n", first, last, acc);
  return (last < 0.5f * first && acc > 0.9) ? 0 : 1;
}
