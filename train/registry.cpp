// registry.cpp — the registries, and the checks of the names and capabilities a
// config asks for (run once by Config::load).
#include "train/registry.h"

#include <map>
#include <mutex>

namespace ft {
namespace train {

void register_zoo();                  // zoo.cpp: mlp, cnn, bert; mnist, mlm_corpus
void register_premade();              // premade.cpp: linear_classifier, linear_regressor, dnn_classifier, dnn_regressor
void register_tabular();              // tabular.cpp: csv, libsvm
void register_allreduce_strategy();   // allreduce_strategy.cpp
void register_ps_strategies();        // ps_strategy.cpp: ps-async, ps-sync

namespace {

struct Registry {
  std::mutex mu;
  std::map<std::string, ModelEntry> models;
  std::map<std::string, DatasetEntry> datasets;
  std::map<std::string, StrategyEntry> strategies;
};

Registry& reg() {
  static Registry r;
  return r;
}

template <class M>
std::string names_of(const M& m) {
  std::string s;
  for (const auto& kv : m) s += (s.empty() ? "" : ", ") + kv.first;
  return s;
}

template <class M>
const typename M::mapped_type& find_or_list(const M& m, const Config& c, const std::string& key,
                                            const std::string& name, const char* what) {
  auto it = m.find(name);
  if (it == m.end()) c.fail(key, "= " + name + " is not a registered " + what + " (registered: " + names_of(m) + ")");
  return it->second;
}

}  // namespace

void register_builtins() {
  register_zoo();
  register_premade();
  register_tabular();
  register_allreduce_strategy();
  register_ps_strategies();
}

ModelGraph build_model(Graph& g, const Config& c, const nn::TensorParallel& tp) {
  return model_entry(c).make(c)->build(g, BuildContext{c, tp, uint64_t(c.i("train.seed")), {}});
}

std::unique_ptr<Dataset> load_dataset(const Config& c) { return dataset_entry(c).make(c); }

void register_model(ModelEntry e) {
  e.config.owner = e.name;
  register_config_section(e.config);
  std::lock_guard<std::mutex> l(reg().mu);
  reg().models[e.name] = std::move(e);
}

void register_dataset(DatasetEntry e) {
  e.config.owner = e.name;
  register_config_section(e.config);
  std::lock_guard<std::mutex> l(reg().mu);
  reg().datasets[e.name] = std::move(e);
}

void register_strategy(StrategyEntry e) {
  schema();  // the built-ins first, so a user's entry of the same name replaces them
  std::lock_guard<std::mutex> l(reg().mu);
  reg().strategies[e.name] = std::move(e);
}

const ModelEntry& model_entry(const Config& c) {
  schema();
  std::lock_guard<std::mutex> l(reg().mu);
  return find_or_list(reg().models, c, "model.type", c.s("model.type"), "model");
}

const DatasetEntry& dataset_entry(const Config& c) {
  const std::string name = c.s("data.type").empty() ? model_entry(c).dataset : c.s("data.type");
  std::lock_guard<std::mutex> l(reg().mu);
  return find_or_list(reg().datasets, c, "data.type", name, "dataset");
}

const StrategyEntry& strategy_entry(const Config& c) {
  schema();
  std::lock_guard<std::mutex> l(reg().mu);
  return find_or_list(reg().strategies, c, "distributed.mode", c.s("distributed.mode"), "strategy");
}

template <class M>
std::vector<std::string> keys_of(const M& m) {
  schema();  // the built-ins are registered on first use
  std::lock_guard<std::mutex> l(reg().mu);
  std::vector<std::string> v;
  for (const auto& kv : m) v.push_back(kv.first);
  return v;
}

std::vector<std::string> model_names() { return keys_of(reg().models); }
std::vector<std::string> dataset_names() { return keys_of(reg().datasets); }
std::vector<std::string> strategy_names() { return keys_of(reg().strategies); }

// The rules between keys of different subsystems, each checked here once.
std::vector<std::string> validate_registered(const Config& c) {
  const ModelEntry& model = model_entry(c);
  const DatasetEntry& data = dataset_entry(c);
  const StrategyEntry& strategy = strategy_entry(c);
  const std::string mode = c.s("distributed.mode");
  const int64_t mp = c.i("distributed.model_parallel");
  const std::string prec = c.s("precision");
  if (mp > 1 && !strategy.caps.model_parallel)
    c.fail("distributed.model_parallel", "= " + std::to_string(mp) + " cannot be combined with distributed.mode " +
                                             mode + " (parameter servers hold whole layers; use 1)");
  if (mp > 1 && c.b("distributed.deterministic"))
    c.fail("distributed.model_parallel",
           "= " + std::to_string(mp) + " cannot be combined with distributed.deterministic (use 1)");
  if (mp > 1 && !model.tensor_parallel)
    c.fail("distributed.model_parallel", "= " + std::to_string(mp) + ": model.type " + model.name +
                                             " has no tensor-parallel layers (use mlp or bert)");
  if (prec != "fp32" && !strategy.caps.mixed_precision)
    c.fail("precision", "= " + prec + " is supported in allreduce-sync only");
  if (c.f("train.loss_scale") > 0 && !strategy.caps.mixed_precision)
    c.fail("train.loss_scale", "is supported in allreduce-sync only");
  if (c.s("distributed.backend") == "nccl" && !strategy.caps.device_comm)
    c.fail("distributed.backend", "= nccl is supported in allreduce-sync only");
  return {model.name, data.name};
}

}  // namespace train
}  // namespace ft
