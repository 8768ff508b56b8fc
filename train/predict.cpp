// predict.cpp — train --predict (train/predict.h).
#include "train/predict.h"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "core/executor.h"
#include "core/thread_pool.h"
#include "data/idx.h"
#include "ops/ops.h"
#include "train/checkpoint.h"
#include "train/registry.h"
#include "train/tabular.h"

namespace ft {
namespace train {
namespace fs = std::filesystem;

namespace {

// The checkpoint folder a path names: itself, its `latest`, or a run folder's checkpoints' `latest`.
std::string checkpoint_folder(const std::string& path) {
  const fs::path p(path);
  if (!fs::exists(p)) throw Error(path + ": no such checkpoint or run folder");
  const bool run_folder = !fs::exists(p / "latest") && fs::exists(p / "checkpoints" / "latest");
  const std::string d = CheckpointManager::folder(run_folder ? (p / "checkpoints").string() : path);
  if (!fs::exists(fs::path(d) / "model.safetensors")) throw Error(path + ": is not a checkpoint (no model.safetensors, no latest)");
  return d;
}

std::string read_text(const fs::path& p, const std::string& what) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw Error(p.string() + ": missing (" + what + "); was the checkpoint written by an earlier version?");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return q + "\"";
}

}  // namespace

int64_t predict(const PredictOptions& o) {
  const std::string dir = checkpoint_folder(o.checkpoint);
  const fs::path d(dir);
  const Config cfg = Config::load((d / "config.yaml").string());
  const std::string type = cfg.s("data.type").empty() ? model_entry(cfg).dataset : cfg.s("data.type");
  Preprocess pre;
  Tensor x;
  if (type == "csv" || type == "libsvm") {
    pre = Preprocess::from_json(read_text(d / "preprocess.json", "the fitted preprocessing"),
                                (d / "preprocess.json").string());
    const data::Table t = read_table(pre.format, o.data, pre.label, /*label_required=*/false,
                                     pre.format == "libsvm" ? int64_t(pre.features.size()) : 0);
    x = pre.features_of(t);
  } else if (type == "mnist") {
    // An IDX image file (N, 28, 28) u8, scaled as in training: pixel / 255.
    const data::IdxArray a = data::read_idx_u8(o.data, 3);
    if (a.dims[1] * a.dims[2] != 784)
      throw Error(o.data + ": images of " + std::to_string(a.dims[1]) + "x" + std::to_string(a.dims[2]) +
                  " pixels; the model takes 28x28");
    x = Tensor::empty({a.dims[0], 784}, DType::F32);
    for (size_t i = 0; i < a.values.size(); ++i) x.data<float>()[i] = float(a.values[i]) / 255.0f;
    pre.task = "classification";
    for (int c = 0; c < 10; ++c) pre.classes.push_back(std::to_string(c));
  } else {
    throw Error(dir + ": the model was trained on data.type " + type +
                "; --predict reads csv and libsvm tables and MNIST IDX images");
  }

  Graph g(uint64_t(cfg.i("train.seed")));
  std::map<std::string, int64_t> dims;
  if (!pre.features.empty()) dims = {{"features", int64_t(pre.features.size())}, {"classes", int64_t(pre.classes.size())}};
  ModelGraph mg = model_entry(cfg).make(cfg)->build(g, BuildContext{cfg, {}, uint64_t(cfg.i("train.seed")), dims});
  const Checkpoint ck = CheckpointManager::load(dir);
  load_variables(g, ck.model, dir);
  // What to fetch: the model's predictions, else class probabilities (classifiers)
  // or the best-scoring index (kmeans: the nearest centroid).
  const bool values = mg.predictions.defined();
  const bool classes = !values && mg.logits.defined() && mg.labels.defined();
  if (!values && !mg.logits.defined()) throw Error(dir + ": model.type " + cfg.s("model.type") + " has no prediction output");
  const Value out = values ? mg.predictions : classes ? softmax(mg.logits) : argmax(mg.logits);

  std::ofstream file;
  const bool to_stdout = o.out == "-";
  if (!to_stdout) {
    file.open(o.out, std::ios::binary | std::ios::trunc);
    if (!file) throw Error(o.out + ": cannot write the predictions");
  }
  std::ostream& os = to_stdout ? std::cout : file;
  if (values) {
    os << "prediction\n";
  } else if (classes) {
    os << "class";
    for (const std::string& c : pre.classes) os << "," << csv_cell("p_" + c);
    os << "\n";
  } else {
    os << "cluster\n";
  }
  Executor ex(g, &ThreadPool::global());
  const int64_t n = x.dim(0), dcols = x.dim(1);
  for (int64_t b = 0; b < n; b += o.batch) {
    const int64_t e = std::min(n, b + o.batch);
    Tensor xb = Tensor::view(const_cast<float*>(x.data<float>()) + b * dcols, {e - b, dcols}, DType::F32);
    RunOptions ro;
    ro.training = false;
    const Tensor r = ex.run({{mg.inputs[0], xb}}, {out}, ro)[0];
    for (int64_t i = 0; i < e - b; ++i) {
      if (values) {
        os << fmt::format("{}", r.at(i)) << "\n";
      } else if (classes) {
        const int64_t k = int64_t(pre.classes.size());
        int64_t best = 0;
        for (int64_t c = 1; c < k; ++c)
          if (r.at(i * k + c) > r.at(i * k + best)) best = c;
        os << csv_cell(pre.label_text(best));
        for (int64_t c = 0; c < k; ++c) os << "," << fmt::format("{:.6g}", r.at(i * k + c));
        os << "\n";
      } else {
        os << int64_t(r.at(i)) << "\n";
      }
    }
  }
  os.flush();
  if (!os) throw Error((to_stdout ? std::string("stdout") : o.out) + ": write failed (disk full?)");
  return n;
}

}  // namespace train
}  // namespace ft
