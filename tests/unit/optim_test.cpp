// optim_test.cpp — optimizers against hand-computed updates, schedules, clipping,
// weight-decay filters, state export/import and chunked parameters.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>

#include "core/thread_pool.h"
#include "optim/optim.h"

using namespace ft;
using namespace ft::optim;

namespace {

Tensor f32(const std::vector<float>& v) { return Tensor::from<float>({int64_t(v.size())}, v); }

// Runs `opt` on one parameter named `name` starting at w0 with the given
// gradients; returns w after each step.
std::vector<std::vector<float>> run(Optimizer& opt, std::vector<float> w0, const std::vector<std::vector<float>>& gs,
                                    const std::string& name = "fc/w") {
  Tensor w = f32(w0);
  std::vector<std::vector<float>> out;
  for (const auto& g : gs) {
    opt.step({{name, w, f32(g)}});
    out.push_back(w.to_vector<float>());
  }
  return out;
}

void expect_near(const std::vector<std::vector<float>>& got, const std::vector<std::vector<double>>& want,
                 double tol = 1e-5) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t s = 0; s < got.size(); ++s) {
    ASSERT_EQ(got[s].size(), want[s].size());
    for (size_t i = 0; i < got[s].size(); ++i) EXPECT_NEAR(got[s][i], want[s][i], tol) << "step " << s << " elem " << i;
  }
}

const std::vector<std::vector<float>> kGrads = {{0.5f, -2.f}, {0.25f, 1.f}, {-1.f, 0.5f}};

}  // namespace

TEST(Optim, SGD) {
  SGD sgd(0.1);
  expect_near(run(sgd, {1, -2}, {{0.5f, 0.25f}, {0.5f, 0.25f}}), {{0.95, -2.025}, {0.9, -2.05}});
  EXPECT_EQ(sgd.steps(), 2);
}

TEST(Optim, SGDWeightDecayIsL2) {
  SGD sgd(0.1, 0.1);
  // g' = g + 0.1 w
  expect_near(run(sgd, {1, -2}, {{0.5f, 0.25f}, {0.5f, 0.25f}}), {{0.94, -2.005}, {0.8806, -2.00995}});
}

TEST(Optim, Momentum) {
  Momentum m(0.1, 0.9);
  // v = 1, 1.9, 2.71
  expect_near(run(m, {1}, {{1}, {1}, {1}}), {{0.9}, {0.71}, {0.439}});
}

TEST(Optim, Nesterov) {
  Momentum m(0.1, 0.9, true);
  // w -= lr * (g + mu v): steps 0.19, 0.271, 0.3439
  expect_near(run(m, {1}, {{1}, {1}, {1}}), {{0.81}, {0.539}, {0.1951}});
  EXPECT_EQ(m.type(), "nesterov");
}

TEST(Optim, Adam) {
  Adam a({0.1, 0.9, 0.999, 1e-8, 0});
  expect_near(run(a, {1, -1}, kGrads), {{0.9, -0.9}, {0.8067820, -0.8733663}, {0.8274177, -0.8672274}});
}

TEST(Optim, AdamWeightDecayIsL2) {
  Adam a({0.1, 0.9, 0.999, 1e-8, 0.1});
  expect_near(run(a, {1, -1}, kGrads), {{0.9, -0.9}, {0.8050098, -0.8681232}, {0.8120983, -0.8552345}});
}

TEST(Optim, AdamWDecoupledDecay) {
  AdamW a({0.1, 0.9, 0.999, 1e-8, 0.1});
  expect_near(run(a, {1, -1}, kGrads), {{0.89, -0.89}, {0.7878820, -0.8544663}, {0.8006389, -0.8397827}});
}

TEST(Optim, LAMBTrustRatio) {
  LAMB l({0.1, 0.9, 0.999, 1e-8, 0.01});
  // step 1: u = [1.03, -0.96], r = 5 / ||u|| = 3.55111
  auto got = run(l, {3, 4}, {{1, -1}, {0.5f, 0.5f}, {-1, 2}});
  expect_near(got, {{2.6342363, 4.3409060}, {2.1396696, 4.4559297}, {2.0137810, 3.9779265}});
}

TEST(Optim, LAMBTrustRatioIsOneForZeroWeights) {
  LAMB l({0.1, 0.9, 0.999, 1e-8, 0.0});
  expect_near(run(l, {0, 0}, {{1, -1}}), {{-0.1, 0.1}});
  EXPECT_DOUBLE_EQ(l.last_trust_ratio(), 1.0);
  LAMB l2({0.1, 0.9, 0.999, 1e-8, 0.0});
  expect_near(run(l2, {1, 2}, {{0, 0}}), {{1, 2}});  // zero update: ratio 1, no change
  EXPECT_DOUBLE_EQ(l2.last_trust_ratio(), 1.0);
}

TEST(Optim, DefaultDecayFilter) {
  EXPECT_TRUE(default_decays("dense_1/w"));
  EXPECT_TRUE(default_decays("fc1/w:3"));
  EXPECT_TRUE(default_decays("blend/kernel"));
  EXPECT_FALSE(default_decays("dense_1/b"));
  EXPECT_FALSE(default_decays("dense_1/b:0"));
  EXPECT_FALSE(default_decays("bert/encoder/layer_0/output/LayerNorm/gamma"));
  EXPECT_FALSE(default_decays("layer_norm_1/beta"));
  EXPECT_FALSE(default_decays("h0/ln_1/w"));
  EXPECT_FALSE(default_decays("h0/ln2/w"));
  EXPECT_FALSE(default_decays("attn/out_bias"));
  auto f = decay_unless_contains({"emb"});
  EXPECT_FALSE(f("word_emb/table"));
  EXPECT_TRUE(f("dense_1/b"));
}

TEST(Optim, NoDecayParamsSkipWeightDecay) {
  AdamW a({0.1, 0.9, 0.999, 1e-8, 0.5});
  Tensor w = f32({1, -1}), b = f32({1, -1});
  a.step({{"fc/w", w, f32({0.5f, -2})}, {"fc/b", b, f32({0.5f, -2})}});
  EXPECT_NEAR(w.to_vector<float>()[0], 1 - 0.1 * (1 + 0.5), 1e-6);
  EXPECT_NEAR(b.to_vector<float>()[0], 0.9, 1e-6);
  a.set_decay_filter(nullptr);  // decay everything
  EXPECT_TRUE(a.decays("fc/b"));
}

TEST(Optim, ChunksUpdateLikeTheWholeParameter) {
  // A server holding two chunks of one parameter gets the same values as a worker
  // updating the whole parameter (elementwise optimizers).
  Adam whole({0.05, 0.9, 0.999, 1e-8, 0.01}), chunked({0.05, 0.9, 0.999, 1e-8, 0.01});
  std::vector<float> w0 = {0.3f, -0.2f, 0.7f, 1.1f, -0.4f};
  Tensor w = f32(w0), c0 = f32({w0[0], w0[1]}), c1 = f32({w0[2], w0[3], w0[4]});
  for (int s = 0; s < 3; ++s) {
    std::vector<float> g = {0.1f * float(s + 1), -0.3f, 0.2f, 0.05f * float(s), 0.4f};
    whole.step({{"fc/w", w, f32(g)}});
    chunked.step({{"fc/w:1", c1, f32({g[2], g[3], g[4]})}});  // order does not matter
    chunked.step({{"fc/w:0", c0, f32({g[0], g[1]})}});
  }
  auto a = w.to_vector<float>(), b0 = c0.to_vector<float>(), b1 = c1.to_vector<float>();
  EXPECT_FLOAT_EQ(a[0], b0[0]);
  EXPECT_FLOAT_EQ(a[1], b0[1]);
  EXPECT_FLOAT_EQ(a[2], b1[0]);
  EXPECT_FLOAT_EQ(a[4], b1[2]);
  EXPECT_EQ(chunked.state().tensors.count("fc/w:1/m"), 1u);
}

// The host update runs in blocks of 2048 elements, split over a pool when one
// is set: every element of a larger parameter (many blocks and a tail here)
// moves as its own formula says, each slot read at its own offset, for every
// elementwise rule, with the same bits with and without the pool.
TEST(Optim, LargeParametersUpdateEveryElementByItsFormula) {
  const int64_t n = 70001;
  ThreadPool pool(3);
  struct Case {
    std::string type;
    double wd;
  };
  for (const Case& c : {Case{"sgd", 0.1}, Case{"momentum", 0.1}, Case{"nesterov", 0.0}, Case{"adam", 0.1},
                        Case{"adamw", 0.1}}) {
    SCOPED_TRACE(c.type);
    std::vector<float> serial;
    for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
      OptimizerOptions o;
      o.type = c.type;
      o.lr = 0.05;
      o.weight_decay = c.wd;
      auto opt = make_optimizer(o);
      opt->set_pool(p);
      std::vector<float> w0(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) w0[size_t(i)] = float(std::sin(0.37 * double(i)));
      Tensor w = f32(w0);
      std::vector<double> rw(w0.begin(), w0.end()), m(size_t(n), 0), v(size_t(n), 0);
      const double lr = 0.05, mu = 0.9, b1 = 0.9, b2 = 0.999, eps = 1e-8, d = c.wd;
      for (int t = 1; t <= 3; ++t) {
        std::vector<float> g(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) g[size_t(i)] = float(std::cos(0.11 * double(i) * t) + 0.01 * double(i % 7));
        opt->step({{"fc/w", w, f32(g)}});
        for (size_t i = 0; i < size_t(n); ++i) {
          double gi = g[i];
          if (c.type == "sgd") {
            rw[i] -= lr * (gi + d * rw[i]);
          } else if (c.type == "momentum" || c.type == "nesterov") {
            m[i] = mu * m[i] + gi + d * rw[i];
            rw[i] -= c.type == "nesterov" ? lr * (gi + d * rw[i] + mu * m[i]) : lr * m[i];
          } else {
            if (c.type == "adam") gi += d * rw[i];
            m[i] = b1 * m[i] + (1 - b1) * gi;
            v[i] = b2 * v[i] + (1 - b2) * gi * gi;
            const double u = (m[i] / (1 - std::pow(b1, t))) / (std::sqrt(v[i] / (1 - std::pow(b2, t))) + eps);
            rw[i] -= lr * (c.type == "adamw" ? u + d * rw[i] : u);
          }
        }
      }
      const std::vector<float> got = w.to_vector<float>();
      for (size_t i = 0; i < size_t(n); ++i) ASSERT_NEAR(got[i], rw[i], 2e-5 * (1 + std::fabs(rw[i]))) << "element " << i;
      if (p) EXPECT_EQ(got, serial);
      else serial = got;
    }
  }
}

TEST(Optim, StateRoundTripGivesIdenticalUpdates) {
  for (std::string type : {"momentum", "adam", "adamw", "lamb"}) {
    OptimizerOptions o;
    o.type = type;
    o.lr = 0.05;
    o.weight_decay = 0.01;
    auto a = make_optimizer(o);
    Tensor w = f32({0.5f, -1.5f, 2.f}), b = f32({0.1f});
    for (int s = 0; s < 2; ++s)
      a->step({{"l/w", w, f32({0.3f, -0.1f * float(s), 1.f})}, {"l/b", b, f32({0.2f})}});
    OptimizerState st = a->state();
    EXPECT_EQ(st.step, 2);
    EXPECT_EQ(st.tensors.at("l/w/t").item<int64_t>(), 2);

    auto c = make_optimizer(o);
    c->load_state(st);
    EXPECT_EQ(c->steps(), 2);
    Tensor w2 = w.clone(), b2 = b.clone();
    for (int s = 0; s < 3; ++s) {
      Tensor gw = f32({-0.2f, 0.4f * float(s), 0.1f}), gb = f32({-0.5f});
      a->step({{"l/w", w, gw}, {"l/b", b, gb}});
      c->step({{"l/w", w2, gw}, {"l/b", b2, gb}});
    }
    EXPECT_EQ(w.to_vector<float>(), w2.to_vector<float>()) << type;
    EXPECT_EQ(b.to_vector<float>(), b2.to_vector<float>()) << type;

    // A fresh optimizer (no state) diverges: the round trip is what matters.
    auto fresh = make_optimizer(o);
    Tensor w3 = w.clone();
    fresh->step({{"l/w", w3, f32({-0.2f, 0.f, 0.1f})}});
    Tensor w4 = w.clone();
    a->step({{"l/w", w4, f32({-0.2f, 0.f, 0.1f})}});
    EXPECT_NE(w3.to_vector<float>(), w4.to_vector<float>()) << type;
  }
}

TEST(Optim, LoadStateRejectsBadState) {
  Adam a({});
  OptimizerState st;
  st.tensors["fc/w/m"] = f32({0, 0});  // no "v"
  EXPECT_THROW(a.load_state(st), Error);
  st.tensors["fc/w/v"] = f32({0, 0});
  st.tensors["fc/w/bogus"] = f32({0});
  EXPECT_THROW(a.load_state(st), Error);
  st.tensors.erase("fc/w/bogus");
  a.load_state(st);
  Tensor w = f32({1, 2, 3});  // 3 elements, state has 2
  EXPECT_THROW(a.step({{"fc/w", w, f32({1, 1, 1})}}), Error);
}

TEST(Optim, RejectsMismatchedOrNonF32Params) {
  SGD s(0.1);
  Tensor w = f32({1, 2});
  EXPECT_THROW(s.step({{"w", w, f32({1})}}), Error);
  EXPECT_THROW(s.step({{"w", w, Tensor::zeros({2}, DType::F64)}}), Error);
}

TEST(Optim, FactoryBuildsEachTypeAndNamesUnknownOnes) {
  for (std::string t : {"sgd", "momentum", "nesterov", "adam", "adamw", "lamb"}) {
    OptimizerOptions o;
    o.type = t;
    EXPECT_EQ(make_optimizer(o)->type(), t);
  }
  OptimizerOptions o;
  o.type = "momentum";
  o.nesterov = true;
  EXPECT_EQ(make_optimizer(o)->type(), "nesterov");
  o.type = "adagrad";
  try {
    make_optimizer(o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("adagrad"), std::string::npos) << e.what();
  }
  o.type = "adam";
  o.beta1 = 1.0;
  EXPECT_THROW(make_optimizer(o), Error);
  o.beta1 = 0.9;
  o.lr = -1;
  EXPECT_THROW(make_optimizer(o), Error);
  o.lr = 0.1;
  o.no_decay = {"w"};
  o.weight_decay = 0.1;
  auto opt = make_optimizer(o);
  EXPECT_FALSE(opt->decays("fc/w"));
  EXPECT_TRUE(opt->decays("fc/b"));
}

TEST(Schedule, ConstantAndStep) {
  ConstantLR c(0.3);
  EXPECT_DOUBLE_EQ(c.lr(0), 0.3);
  EXPECT_DOUBLE_EQ(c.lr(100000), 0.3);
  StepLR s(1.0, 10, 0.5);
  EXPECT_DOUBLE_EQ(s.lr(0), 1.0);
  EXPECT_DOUBLE_EQ(s.lr(9), 1.0);
  EXPECT_DOUBLE_EQ(s.lr(10), 0.5);
  EXPECT_DOUBLE_EQ(s.lr(25), 0.25);
}

TEST(Schedule, WarmupLinear) {
  WarmupDecayLR s(WarmupDecayLR::Decay::Linear, 1.0, 10, 110);
  EXPECT_DOUBLE_EQ(s.lr(0), 0.1);
  EXPECT_DOUBLE_EQ(s.lr(4), 0.5);
  EXPECT_DOUBLE_EQ(s.lr(9), 1.0);
  EXPECT_DOUBLE_EQ(s.lr(10), 1.0);
  EXPECT_DOUBLE_EQ(s.lr(60), 0.5);
  EXPECT_DOUBLE_EQ(s.lr(110), 0.0);
  EXPECT_DOUBLE_EQ(s.lr(500), 0.0);
  WarmupDecayLR e(WarmupDecayLR::Decay::Linear, 1.0, 0, 100, 0.2);
  EXPECT_DOUBLE_EQ(e.lr(0), 1.0);
  EXPECT_NEAR(e.lr(50), 0.6, 1e-12);
  EXPECT_NEAR(e.lr(100), 0.2, 1e-12);
}

TEST(Schedule, WarmupCosine) {
  WarmupDecayLR s(WarmupDecayLR::Decay::Cosine, 1.0, 10, 110);
  EXPECT_DOUBLE_EQ(s.lr(4), 0.5);
  EXPECT_DOUBLE_EQ(s.lr(10), 1.0);
  EXPECT_NEAR(s.lr(35), 0.5 * (1 + std::cos(M_PI / 4)), 1e-12);
  EXPECT_NEAR(s.lr(60), 0.5, 1e-12);
  EXPECT_NEAR(s.lr(110), 0.0, 1e-12);
  WarmupDecayLR m(WarmupDecayLR::Decay::Cosine, 1.0, 0, 100, 0.1);
  EXPECT_NEAR(m.lr(100), 0.1, 1e-12);
  EXPECT_NEAR(m.lr(50), 0.55, 1e-12);
}

TEST(Schedule, FactoryValidates) {
  ScheduleOptions o;
  o.lr = 0.5;
  EXPECT_DOUBLE_EQ(make_schedule(o)->lr(7), 0.5);
  o.type = "warmup_cosine";
  o.warmup = 10;
  o.total_steps = 5;
  EXPECT_THROW(make_schedule(o), Error);  // total <= warmup
  o.total_steps = 110;
  EXPECT_NEAR(make_schedule(o)->lr(60), 0.25, 1e-12);
  o.type = "step";
  EXPECT_THROW(make_schedule(o), Error);  // step_size 0
  o.type = "exponential";
  try {
    make_schedule(o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("exponential"), std::string::npos);
  }
}

TEST(Clip, GlobalNorm) {
  Tensor a = f32({3, 4}), b = f32({12});
  EXPECT_DOUBLE_EQ(global_norm({a, b}), 13.0);
  EXPECT_DOUBLE_EQ(clip_by_global_norm({a, b}, 20.0), 13.0);  // below the limit: unchanged
  EXPECT_EQ(a.to_vector<float>(), (std::vector<float>{3, 4}));
  EXPECT_DOUBLE_EQ(clip_by_global_norm({a, b}, 6.5), 13.0);
  EXPECT_EQ(a.to_vector<float>(), (std::vector<float>{1.5f, 2}));
  EXPECT_EQ(b.to_vector<float>(), (std::vector<float>{6}));
  EXPECT_NEAR(global_norm({a, b}), 6.5, 1e-6);
  Tensor w = f32({0, 0});
  EXPECT_DOUBLE_EQ(clip_by_global_norm(std::vector<ParamRef>{{"w", w, f32({0, 6})}}, 3.0), 6.0);
  EXPECT_THROW(clip_by_global_norm({a}, 0.0), Error);
}

TEST(LossScaler, BacksOffOnOverflowAndGrowsAfterCleanSteps) {
  LossScalerConfig c;
  c.init_scale = 1024;
  c.growth_interval = 3;
  LossScaler s(c);
  EXPECT_EQ(s.scale(), 1024);
  EXPECT_FALSE(s.update(true));  // skip, halve
  EXPECT_EQ(s.scale(), 512);
  EXPECT_EQ(s.skipped_steps(), 1);
  EXPECT_TRUE(s.update(false));
  EXPECT_TRUE(s.update(false));
  EXPECT_EQ(s.scale(), 512);
  EXPECT_FALSE(s.update(true));  // an overflow restarts the clean count
  EXPECT_EQ(s.scale(), 256);
  EXPECT_EQ(s.clean_steps(), 0);
  for (int i = 0; i < 2; ++i) EXPECT_TRUE(s.update(false));
  EXPECT_EQ(s.scale(), 256);
  EXPECT_TRUE(s.update(false));  // third clean step in a row: double
  EXPECT_EQ(s.scale(), 512);
  EXPECT_EQ(s.clean_steps(), 0);
  EXPECT_EQ(s.skipped_steps(), 2);
}

TEST(LossScaler, ClampsToMinAndMax) {
  LossScalerConfig c;
  c.init_scale = 4;
  c.min_scale = 2;
  c.max_scale = 8;
  c.growth_interval = 1;
  LossScaler s(c);
  s.update(true);
  s.update(true);
  s.update(true);
  EXPECT_EQ(s.scale(), 2);
  for (int i = 0; i < 5; ++i) s.update(false);
  EXPECT_EQ(s.scale(), 8);
  s.restore(64, 3, 9);
  EXPECT_EQ(s.scale(), 64);
  EXPECT_EQ(s.clean_steps(), 3);
  EXPECT_EQ(s.skipped_steps(), 9);
  LossScalerConfig bad;
  bad.backoff = 1.5;
  EXPECT_THROW(LossScaler{bad}, Error);
}

TEST(LossScaler, UnscaleDetectsInfAndNan) {
  LossScalerConfig c;
  c.init_scale = 8;
  LossScaler s(c);
  Tensor g1 = Tensor::from<float>({3}, {8.f, -16.f, 4.f});
  Tensor g2 = Tensor::from<double>({1}, {2.0});
  EXPECT_TRUE(s.unscale({&g1, &g2}));
  EXPECT_EQ(g1.to_vector<float>(), (std::vector<float>{1.f, -2.f, 0.5f}));
  EXPECT_EQ(g2.data<double>()[0], 0.25);
  Tensor g3 = Tensor::from<float>({2}, {1.f, std::numeric_limits<float>::infinity()});
  EXPECT_FALSE(s.unscale({&g3}));
  Tensor g4 = Tensor::from<float>({1}, {std::nanf("")});
  EXPECT_FALSE(s.unscale({&g4}));
  // The training loop: overflow skips the step and halves the scale.
  EXPECT_FALSE(s.update(!s.unscale({&g4})));
  EXPECT_EQ(s.scale(), 4);
}

TEST(Optim, ConcurrentStepsOnDisjointChunks) {
  // A server applying pushes for different chunks from two threads gets the same
  // result as applying them one after the other.
  AdamConfig c{0.01, 0.9, 0.999, 1e-8, 0.0};
  Adam par(c), seq(c);
  std::vector<Tensor> wp, ws;
  for (int k = 0; k < 8; ++k) {
    wp.push_back(Tensor::from<float>({64}, std::vector<float>(64, float(k))));
    ws.push_back(wp.back().clone());
  }
  auto grad = [](int k, int s) { return Tensor::from<float>({64}, std::vector<float>(64, 0.1f * float(k - s))); };
  auto work = [&](Adam& opt, std::vector<Tensor>& w, int first) {
    for (int s = 0; s < 50; ++s)
      for (int k = first; k < 8; k += 2) opt.step({{"p:" + std::to_string(k), w[size_t(k)], grad(k, s)}});
  };
  std::thread t0([&] { work(par, wp, 0); }), t1([&] { work(par, wp, 1); });
  t0.join();
  t1.join();
  work(seq, ws, 0);
  work(seq, ws, 1);
  for (int k = 0; k < 8; ++k) EXPECT_EQ(wp[size_t(k)].to_vector<float>(), ws[size_t(k)].to_vector<float>()) << k;
  EXPECT_EQ(par.steps(), 400);  // one per step() call
  EXPECT_EQ(par.state().tensors.size(), 8u * 3);
}
