// tabular.cpp — the csv and libsvm datasets and their saved preprocessing (train/tabular.h).
#include "train/tabular.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "data/rng.h"
#include "train/registry.h"

namespace ft {
namespace train {
namespace {

std::string cell_at(const data::Table& t, int64_t i) {
  return t.file + ": row " + std::to_string(t.line.empty() ? i + 2 : t.line[size_t(i)]);
}

// The label of row i as text: what a class is called.
std::string label_key(const data::Table& t, int64_t i) {
  return t.y_text.empty() ? shortest_float(t.y[size_t(i)]) : t.y_text[size_t(i)];
}

}  // namespace

Preprocess Preprocess::fit(const data::Table& t, const std::string& format, const std::string& task,
                           const std::string& missing, bool standardize) {
  Preprocess p;
  p.format = format;
  p.label = t.label;
  p.features = t.features;
  p.task = task;
  p.missing = missing;
  const size_t d = t.features.size(), n = size_t(t.rows);
  if (task == "classification") {
    if (!t.y_text.empty()) {
      std::set<std::string> s(t.y_text.begin(), t.y_text.end());
      p.classes.assign(s.begin(), s.end());
    } else {
      std::set<double> s(t.y.begin(), t.y.end());
      for (double v : s) p.classes.push_back(shortest_float(v));
    }
    if (p.classes.size() < 2)
      throw Error(t.file + ": column '" + t.label + "': the training labels hold one class (" + p.classes[0] +
                  "); a classifier needs two or more");
  } else if (task == "regression" && !t.y_text.empty()) {
    for (int64_t i = 0; i < t.rows; ++i) {
      char* end = nullptr;
      std::strtod(t.y_text[size_t(i)].c_str(), &end);
      if (*end != '\0' || t.y_text[size_t(i)].empty())
        throw Error(cell_at(t, i) + ", column '" + t.label + "': '" + t.y_text[size_t(i)] +
                    "' is not a number (data.task is regression)");
    }
  }
  p.fill.assign(d, 0.0);
  p.mean.assign(d, 0.0);
  p.scale.assign(d, 1.0);
  for (size_t j = 0; j < d; ++j) {
    std::vector<double> col;
    col.reserve(n);
    for (size_t i = 0; i < n; ++i)
      if (!std::isnan(t.x[i * d + j])) col.push_back(t.x[i * d + j]);
    if (col.empty())
      throw Error(t.file + ": column '" + t.features[j] + "' has no value in any row (nothing to learn or impute from)");
    double sum = 0;
    for (double v : col) sum += v;
    const double m = sum / double(col.size());
    if (missing == "mean") {
      p.fill[j] = m;
    } else if (missing == "median") {
      std::vector<double> c = col;
      std::sort(c.begin(), c.end());
      p.fill[j] = c.size() % 2 ? c[c.size() / 2] : 0.5 * (c[c.size() / 2 - 1] + c[c.size() / 2]);
    }
    if (standardize) {
      // statistics after imputation, over every training row (as a scaler fitted on the imputed table)
      double s = 0, ss = 0;
      for (size_t i = 0; i < n; ++i) {
        const double v = std::isnan(t.x[i * d + j]) ? p.fill[j] : t.x[i * d + j];
        s += v;
      }
      const double mu = s / double(n);
      for (size_t i = 0; i < n; ++i) {
        const double v = (std::isnan(t.x[i * d + j]) ? p.fill[j] : t.x[i * d + j]) - mu;
        ss += v * v;
      }
      const double sd = std::sqrt(ss / double(n));
      p.mean[j] = mu;
      p.scale[j] = sd > 0 ? sd : 1.0;  // a constant column stays centred at 0
    }
  }
  return p;
}

std::string Preprocess::to_json() const {
  nlohmann::json j;
  j["format"] = format;
  j["label"] = label;
  j["features"] = features;
  j["task"] = task;
  j["classes"] = classes;
  j["missing"] = missing;
  j["fill"] = fill;
  j["mean"] = mean;
  j["scale"] = scale;
  return j.dump(1) + "\n";
}

Preprocess Preprocess::from_json(const std::string& text, const std::string& file) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    throw Error(file + ": not JSON (" + std::string(e.what()) + ")");
  }
  if (!j.is_object()) throw Error(file + ": not a JSON object");
  Preprocess p;
  auto field = [&](const char* k) -> const nlohmann::json& {
    if (!j.contains(k)) throw Error(file + ": no field '" + std::string(k) + "'");
    return j.at(k);
  };
  try {
    p.format = field("format").get<std::string>();
    p.label = field("label").get<std::string>();
    p.features = field("features").get<std::vector<std::string>>();
    p.task = field("task").get<std::string>();
    p.classes = field("classes").get<std::vector<std::string>>();
    p.missing = field("missing").get<std::string>();
    p.fill = field("fill").get<std::vector<double>>();
    p.mean = field("mean").get<std::vector<double>>();
    p.scale = field("scale").get<std::vector<double>>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(file + ": a field has the wrong type (" + std::string(e.what()) + ")");
  }
  const size_t d = p.features.size();
  if (d == 0) throw Error(file + ": field 'features' is empty");
  if (p.fill.size() != d || p.mean.size() != d || p.scale.size() != d)
    throw Error(file + ": fields 'fill', 'mean' and 'scale' must have one value per feature (" + std::to_string(d) + ")");
  if (p.task != "classification" && p.task != "regression" && p.task != "none")
    throw Error(file + ": field 'task' = '" + p.task + "' is not classification, regression or none");
  if (p.task == "classification" && p.classes.size() < 2) throw Error(file + ": field 'classes' needs two or more");
  for (size_t k = 0; k < d; ++k)
    if (!(p.scale[k] > 0) || !std::isfinite(p.mean[k]) || !std::isfinite(p.fill[k]))
      throw Error(file + ": feature '" + p.features[k] + "' has a non-finite or non-positive mean/scale/fill");
  return p;
}

Tensor Preprocess::features_of(const data::Table& t) const {
  if (t.features != features) {
    // Name the first difference: a predict file must carry the fitted columns.
    std::set<std::string> have(t.features.begin(), t.features.end());
    for (const std::string& f : features)
      if (!have.count(f)) throw Error(t.file + ": row 1: no column '" + f + "', which the model was fitted on");
    std::set<std::string> want(features.begin(), features.end());
    for (const std::string& f : t.features)
      if (!want.count(f) && f != label)
        throw Error(t.file + ": row 1: column '" + f + "' is not one the model was fitted on (" +
                    std::to_string(features.size()) + " feature columns expected)");
  }
  // Column j of the model's input is column idx[j] of the table.
  std::vector<size_t> idx;
  for (const std::string& f : features)
    idx.push_back(size_t(std::find(t.features.begin(), t.features.end(), f) - t.features.begin()));
  const size_t d = features.size(), td = t.features.size(), n = size_t(t.rows);
  Tensor out = Tensor::empty({int64_t(n), int64_t(d)}, DType::F32);
  float* o = out.data<float>();
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < d; ++j) {
      double v = t.x[i * td + idx[j]];
      if (std::isnan(v)) {
        if (missing == "error")
          throw Error(cell_at(t, int64_t(i)) + ", column '" + features[j] +
                      "': the value is missing (set data.missing to mean, median or zero to impute it)");
        v = fill[j];
      }
      o[i * d + j] = float((v - mean[j]) / scale[j]);
    }
  return out;
}

Tensor Preprocess::labels_of(const data::Table& t) const {
  const size_t n = size_t(t.rows);
  if (task == "regression") {
    Tensor y = Tensor::empty({int64_t(n)}, DType::F32);
    for (size_t i = 0; i < n; ++i) {
      double v = 0;
      if (!t.y_text.empty()) {
        char* end = nullptr;
        v = std::strtod(t.y_text[i].c_str(), &end);
        if (*end != '\0' || t.y_text[i].empty())
          throw Error(cell_at(t, int64_t(i)) + ", column '" + label + "': '" + t.y_text[i] + "' is not a number");
      } else {
        v = t.y[i];
      }
      y.data<float>()[i] = float(v);
    }
    return y;
  }
  std::map<std::string, int32_t> index;
  for (size_t k = 0; k < classes.size(); ++k) index[classes[k]] = int32_t(k);
  Tensor y = Tensor::empty({int64_t(n)}, DType::I32);
  for (size_t i = 0; i < n; ++i) {
    const std::string key = label_key(t, int64_t(i));
    auto it = index.find(key);
    if (it == index.end())
      throw Error(cell_at(t, int64_t(i)) + ", column '" + label + "': class '" + key +
                  "' never occurs in the training labels");
    y.data<int32_t>()[i] = it->second;
  }
  return y;
}

data::Table read_table(const std::string& type, const std::string& file, const std::string& label, bool label_required,
                       int64_t features) {
  if (type == "libsvm") return data::read_libsvm(file, features);
  data::CsvOptions o;
  o.label = label;
  o.label_required = label_required;
  return data::read_csv(file, o);
}

namespace {

// The rows of `t` named by `idx`, in that order.
data::Table take_rows(const data::Table& t, const std::vector<int64_t>& idx) {
  data::Table o;
  o.file = t.file;
  o.features = t.features;
  o.label = t.label;
  o.rows = int64_t(idx.size());
  const size_t d = t.features.size();
  for (int64_t i : idx) {
    o.x.insert(o.x.end(), t.x.begin() + std::ptrdiff_t(size_t(i) * d), t.x.begin() + std::ptrdiff_t(size_t(i + 1) * d));
    if (!t.y.empty()) o.y.push_back(t.y[size_t(i)]);
    if (!t.y_text.empty()) o.y_text.push_back(t.y_text[size_t(i)]);
    o.line.push_back(t.line[size_t(i)]);
  }
  return o;
}

class TableDataset : public Dataset {
 public:
  TableDataset(const Config& c, const std::string& type) {
    const std::string file = c.s("data.train_file");
    if (file.empty()) c.fail("data.train_file", "is empty: data.type " + type + " reads its rows from a file");
    std::string task = c.s("data.task");
    if (task == "auto") task = model_entry(c).labels == "values" ? "regression" : "classification";
    const bool labeled = type == "libsvm" || !c.s("data.label").empty();  // data.label "": features only
    if (!labeled) task = "none";
    data::Table all = read_table(type, file, c.s("data.label"), true);
    data::Table train_t, eval_t;
    const std::string eval_file = c.s("data.eval_file");
    if (!eval_file.empty()) {
      train_t = std::move(all);
      // libsvm files hold no column count: the evaluation rows take the training width.
      eval_t = read_table(type, eval_file, c.s("data.label"), true, type == "libsvm" ? train_t.cols() : 0);
    } else {
      // A seeded permutation (train.seed) holds out the last data.eval_fraction of the rows.
      const double frac = c.f("data.eval_fraction");
      std::vector<int64_t> idx(size_t(all.rows));
      for (size_t i = 0; i < idx.size(); ++i) idx[i] = int64_t(i);
      data::Rng(uint64_t(c.i("train.seed")), 0x7ab1e).shuffle(idx);
      const auto n_eval = int64_t(std::llround(frac * double(all.rows)));
      if (n_eval < 1 || n_eval >= all.rows)
        c.fail("data.eval_fraction", "= " + shortest_float(frac) + " of the " + std::to_string(all.rows) + " rows of " + file +
                                         " leaves " + (n_eval < 1 ? "no evaluation row" : "no training row") +
                                         " (or give data.eval_file)");
      std::vector<int64_t> tr(idx.begin(), idx.end() - n_eval), ev(idx.end() - n_eval, idx.end());
      std::sort(tr.begin(), tr.end());
      std::sort(ev.begin(), ev.end());
      train_t = take_rows(all, tr);
      eval_t = take_rows(all, ev);
    }
    pre_ = Preprocess::fit(train_t, type, task, c.s("data.missing"), c.b("data.standardize"));
    train_ = {pre_.features_of(train_t)};
    eval_ = {pre_.features_of(eval_t)};
    if (labeled) {
      train_.push_back(pre_.labels_of(train_t));
      eval_.push_back(pre_.labels_of(eval_t));
    }
    describe_ = fmt_describe(type, file, eval_file, train_t.rows, eval_t.rows);
  }
  std::vector<Tensor> train() const override { return train_; }
  std::vector<Tensor> eval() const override { return eval_; }
  std::string describe() const override { return describe_; }
  std::map<std::string, std::string> artifacts() const override { return {{"preprocess.json", pre_.to_json()}}; }
  std::map<std::string, int64_t> dims() const override {
    return {{"features", int64_t(pre_.features.size())}, {"classes", int64_t(pre_.classes.size())}};
  }

 private:
  std::string fmt_describe(const std::string& type, const std::string& file, const std::string& eval_file,
                           int64_t ntrain, int64_t neval) const {
    std::string s = type + " " + file + ": " + std::to_string(ntrain) + " train / " + std::to_string(neval) + " eval rows" +
                    (eval_file.empty() ? " (held out)" : " (" + eval_file + ")") + ", " +
                    std::to_string(pre_.features.size()) + " features, ";
    s += pre_.task == "classification" ? std::to_string(pre_.classes.size()) + " classes"
         : pre_.task == "regression"   ? std::string("regression")
                                       : std::string("no labels");
    return s;
  }
  Preprocess pre_;
  std::vector<Tensor> train_, eval_;
  std::string describe_;
};

const std::vector<KeySpec>& table_keys() {
  static const std::vector<KeySpec> k = {
      {"data.train_file", KeyType::String, "", "", -1e300, 1e300, "csv, libsvm: the training table"},
      {"data.eval_file", KeyType::String, "", "", -1e300, 1e300,
       "csv, libsvm: the evaluation table (empty = hold out data.eval_fraction of the training rows)"},
      {"data.label", KeyType::String, "label", "", -1e300, 1e300, "csv: the label column's header name"},
      {"data.missing", KeyType::String, "error", "error|mean|median|zero",  -1e300, 1e300,
       "csv: empty, NA or ? cells are an error, or take the training split's mean or median, or 0"},
      {"data.standardize", KeyType::Bool, "true", "", -1e300, 1e300,
       "csv, libsvm: features to zero mean and unit variance (the training split's; saved in preprocess.json)"},
      {"data.task", KeyType::String, "auto", "auto|classification|regression", -1e300, 1e300,
       "csv, libsvm: class labels or values (auto: the model's kind)"},
      kEvalFractionKey,
  };
  return k;
}

}  // namespace

void register_tabular() {
  register_dataset({"csv", [](const Config& c) { return std::make_unique<TableDataset>(c, "csv"); }, {"", table_keys(), nullptr}});
  register_dataset(
      {"libsvm", [](const Config& c) { return std::make_unique<TableDataset>(c, "libsvm"); }, {"", table_keys(), nullptr}});
}

}  // namespace train
}  // namespace ft
