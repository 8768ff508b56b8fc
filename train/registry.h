// registry.h — models, datasets and strategies by name.
//
// The zoo registers itself the same way a user's code does (registry.cpp,
// register_builtins(): mlp, cnn, bert; mnist, mlm_corpus; allreduce-sync,
// ps-async, ps-sync). A user registers before Config::load, so the config's
// model.type / data.type / distributed.mode can name the new entries and the
// section's keys are part of the schema:
//
//   ft::train::register_model({"resmlp", [](const Config& c) { return std::make_unique<ResMlp>(c); },
//                              "spirals", false, {"resmlp", {{"model.width", KeyType::Int, "64", "", 1, 1e6,
//                              "hidden width"}}, nullptr}});
//
// Unknown names are errors that list the registered ones.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "train/config.h"
#include "train/dataset.h"
#include "train/model.h"
#include "train/strategy.h"

namespace ft {
namespace train {

struct ModelEntry {
  std::string name;
  std::function<std::unique_ptr<Model>(const Config&)> make;
  std::string dataset;           // the dataset used when data.type is empty
  bool tensor_parallel = false;  // build() supports ctx.tp.size > 1
  ConfigSection config;          // its keys (owner = name) and their rules
  std::string labels;            // what its labels are: "classes", "values" (regression), "" = classes
};

// data.eval_fraction: one key shared by the datasets that hold out a share of their rows.
extern const KeySpec kEvalFractionKey;
// model.dropout: the same key in every model that has dropout.
extern const KeySpec kDropoutKey;

struct DatasetEntry {
  std::string name;
  std::function<std::unique_ptr<Dataset>(const Config&)> make;
  ConfigSection config;
};

struct StrategyEntry {
  std::string name;
  std::function<std::unique_ptr<Strategy>(const RunConfig&, const comm::CommPtr& world)> make;
  StrategyCaps caps;
};

// Registering a name again replaces the entry.
void register_model(ModelEntry e);
void register_dataset(DatasetEntry e);
void register_strategy(StrategyEntry e);

// Throw "<file:line>: key 'model.type' = x is not a registered model (registered: a, b, c)".
const ModelEntry& model_entry(const Config& c);
const DatasetEntry& dataset_entry(const Config& c);  // data.type, or the model's dataset
const StrategyEntry& strategy_entry(const Config& c);
// The configured model (model.type) built into g, as the Trainer builds it, and
// the configured dataset (data.type, or the model's).
ModelGraph build_model(Graph& g, const Config& c, const nn::TensorParallel& tp = {});
std::unique_ptr<Dataset> load_dataset(const Config& c);

std::vector<std::string> model_names();
std::vector<std::string> dataset_names();
std::vector<std::string> strategy_names();

}  // namespace train
}  // namespace ft
