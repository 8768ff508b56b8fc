// step_bench.cpp — one training step (forward, backward, SGD-momentum update) of
// the MNIST MLP 784-512-512-10 and CNN at batch 128, on 1 and 2 threads:
// samples/s, minor page faults per step after warm-up, peak RSS, and the
// GEMM-bound limit of the step — the same matmuls (shapes, transposes) timed
// with OpenBLAS cblas_sgemm in this run — with the share of it reached. For the
// CNN also the convolution-bound limit: the step's convolutions (conv2d and its two
// gradients, same shapes) timed alone through oneDNN, the faster layout per node,
// and the share of it reached. Model "cnn-im2col" is the CNN without oneDNN: every
// convolution im2col + GEMM and pooling the direct loops (the kernels of a build
// without oneDNN), for a before/after in one run. A model name ending in
// "-unfused" ("mlp-unfused", "cnn-unfused") runs with the executor's fusion off
// (Executor::set_fusion(false)): each conv2d/matmul, bias add, relu and pooling
// gradient its own step, as before fusion. Model "bert" is BERT-tiny like for
// like (2 layers, hidden 128, 2 heads, FFN 512, vocab 30522, seq 128, 20 masked
// positions, batch 32, dropout 0.1, AdamW), on a synthetic batch.
//
//   build/bin/step_bench [--steps 50] [--threads 1,2] [--models mlp,cnn,cnn-im2col,bert,mlp-unfused,cnn-unfused]
//                        [--gemms 1]   (list the GEMMs gemm_bound times)
//                        [--profile N] (the N ops of most kernel time per step, and the optimizer's)
//                        [--kernels NAMES] (force those kernels where a choice is made, e.g. "openblas")
#include <cblas.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "ops/cpu/dnnl_conv.h"
#include "ops/cpu/kernel_choice.h"
#include "optim/optim.h"
#include "train/config.h"
#include "train/registry.h"

using namespace ft;

namespace {

double seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

rusage usage() {
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  return r;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> v;
  std::stringstream ss(s);
  std::string x;
  while (std::getline(ss, x, ',')) v.push_back(x);
  return v;
}

struct Gemm {
  int64_t m, n, k;
  bool ta, tb;
  int64_t count = 1;  // a batched product: this many GEMMs of (m, n, k)
};

// The matmuls a plan runs, with the shapes the plan resolved. A product whose
// right operand has batch dimensions is that many GEMMs; one whose right operand
// is a matrix (a weight) is one GEMM over all the left operand's rows.
std::vector<Gemm> gemms_of(Graph& g, Executor& ex, const Executor::Feeds& feeds, const std::vector<Value>& fetch) {
  const std::map<int, std::vector<Shape>> shapes = ex.shapes(feeds, fetch);
  auto shape_of = [&](const Output& o) {
    auto it = shapes.find(o.node);
    return it != shapes.end() ? it->second.at(size_t(o.index)) : g.node(o.node).out_shapes[size_t(o.index)];
  };
  std::vector<Gemm> v;
  for (int id : ex.order(feeds, fetch)) {
    const Node& n = g.node(id);
    if (n.op != "matmul") continue;
    const Shape a = shape_of(n.inputs[0]), b = shape_of(n.inputs[1]), out = shapes.at(id)[0];
    bool ta = n.attrs.b("transpose_a", false), tb = n.attrs.b("transpose_b", false);
    int64_t k = ta ? a[a.size() - 2] : a.back();
    int64_t batchdims = numel(out) / (out[out.size() - 2] * out.back());
    if (b.size() >= 3) v.push_back({out[out.size() - 2], out.back(), k, ta, tb, batchdims});
    else v.push_back({out[out.size() - 2] * batchdims, out.back(), k, ta, tb, 1});
  }
  return v;
}

// A batch of 784-pixel images and digit labels.
Executor::Feeds mnist_batch(const std::vector<Value>& in, int64_t batch) {
  Tensor x = Tensor::empty({batch, 784}, DType::F32), y = Tensor::empty({batch}, DType::I32);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = float((i * 37) % 255) / 255.f;
  for (int64_t i = 0; i < batch; ++i) y.data<int32_t>()[i] = int32_t(i % 10);
  return {{in[0], x}, {in[1], y}};
}

// BERT's six columns (nn::BertInputs::all() order): token ids, segments, an
// attention mask of ones, masked positions, their labels, weights of ones.
Executor::Feeds bert_batch(const std::vector<Value>& in, int64_t batch, int64_t seq, int64_t pred, int64_t vocab) {
  uint32_t state = 1;
  auto ids = [&](Shape s, int64_t hi) {
    Tensor t = Tensor::empty(s, DType::I32);
    for (int64_t i = 0; i < t.numel(); ++i) {
      state = state * 1664525u + 1013904223u;
      t.data<int32_t>()[i] = int32_t((state >> 8) % uint32_t(hi));
    }
    return t;
  };
  auto ones = [](Shape s) {
    Tensor t = Tensor::empty(s, DType::F32);
    std::fill(t.data<float>(), t.data<float>() + t.numel(), 1.f);
    return t;
  };
  return {{in[0], ids({batch, seq}, vocab)},      {in[1], ids({batch, seq}, 2)},
          {in[2], ones({batch, seq})},            {in[3], ids({batch, pred}, seq)},
          {in[4], ids({batch, pred}, vocab)},     {in[5], ones({batch, pred})}};
}

bool is_conv(const std::string& op) {
  return op == "conv2d" || op == "conv2d_grad_input" || op == "conv2d_grad_filter";
}

// The plan's convolutions timed alone through oneDNN (best of the plain and blocked
// layouts per node), summed, in seconds; 0 without oneDNN or convolutions.
double conv_bound(Graph& g, const std::vector<int>& order, int64_t batch, ThreadPool& pool) {
  if (!ops::dnnl_conv_available()) return 0;
  auto fix = [&](Shape s) {
    for (auto& d : s) if (d < 0) d = batch;
    return s;
  };
  double total = 0;
  for (int id : order) {
    const Node& n = g.node(id);
    if (!is_conv(n.op)) continue;
    std::vector<Tensor> ins, outs;
    for (const auto& e : n.inputs) {
      ins.push_back(Tensor::empty(fix(g.node(e.node).out_shapes[size_t(e.index)]), DType::F32));
      std::fill(ins.back().data<float>(), ins.back().data<float>() + ins.back().numel(), 0.25f);
    }
    for (const Shape& s : n.out_shapes) outs.push_back(Tensor::empty(fix(s), DType::F32));
    KernelCtx k{n, {}, {}, &pool, nullptr, 0, true};
    for (auto& t : ins) k.inputs.push_back(&t);
    for (auto& t : outs) k.outputs.push_back(&t);
    const Kernel* kern = OpRegistry::get().find_kernel(n.op, "cpu", DType::F32);
    double best = 1e30;
    for (const char* impl : {"onednn", "onednn-blocked"}) {
      ops::force_kernel_choice(impl);
      kern->fn(k);
      const int reps = 10;
      const double a = seconds();
      for (int r = 0; r < reps; ++r) kern->fn(k);
      best = std::min(best, (seconds() - a) / reps);
    }
    ops::force_kernel_choice("");
    total += best;
  }
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  int steps = 50;
  std::vector<std::string> models = {"mlp", "cnn", "cnn-im2col"};
  std::vector<int> threads = {1, 2};
  bool list_gemms = false;
  int profile_top = 0;
  std::string kernels;  // --kernels: force_kernel_choice for every model (e.g. "openblas")
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--steps")) steps = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--models")) models = split(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--gemms")) list_gemms = std::atoi(argv[i + 1]) != 0;
    else if (!std::strcmp(argv[i], "--profile")) profile_top = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--kernels")) kernels = argv[i + 1];
    else if (!std::strcmp(argv[i], "--threads")) {
      threads.clear();
      for (auto& t : split(argv[i + 1])) threads.push_back(std::stoi(t));
    } else {
      std::fprintf(stderr, "step_bench: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  std::printf("%-12s %7s %9s %11s %12s %9s %12s %9s %12s %10s\n", "model", "threads", "step_ms", "samples/s",
              "gemm_bound_ms", "%limit", "conv_bound_ms", "%conv", "faults/step", "rss_MB");
  for (const auto& model : models) {
    std::string base = model;
    const std::string suffix = "-unfused";
    const bool unfused = base.size() > suffix.size() && base.compare(base.size() - suffix.size(), suffix.size(), suffix) == 0;
    if (unfused) base.resize(base.size() - suffix.size());
    const bool im2col = base == "cnn-im2col";
    const bool bert = base == "bert";
    const int64_t batch = bert ? 32 : 128;
    for (int t : threads) {
      ThreadPool pool(t);
      ops::force_kernel_choice(im2col ? "im2col,direct,unfused" : kernels);
      train::Config cfg =
          bert ? train::Config::load("", {"model.type=bert", "model.max_seq=128", "model.dropout=0.1",
                                          "data.seq_len=128", "data.max_predictions=20"})
               : train::Config::load("", {"model.type=" + (im2col ? std::string("cnn") : base), "model.dropout=0"});
      Graph g(1);
      train::ModelGraph m = train::build_model(g, cfg);
      auto params = g.trainable();
      auto grads = gradients(m.loss, params);
      optim::OptimizerOptions oo;
      oo.type = bert ? "adamw" : "momentum";
      oo.lr = bert ? 1e-4 : 0.01;
      auto opt = optim::make_optimizer(oo);
      opt->set_pool(&pool);
      Executor ex(g, &pool);
      ex.set_fusion(!unfused);
      Executor::Feeds feeds = bert ? bert_batch(m.inputs, batch, 128, 20, 30522) : mnist_batch(m.inputs, batch);
      std::vector<Value> fetch = {m.loss};
      fetch.insert(fetch.end(), grads.begin(), grads.end());
      // One step; returns the optimizer's seconds.
      auto step = [&](const RunOptions& ro = {}) {
        auto out = ex.run(feeds, fetch, ro);
        const double a = seconds();
        opt->step(optim::bind(g, params, std::vector<Tensor>(out.begin() + 1, out.end())));
        return seconds() - a;
      };
      for (int i = 0; i < 5; ++i) step();
      rusage r0 = usage();
      double t0 = seconds();
      for (int i = 0; i < steps; ++i) step();
      double dt = (seconds() - t0) / steps;
      rusage r1 = usage();
      double faults = double(r1.ru_minflt - r0.ru_minflt) / steps;
      if (profile_top > 0) {  // kernel time per op over more steps, and the optimizer's
        Profile prof;
        RunOptions ro;
        ro.profile = &prof;
        double opt_s = 0;
        for (int i = 0; i < steps; ++i) opt_s += step(ro);
        std::vector<std::pair<int64_t, std::string>> by;
        for (const auto& kv : prof.by_op) by.push_back({kv.second.first, kv.first});
        std::sort(by.rbegin(), by.rend());
        for (size_t i = 0; i < by.size() && int(i) < profile_top; ++i)
          std::printf("# %s t%d profile %-44s %8.3f ms/step\n", model.c_str(), t, by[i].second.c_str(),
                      double(by[i].first) / 1e6 / steps);
        std::printf("# %s t%d profile %-44s %8.3f ms/step\n", model.c_str(), t, "(optimizer step)", opt_s * 1e3 / steps);
      }
      // GEMM-bound limit: the step's matmuls through cblas_sgemm at t threads.
      auto gs = gemms_of(g, ex, feeds, fetch);
      if (list_gemms)
        for (const Gemm& q : gs)
          std::printf("# %s gemm m %lld n %lld k %lld ta %d tb %d x%lld\n", model.c_str(), (long long)q.m,
                      (long long)q.n, (long long)q.k, int(q.ta), int(q.tb), (long long)q.count);
      openblas_set_num_threads(t);
      std::vector<float> A, B, C;
      double gemm_s = 0;
      for (const Gemm& q : gs) {
        const size_t sa = size_t(q.m * q.k), sb = size_t(q.k * q.n), sc = size_t(q.m * q.n);
        A.assign(sa * size_t(q.count), 0.5f);
        B.assign(sb * size_t(q.count), 0.25f);
        C.assign(sc * size_t(q.count), 0.f);
        auto call = [&] {
          for (int64_t i = 0; i < q.count; ++i)
            cblas_sgemm(CblasRowMajor, q.ta ? CblasTrans : CblasNoTrans, q.tb ? CblasTrans : CblasNoTrans, int(q.m),
                        int(q.n), int(q.k), 1.f, A.data() + size_t(i) * sa, int(q.ta ? q.m : q.k),
                        B.data() + size_t(i) * sb, int(q.tb ? q.k : q.n), 0.f, C.data() + size_t(i) * sc, int(q.n));
        };
        call();
        const int reps = 20;
        double a = seconds();
        for (int r = 0; r < reps; ++r) call();
        gemm_s += (seconds() - a) / reps;
      }
      openblas_set_num_threads(1);
      const double conv_s = conv_bound(g, ex.order(feeds, fetch), batch, pool);
      char conv_ms[32] = "-", conv_pct[32] = "-";
      if (conv_s > 0) {
        std::snprintf(conv_ms, sizeof conv_ms, "%.2f", conv_s * 1e3);
        std::snprintf(conv_pct, sizeof conv_pct, "%.1f%%", 100 * conv_s / dt);
      }
      std::printf("%-12s %7d %9.2f %11.0f %12.2f %8.1f%% %12s %9s %12.1f %10.0f\n", model.c_str(), t, dt * 1e3,
                  batch / dt, gemm_s * 1e3, 100 * gemm_s / dt, conv_ms, conv_pct, faults, usage().ru_maxrss / 1024.0);
      std::fflush(stdout);
    }
  }
  for (const std::string& line : ops::kernel_choices()) std::printf("# kernel choice: %s\n", line.c_str());
  return 0;
}
