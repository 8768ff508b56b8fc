// premade.cpp — the premade estimators, registered as any user's Model is
// (train/registry.h), trained by every strategy like the rest of the zoo.
//
//   linear_classifier  logistic regression: binary (one weight vector, the logit of
//                      class 1) or multinomial (a column per class); data: csv
//   linear_regressor   least squares, x·w + b
//   dnn_classifier     hidden Dense layers (model.hidden_units, model.activation,
//                      model.dropout) then a Dense per class
//   dnn_regressor      the same network ending in one output
//   kmeans             Lloyd's k-means on the graph, k-means++ initialisation (a PassModel)
//   naive_bayes        Gaussian naive Bayes from per-class sums, in two passes (a PassModel)
//
// The objective is the mean data loss over the batch plus model.l2/2·|w|² plus
// model.l1·|w|₁ over the weights (biases are not penalised). In scikit-learn's
// terms, on n training rows: LogisticRegression(C) is l2 = 1/(C·n), Ridge(alpha)
// is l2 = 2·alpha/n, Lasso(alpha) is l1 = 2·alpha (its loss is half the mse).
//
// Input and output widths come from the data (its dims(): features, classes)
// unless model.features / model.classes are set; set ones are checked against it.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "data/rng.h"

#include "nn/layers.h"
#include "nn/zoo.h"
#include "ops/ops.h"
#include "train/registry.h"

namespace ft {
namespace train {
namespace {

// A width from the config when set (> 0), else from the data; both: they must agree.
int64_t width(const BuildContext& ctx, const std::string& key, const std::string& dim) {
  const int64_t set = ctx.cfg.i(key);
  auto it = ctx.data.find(dim);
  if (it != ctx.data.end() && set > 0 && set != it->second)
    ctx.cfg.fail(key, "= " + std::to_string(set) + " but the data has " + std::to_string(it->second) + " " + dim);
  if (set > 0) return set;
  if (it == ctx.data.end() || it->second <= 0)
    ctx.cfg.fail(key, "is 0 (from the data) and the dataset does not say its " + dim + "; set " + key);
  return it->second;
}

Value penalty(const std::vector<Value>& weights, double l2, double l1) {
  Value p;
  for (const Value& w : weights) {
    if (l2 > 0) p = p.defined() ? p + sum(square(w)) * (0.5 * l2) : sum(square(w)) * (0.5 * l2);
    if (l1 > 0) p = p.defined() ? p + sum(abs(w)) * l1 : sum(abs(w)) * l1;
  }
  return p;
}

class Premade : public Model {
 public:
  Premade(const Config& c, bool deep, bool classify) : deep_(deep), classify_(classify) {
    l2_ = c.f("model.l2");
    l1_ = c.f("model.l1");
    if (deep_) {
      hidden_ = c.ints("model.hidden_units");
      activation_ = c.s("model.activation");
      dropout_ = c.f("model.dropout");
    }
  }

  ModelGraph build(Graph& g, const BuildContext& ctx) override {
    const int64_t d = width(ctx, "model.features", "features");
    const int64_t k = classify_ ? width(ctx, "model.classes", "classes") : 1;
    if (classify_ && k < 2) ctx.cfg.fail("model.classes", "= " + std::to_string(k) + ": a classifier needs two or more");
    ModelGraph m;
    Value x = g.placeholder("features", {-1, d});
    Value y = g.placeholder("labels", {-1}, classify_ ? DType::I32 : DType::F32);
    m.inputs = {x, y};
    Value out;  // (N, outputs)
    std::vector<Value> weights;
    // Binary logistic regression has one weight vector: the logit of class 1.
    const int64_t outputs = classify_ && !deep_ && k == 2 ? 1 : k;
    if (deep_) {
      nn::MlpOptions o;
      o.hidden = hidden_;
      o.in = d;
      o.classes = outputs;
      o.activation = activation_;
      o.dropout = dropout_;
      o.seed = int64_t(ctx.seed);
      out = nn::mlp_classifier(g, x, o, ctx.tp);
    } else {
      Value w = g.variable("linear/w", {d, outputs}, init::zeros());
      Value b = g.variable("linear/b", {outputs}, init::zeros());
      out = matmul(x, w) + b;
    }
    for (const Value& v : g.trainable())
      if (v.name().size() > 2 && v.name().compare(v.name().size() - 2, 2, "/w") == 0) weights.push_back(v);
    Value data_loss;
    if (classify_) {
      m.logits = outputs == 1 ? concat({zeros_like(out), out}, 1) : out;  // softmax([0, z]) = (1 - σ(z), σ(z))
      m.labels = y;
      data_loss = mean(sparse_softmax_cross_entropy(m.logits, y));
    } else {
      m.predictions = reshape(out, {-1});
      data_loss = mse(m.predictions, y);
      m.metrics["mse"] = data_loss;
      m.metrics["mae"] = mean(abs(m.predictions - y));
    }
    const Value p = penalty(weights, l2_, l1_);
    m.loss = p.defined() ? data_loss + p : data_loss;
    if (p.defined()) m.metrics["data_loss"] = data_loss;
    return m;
  }

 private:
  bool deep_, classify_;
  double l2_ = 0, l1_ = 0, dropout_ = 0;
  std::vector<int64_t> hidden_;
  std::string activation_;
};


// ---- models fitted by passes (train/model.h PassModel) -------------------------------

// Squared distances (B, K) from rows x (B, D) to centroids c (K, D): |x|² - 2x·c + |c|².
Value squared_distances(Value x, Value c) {
  return reduce_sum(square(x), {1}, true) - matmul(x, c, false, true) * 2.0 + reduce_sum(square(c), {1});
}

// k-means: each pass assigns every row to its nearest centroid (graph ops), sums
// the rows and counts per cluster; the totals over all ranks give the new
// centroids, the same on every rank. Stops when the centroids move less (summed
// squared shift) than model.tol x the mean feature variance of the training
// data, as scikit-learn's KMeans, or after model.max_iter passes. An empty
// cluster keeps its centroid.
class KMeans : public PassModel {
 public:
  explicit KMeans(const Config& c) : k_(c.i("model.k")), max_iter_(c.i("model.max_iter")), tol_(c.f("model.tol")) {}

  ModelGraph build(Graph& g, const BuildContext& ctx) override {
    d_ = width(ctx, "model.features", "features");
    ModelGraph m;
    Value x = g.placeholder("features", {-1, d_});
    m.inputs = {x};
    auto cls = ctx.data.find("classes");
    if (cls != ctx.data.end() && cls->second > 0) m.inputs.push_back(g.placeholder("labels", {-1}, DType::I32));  // not used
    c_ = g.variable("kmeans/centroids", {k_, d_}, init::zeros(), DType::F32, /*trainable=*/false);
    Value dist = squared_distances(x, c_);
    Value nearest = relu(-reduce_max(-dist, {1}));  // (B): rounding may dip below 0
    Value onehot = one_hot(argmax(-dist), k_);
    m.logits = -dist;  // predict: the nearest centroid
    m.loss = mean(nearest);
    m.statistics = {matmul(onehot, x, true, false), reduce_sum(onehot, {0}), sum(nearest)};
    return m;
  }

  std::map<std::string, std::string> init(Graph& g, const std::vector<Tensor>& train, uint64_t seed,
                                          bool fresh) override {
    const Tensor& xt = train[0];
    const int64_t n = xt.dim(0);
    if (k_ > n)
      throw Error("model.k = " + std::to_string(k_) + " is above the " + std::to_string(n) +
                  " training rows: a cluster needs a row");
    const float* x = xt.data<float>();
    const size_t d = size_t(d_);
    // tol is relative to the data's mean feature variance
    double var_sum = 0;
    for (size_t j = 0; j < d; ++j) {
      double s = 0, ss = 0;
      for (int64_t i = 0; i < n; ++i) s += x[size_t(i) * d + j];
      const double mu = s / double(n);
      for (int64_t i = 0; i < n; ++i) ss += (x[size_t(i) * d + j] - mu) * (x[size_t(i) * d + j] - mu);
      var_sum += ss / double(n);
    }
    tol_abs_ = tol_ * var_sum / double(d);
    if (!fresh) return {};
    // Greedy k-means++ (Arthur & Vassilvitskii; 2 + ln k candidates per centroid, the
    // one lowering the potential most is kept), seeded by train.seed.
    data::Rng rng(seed, 0x6b6d65616e73ull);
    auto dist2 = [&](int64_t i, const std::vector<double>& c) {
      double s = 0;
      for (size_t j = 0; j < d; ++j) {
        const double t = x[size_t(i) * d + j] - c[j];
        s += t * t;
      }
      return s;
    };
    auto row = [&](int64_t i) { return std::vector<double>(x + size_t(i) * d, x + size_t(i + 1) * d); };
    std::vector<std::vector<double>> centers = {row(int64_t(rng.below(uint64_t(n))))};
    std::vector<double> closest(static_cast<size_t>(n));
    double pot = 0;
    for (int64_t i = 0; i < n; ++i) pot += closest[size_t(i)] = dist2(i, centers[0]);
    const int trials = 2 + int(std::log(double(k_)));
    while (int64_t(centers.size()) < k_) {
      int64_t best = -1;
      double best_pot = 0;
      std::vector<double> best_closest;
      for (int t = 0; t < trials; ++t) {
        // a row with probability proportional to its squared distance to the chosen centroids
        double r = rng.uniform() * pot, acc = 0;
        int64_t pick = n - 1;
        for (int64_t i = 0; i < n; ++i) {
          acc += closest[size_t(i)];
          if (acc > r) {
            pick = i;
            break;
          }
        }
        std::vector<double> cand = closest;
        double p = 0;
        const std::vector<double> c = row(pick);
        for (int64_t i = 0; i < n; ++i) p += cand[size_t(i)] = std::min(cand[size_t(i)], dist2(i, c));
        if (best < 0 || p < best_pot) {
          best = pick;
          best_pot = p;
          best_closest = std::move(cand);
        }
      }
      centers.push_back(row(best));
      closest = std::move(best_closest);
      pot = best_pot;
    }
    float* cv = g.value(c_).data<float>();
    std::string csv;
    for (size_t k = 0; k < centers.size(); ++k) {
      for (size_t j = 0; j < d; ++j) {
        cv[k * d + j] = float(centers[k][j]);
        csv += (j ? "," : "") + fmt::format("{}", cv[k * d + j]);
      }
      csv += "\n";
    }
    return {{"init_centroids.csv", csv}};
  }

  PassResult update(Graph& g, const std::vector<Tensor>& totals, int64_t) override {
    const double* sums = totals[0].data<double>();
    const double* counts = totals[1].data<double>();
    float* cv = g.value(c_).data<float>();
    const size_t d = size_t(d_);
    double shift = 0;
    int64_t empty = 0;
    for (size_t k = 0; k < size_t(k_); ++k) {
      if (counts[k] == 0) {
        ++empty;
        continue;
      }
      for (size_t j = 0; j < d; ++j) {
        const float nv = float(sums[k * d + j] / counts[k]);
        shift += double(nv - cv[k * d + j]) * double(nv - cv[k * d + j]);
        cv[k * d + j] = nv;
      }
    }
    PassResult r;
    r.metrics = {{"inertia", totals[2].data<double>()[0]}, {"center_shift", shift}, {"empty_clusters", double(empty)}};
    r.converged = shift <= tol_abs_;
    return r;
  }
  int64_t max_passes() const override { return max_iter_; }

 private:
  int64_t k_, max_iter_, d_ = 0;
  double tol_, tol_abs_ = 0;
  Value c_;
};

// Gaussian naive Bayes in two passes: the first totals per-class counts and sums
// (the means), the second the squared distances of each row to its class's mean
// (the variances, exact also where a feature is constant within a class). With
// model.var_smoothing x the largest feature variance added, as scikit-learn's
// GaussianNB, and the class priors, the joint log-likelihood
// log P(k) - ½Σ log(2π σ²) - ½Σ (x - μ)²/σ² is the logits.
class NaiveBayes : public PassModel {
 public:
  explicit NaiveBayes(const Config& c) : smoothing_(c.f("model.var_smoothing")) {}

  ModelGraph build(Graph& g, const BuildContext& ctx) override {
    d_ = width(ctx, "model.features", "features");
    k_ = width(ctx, "model.classes", "classes");
    ModelGraph m;
    Value x = g.placeholder("features", {-1, d_});
    Value y = g.placeholder("labels", {-1}, DType::I32);
    m.inputs = {x, y};
    auto var = [&](const char* name, Shape s) { return g.variable(name, s, init::zeros(), DType::F32, false); };
    theta_ = var("naive_bayes/theta", {k_, d_});
    var_ = var("naive_bayes/var", {k_, d_});
    prior_ = var("naive_bayes/class_prior", {k_});
    inv_var_ = var("naive_bayes/inv_var", {k_, d_});
    mov_ = var("naive_bayes/theta_over_var", {k_, d_});
    bias_ = var("naive_bayes/bias", {k_});
    m.logits = matmul(square(x), inv_var_, false, true) * -0.5 + matmul(x, mov_, false, true) + bias_;
    m.labels = y;
    m.loss = mean(sparse_softmax_cross_entropy(m.logits, y));
    Value onehot = one_hot(y, k_);
    Value centred = x - matmul(onehot, theta_);  // each row less its class's mean (pass 2)
    m.statistics = {reduce_sum(onehot, {0}), matmul(onehot, x, true, false), matmul(onehot, square(centred), true, false)};
    return m;
  }

  std::map<std::string, std::string> init(Graph&, const std::vector<Tensor>&, uint64_t, bool) override { return {}; }

  PassResult update(Graph& g, const std::vector<Tensor>& totals, int64_t pass) override {
    const double* cnt = totals[0].data<double>();
    const double* s = totals[1].data<double>();
    const double* ss = totals[2].data<double>();
    const size_t k = size_t(k_), d = size_t(d_);
    float *th = g.value(theta_).data<float>(), *va = g.value(var_).data<float>(), *pr = g.value(prior_).data<float>();
    double n = 0;
    for (size_t c = 0; c < k; ++c) {
      if (cnt[c] == 0) throw Error("naive_bayes: class " + std::to_string(c) + " has no training row");
      n += cnt[c];
    }
    PassResult r;
    if (pass == 0) {  // the means; pass 2 measures the rows against them
      for (size_t c = 0; c < k; ++c)
        for (size_t j = 0; j < d; ++j) th[c * d + j] = float(s[c * d + j] / cnt[c]);
      return r;
    }
    // The largest variance of a feature over all rows: within-class plus between-class.
    double max_var = 0;
    for (size_t j = 0; j < d; ++j) {
      double mu = 0, v = 0;
      for (size_t c = 0; c < k; ++c) mu += s[c * d + j];
      mu /= n;
      for (size_t c = 0; c < k; ++c) {
        const double dm = s[c * d + j] / cnt[c] - mu;
        v += ss[c * d + j] + cnt[c] * dm * dm;
      }
      max_var = std::max(max_var, v / n);
    }
    const double eps = smoothing_ * max_var;
    float *iv = g.value(inv_var_).data<float>(), *mv = g.value(mov_).data<float>(), *b = g.value(bias_).data<float>();
    for (size_t c = 0; c < k; ++c) {
      double bias = std::log(cnt[c] / n);
      pr[c] = float(cnt[c] / n);
      for (size_t j = 0; j < d; ++j) {
        const double mu = th[c * d + j];
        const double v = ss[c * d + j] / cnt[c] + eps;
        va[c * d + j] = float(v);
        iv[c * d + j] = float(1 / v);
        mv[c * d + j] = float(mu / v);
        bias -= 0.5 * std::log(2 * M_PI * v) + 0.5 * mu * mu / v;
      }
      b[c] = float(bias);
    }
    r.metrics = {{"epsilon", eps}};
    r.converged = true;
    return r;
  }
  int64_t max_passes() const override { return 2; }

 private:
  double smoothing_;
  int64_t d_ = 0, k_ = 0;
  Value theta_, var_, prior_, inv_var_, mov_, bias_;
};

const KeySpec kFeaturesKey = {"model.features", KeyType::Int, "0", "", 0, 1e9,
                              "premade models, kmeans, naive_bayes: input columns (0 = from the data)"};
const KeySpec kClassesKey = {"model.classes", KeyType::Int, "0", "", 0, 1e7,
                             "premade classifiers, naive_bayes: classes (0 = from the data)"};

std::vector<KeySpec> premade_keys(bool deep, bool classify) {
  std::vector<KeySpec> k = {
      kFeaturesKey,
      {"model.l2", KeyType::Float, "0.0", "", 0, 1e6, "premade models: l2/2 x squared norm of the weights in the loss"},
      {"model.l1", KeyType::Float, "0.0", "", 0, 1e6, "premade models: l1 x absolute sum of the weights in the loss"},
  };
  if (classify) k.push_back(kClassesKey);
  if (deep) {
    k.push_back({"model.hidden_units", KeyType::IntList, "[64, 32]", "", 1, 1e9, "dnn_*: hidden layer widths"});
    k.push_back({"model.activation", KeyType::String, "relu", "relu|tanh|sigmoid|gelu", -1e300, 1e300,
                 "dnn_*: activation of the hidden layers"});
    k.push_back(kDropoutKey);
  }
  return k;
}

void add(const std::string& name, bool deep, bool classify) {
  register_model({name, [deep, classify](const Config& c) { return std::make_unique<Premade>(c, deep, classify); },
                  "csv", deep && nn::supports_tensor_parallel("mlp"), {"", premade_keys(deep, classify), nullptr},
                  classify ? "classes" : "values"});
}

}  // namespace

void register_premade() {
  add("linear_classifier", false, true);
  add("linear_regressor", false, false);
  add("dnn_classifier", true, true);
  add("dnn_regressor", true, false);
  register_model({"kmeans", [](const Config& c) { return std::make_unique<KMeans>(c); }, "csv", false,
                  {"",
                   {kFeaturesKey,
                    {"model.k", KeyType::Int, "8", "", 1, 1e6, "kmeans: clusters"},
                    {"model.max_iter", KeyType::Int, "300", "", 1, 1e9, "kmeans: most Lloyd passes"},
                    {"model.tol", KeyType::Float, "1e-4", "", 0, 1e6,
                     "kmeans: stop when the centroids' squared shift is below tol x the mean feature variance"}},
                   nullptr},
                  "classes"});
  register_model({"naive_bayes", [](const Config& c) { return std::make_unique<NaiveBayes>(c); }, "csv", false,
                  {"",
                   {kFeaturesKey, kClassesKey,
                    {"model.var_smoothing", KeyType::Float, "1e-9", "", 0, 1e6,
                     "naive_bayes: added to every variance, x the largest feature variance"}},
                   nullptr},
                  "classes"});
}

}  // namespace train
}  // namespace ft
