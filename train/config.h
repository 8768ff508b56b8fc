// config.h — the training configuration: one YAML file validated against a
// schema, with --set key=value overrides, then parsed once into typed structs.
//
// Two layers:
//   Config     the validated keys: every key has a type, a default, a range and a
//              meaning; unknown keys, duplicates, wrong types and impossible values
//              are errors naming the key and file:line. where(key) tells a key's
//              origin for later errors.
//   RunConfig  the typed sections the trainer and each subsystem receive (TrainConfig,
//              DataConfig, OptimizerConfig, DistributedConfig, ...), read from a
//              Config once; nothing reads a key by name in a step.
//
// The schema is the base keys (config_schema.cpp) plus the sections that models
// and datasets register (train/registry.h): a user's model adds its own keys,
// with types, ranges and cross-key rules, validated exactly like the built-in
// ones. docs/CONFIG.md is generated from it (`train --help-config`).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "optim/factory.h"
#include "optim/schedule.h"

namespace ft {
namespace train {

enum class KeyType { Int, Float, Bool, String, IntList };

struct KeySpec {
  std::string key;    // dotted path, e.g. "optimizer.lr"
  KeyType type;
  std::string def;    // default, as YAML text ("" for string = empty)
  std::string choices;  // "a|b|c" for enumerations, "" = any
  double min = -1e300, max = 1e300;  // numeric range (inclusive)
  std::string doc;
};

class Config;

// Keys a model or dataset adds to the schema, and the rules between them (run once
// per load, after every key is set, when the owner is the chosen model or dataset,
// or always for owner ""; throw via Config::fail). A key may appear in several
// sections (model.dropout) when the specs are the same.
struct ConfigSection {
  std::string owner;  // "mlp", "bert", "mnist", a user's model or dataset name
  std::vector<KeySpec> keys;
  std::function<void(const Config&)> validate;
};

// Adds a section to the schema (before Config::load). Throws on a key that
// another section declares differently.
void register_config_section(ConfigSection section);

// Every key: the base keys, then the registered sections' keys.
std::vector<KeySpec> schema();
// The shortest text that reads back as the same double (0.1, not 0.10000000000000001).
std::string shortest_float(double v);
std::string schema_markdown();  // the docs/CONFIG.md table

class Config {
 public:
  // Loads defaults, then the file (may be empty = defaults only), then overrides
  // "a.b=value". Throws ft::Error with one line naming the key (and file:line).
  static Config load(const std::string& path, const std::vector<std::string>& overrides = {});
  static Config defaults() { return load(""); }

  int64_t i(const std::string& key) const;
  double f(const std::string& key) const;
  bool b(const std::string& key) const;
  const std::string& s(const std::string& key) const;
  std::vector<int64_t> ints(const std::string& key) const;
  void set(const std::string& key, const std::string& yaml_value, const std::string& where = "--set");
  std::string where(const std::string& key) const;  // "file:line" or "--set" or "default"
  // Throws "<where(key)>: key '<key>' <why>", the one shape of a config error.
  [[noreturn]] void fail(const std::string& key, const std::string& why) const;
  std::string dump() const;                           // all keys as YAML-ish text
  const std::string& path() const { return path_; }

 private:
  void validate_cross() const;  // relations between keys
  std::map<std::string, std::string> v_;      // key -> canonical text
  std::map<std::string, std::string> where_;  // key -> origin
  std::string path_;
};

// ---- typed sections ------------------------------------------------------------

struct CheckpointConfig {
  bool enabled = true;
  std::string dir;    // RUN_DIR/checkpoints unless train.checkpoint.dir names one; "" = none (enabled false)
  int64_t every = 0;  // 0 = only at the end
  int keep = 3;
};

struct TrainConfig {
  int64_t steps = 0, log_every = 1, eval_every = 0;
  std::string run_dir;       // train.run_dir, or FT_RUNS_ROOT (default runs)/<config file name>
  std::string metrics_file;  // RUN_DIR/metrics.jsonl unless train.metrics_file names one
  bool tensorboard = true;   // TensorBoard scalars in RUN_DIR
  std::string log_level;     // debug | info | warn | error
  CheckpointConfig checkpoint;
  uint64_t seed = 0;
  int threads = 0;             // 0 = cores / ranks on this node
  double clip_norm = 0;        // 0 = off
  double loss_scale = 0;       // initial dynamic loss scale; 0 = 65536 for fp16, else off
  int64_t loss_scale_window = 2000;
  std::string trace_file;  // train.trace_file, or RUN_DIR/trace.json with train.trace; "" = no timeline
  int64_t trace_steps = 0;
  bool profile = false;
};

struct DataConfig {
  std::string type;  // dataset name (registry); "" = the model's default dataset
  std::string dir;
  int64_t batch_size = 0, eval_batch_size = 0, eval_examples = 0;
  bool prefetch = true;
};

struct OptimizerConfig {
  optim::OptimizerOptions options;
  std::string schedule;  // constant | step | warmup_linear | warmup_cosine
  int64_t warmup = 0, step_size = 1000;
  double gamma = 0.1, min_lr = 0;
};

struct PsConfig {
  int servers = 1;
  int64_t staleness = 0;
  double chunk_mb = 4;
};

struct DistributedConfig {
  std::string mode;                 // allreduce-sync | ps-async | ps-sync
  double bucket_mb = 25;
  std::string allreduce_algorithm;  // auto | shm | ring | mpi
  bool deterministic = false;
  int64_t micro_batch = 0;
  std::string backend;              // auto | mpi | nccl
  double stall_warning_s = 60;
  double stall_timeout_s = 0;       // 0: wait forever
  int model_parallel = 1;
  PsConfig ps;
};

struct DebugConfig {
  int slow_rank = -1;
  int64_t slow_ms = 0;
  int64_t slow_checkpoint_ms = 0;
  bool check_numerics = false;
};

struct RunConfig {
  Config raw;             // the validated keys, for model sections and errors' file:line
  std::string model;      // model.type (registry)
  std::string device;     // cpu | cuda
  std::string precision;  // fp32 | fp16 | bf16
  TrainConfig train;
  DataConfig data;
  OptimizerConfig optimizer;
  DistributedConfig distributed;
  DebugConfig debug;

  explicit RunConfig(Config c);
  std::string where(const std::string& key) const { return raw.where(key); }
  [[noreturn]] void fail(const std::string& key, const std::string& why) const { raw.fail(key, why); }
};

}  // namespace train
}  // namespace ft
