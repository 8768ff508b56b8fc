// config.cpp — YAML loading and validation against the schema.
#include "train/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <deque>
#include <iterator>
#include <mutex>
#include <fstream>
#include <sstream>

namespace ft {
namespace train {

const std::vector<KeySpec>& base_schema();  // config_schema.cpp
void register_builtins();                   // registry.cpp: the zoo's models and datasets
// registry.cpp: checks model.type, data.type and distributed.mode against the
// registries and the strategy's capabilities; returns the chosen model and dataset
// (the owners of the sections whose rules apply).
std::vector<std::string> validate_registered(const Config& c);

namespace {

// The schema: base keys (config_schema.cpp) and the registered sections, in
// registration order; one lookup table by key.
struct Schema {
  std::mutex mu;
  std::deque<KeySpec> keys;  // stable addresses for spec_of()
  std::map<std::string, size_t> index;
  std::vector<ConfigSection> sections;
  bool base_done = false;
};

Schema& the_schema() {
  static Schema s;
  return s;
}

bool same_spec(const KeySpec& a, const KeySpec& b) {
  return a.type == b.type && a.def == b.def && a.choices == b.choices && a.min == b.min && a.max == b.max;
}

// Adds keys under the lock; a key declared again must have the same spec.
void add_keys(Schema& s, const std::vector<KeySpec>& keys, const std::string& owner) {
  for (const KeySpec& k : keys) {
    auto it = s.index.find(k.key);
    if (it != s.index.end()) {
      if (!same_spec(s.keys[it->second], k))
        throw Error("config section '" + owner + "': key '" + k.key + "' is already declared with another type, "
                    "default, choices or range");
      continue;
    }
    s.index[k.key] = s.keys.size();
    s.keys.push_back(k);
  }
}

// The base keys, then the built-in models and datasets (explicitly, on first use).
Schema& schema_ready() {
  Schema& s = the_schema();
  bool first = false;
  {
    std::lock_guard<std::mutex> l(s.mu);
    if (!s.base_done) {
      add_keys(s, base_schema(), "base");
      s.base_done = first = true;
    }
  }
  if (first) register_builtins();
  return s;
}

const KeySpec* spec_of(const std::string& key) {
  Schema& s = schema_ready();
  std::lock_guard<std::mutex> l(s.mu);
  auto it = s.index.find(key);
  return it == s.index.end() ? nullptr : &s.keys[it->second];
}

bool is_prefix(const std::string& p) {
  Schema& s = schema_ready();
  std::lock_guard<std::mutex> l(s.mu);
  auto it = s.index.lower_bound(p + ".");
  return it != s.index.end() && it->first.compare(0, p.size() + 1, p + ".") == 0;
}

std::string at(const std::string& file, const YAML::Mark& m) {
  return file + ":" + std::to_string(m.line + 1);
}


// Checks one value against its spec and returns the canonical text. `where`
// prefixes errors ("cfg.yaml:12" or "--set").
std::string canonical(const KeySpec& k, const YAML::Node& n, const std::string& where) {
  auto bad = [&](const std::string& why) -> Error {
    return Error(where + ": key '" + k.key + "' " + why);
  };
  auto range = [&](double v) {
    if (v < k.min || v > k.max) {
      std::ostringstream o;
      o << "= " << v << " is out of range";
      if (k.min > -1e299) o << " (min " << k.min;
      if (k.max < 1e299) o << (k.min > -1e299 ? ", max " : " (max ") << k.max;
      if (k.min > -1e299 || k.max < 1e299) o << ")";
      throw bad(o.str());
    }
  };
  if (k.type == KeyType::IntList) {
    if (!n.IsSequence()) throw bad("must be a list of integers, e.g. [512, 512]");
    std::ostringstream o;
    o << "[";
    for (size_t i = 0; i < n.size(); ++i) {
      int64_t v;
      if (!n[i].IsScalar() || !YAML::convert<int64_t>::decode(n[i], v))
        throw bad("must be a list of integers, got element '" + (n[i].IsScalar() ? n[i].Scalar() : "?") + "'");
      range(double(v));
      o << (i ? ", " : "") << v;
    }
    o << "]";
    return o.str();
  }
  if (!n.IsScalar()) throw bad("must be a single value, not a list or map");
  const std::string& text = n.Scalar();
  switch (k.type) {
    case KeyType::Int: {
      int64_t v;
      if (!YAML::convert<int64_t>::decode(n, v)) throw bad("must be an integer, got '" + text + "'");
      range(double(v));
      return std::to_string(v);
    }
    case KeyType::Float: {
      double v;
      if (!YAML::convert<double>::decode(n, v) || !std::isfinite(v)) throw bad("must be a number, got '" + text + "'");
      range(v);
      return shortest_float(v);
    }
    case KeyType::Bool: {
      bool v;
      if (!YAML::convert<bool>::decode(n, v)) throw bad("must be true or false, got '" + text + "'");
      return v ? "true" : "false";
    }
    case KeyType::String: {
      if (!k.choices.empty()) {
        std::string c = "|" + k.choices + "|";
        if (c.find("|" + text + "|") == std::string::npos)
          throw bad("must be one of " + k.choices + ", got '" + text + "'");
      }
      return text;
    }
    default: break;
  }
  return text;
}

void walk(const YAML::Node& n, const std::string& prefix, const std::string& file,
          std::map<std::string, std::string>& v, std::map<std::string, std::string>& where) {
  std::map<std::string, int> seen;  // key in this map -> its line
  for (auto it = n.begin(); it != n.end(); ++it) {
    const std::string name = it->first.Scalar();
    const std::string key = prefix.empty() ? name : prefix + "." + name;
    const std::string loc = at(file, it->first.Mark());
    auto dup = seen.emplace(name, it->first.Mark().line + 1);
    if (!dup.second)
      throw Error(loc + ": key '" + key + "' is given twice (lines " + std::to_string(dup.first->second) + " and " +
                  std::to_string(it->first.Mark().line + 1) + ")");
    if (const KeySpec* k = spec_of(key)) {
      v[key] = canonical(*k, it->second, loc);
      where[key] = loc;
    } else if (is_prefix(key)) {
      if (!it->second.IsMap()) throw Error(loc + ": key '" + key + "' must be a map of keys");
      walk(it->second, key, file, v, where);
    } else {
      throw Error(loc + ": unknown key '" + key + "' (see docs/CONFIG.md)");
    }
  }
}

}  // namespace

std::string shortest_float(double v) {
  char b[40];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(b, sizeof(b), "%.*g", prec, v);
    if (std::strtod(b, nullptr) == v) break;
  }
  return b;
}

Config Config::load(const std::string& path, const std::vector<std::string>& overrides) {
  Config c;
  c.path_ = path;
  for (const auto& k : schema()) {
    c.v_[k.key] = canonical(k, YAML::Load(k.def.empty() ? "\"\"" : k.def), "default");
    c.where_[k.key] = "default";
  }
  if (!path.empty()) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open config file");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) throw Error(path + ": cannot read config file");
    const size_t nul = text.find('\0');
    if (nul != std::string::npos) {
      const auto line = std::count(text.begin(), text.begin() + std::ptrdiff_t(nul), '\n') + 1;
      throw Error(path + ":" + std::to_string(line) + ": a NUL byte at offset " + std::to_string(nul) +
                  ": a config is YAML text");
    }
    YAML::Node root;
    try {
      root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      throw Error(path + ":" + std::to_string(e.mark.line + 1) + ": invalid YAML: " + e.msg);
    }
    if (root.IsNull()) {
      // empty file: defaults
    } else if (!root.IsMap()) {
      throw Error(path + ":" + std::to_string(root.Mark().line + 1) + ": a config must be a map of keys");
    } else {
      walk(root, "", path, c.v_, c.where_);
    }
  }
  for (const auto& o : overrides) {
    auto eq = o.find('=');
    if (eq == std::string::npos || eq == 0) throw Error("--set '" + o + "': expected key=value");
    c.set(o.substr(0, eq), o.substr(eq + 1));
  }
  c.validate_cross();
  return c;
}

void Config::set(const std::string& key, const std::string& yaml_value, const std::string& where) {
  const KeySpec* k = spec_of(key);
  if (!k) throw Error(where + ": unknown key '" + key + "' (see docs/CONFIG.md)");
  YAML::Node n;
  try {
    n = YAML::Load(yaml_value.empty() ? "\"\"" : yaml_value);
  } catch (const YAML::Exception& e) {
    throw Error(where + ": key '" + key + "': invalid value '" + yaml_value + "'");
  }
  v_[key] = canonical(*k, n, where);
  where_[key] = where;
}

void Config::validate_cross() const {
  if (s("optimizer.schedule.type").rfind("warmup", 0) == 0 && i("optimizer.schedule.warmup") >= i("train.steps"))
    fail("optimizer.schedule.warmup", "must be below train.steps (" + std::to_string(i("train.steps")) + ")");
  // Names in the registries, what the strategy supports; the owners whose rules apply.
  const std::vector<std::string> active = validate_registered(*this);
  std::vector<ConfigSection> sections;
  {
    Schema& sc = schema_ready();
    std::lock_guard<std::mutex> l(sc.mu);
    sections = sc.sections;
  }
  for (const ConfigSection& sec : sections)
    if (sec.validate && (sec.owner.empty() || std::count(active.begin(), active.end(), sec.owner)))
      sec.validate(*this);
}

void Config::fail(const std::string& key, const std::string& why) const {
  // A key left at its default is named with the file whose other keys it fails
  // against, and its default value, so the line still says where to fix it.
  const std::string at = where(key);
  if (at == "default" && !path_.empty())
    throw Error(path_ + ": key '" + key + "' (not set, default " + s(key) + ") " + why);
  throw Error(at + ": key '" + key + "' " + why);
}

void register_config_section(ConfigSection section) {
  Schema& s = schema_ready();
  std::lock_guard<std::mutex> l(s.mu);
  for (const ConfigSection& have : s.sections)
    if (have.owner == section.owner) return;  // registered once per owner
  add_keys(s, section.keys, section.owner);
  s.sections.push_back(std::move(section));
}

std::vector<KeySpec> schema() {
  Schema& s = schema_ready();
  std::lock_guard<std::mutex> l(s.mu);
  return std::vector<KeySpec>(s.keys.begin(), s.keys.end());
}

namespace {
[[noreturn]] void no_key(const std::string& key) { throw Error("internal: no config key '" + key + "'"); }
}  // namespace

int64_t Config::i(const std::string& key) const {
  auto it = v_.find(key);
  if (it == v_.end()) no_key(key);
  return std::stoll(it->second);
}
double Config::f(const std::string& key) const {
  auto it = v_.find(key);
  if (it == v_.end()) no_key(key);
  return std::stod(it->second);
}
bool Config::b(const std::string& key) const {
  auto it = v_.find(key);
  if (it == v_.end()) no_key(key);
  return it->second == "true";
}
const std::string& Config::s(const std::string& key) const {
  auto it = v_.find(key);
  if (it == v_.end()) no_key(key);
  return it->second;
}
std::vector<int64_t> Config::ints(const std::string& key) const {
  YAML::Node n = YAML::Load(s(key));
  std::vector<int64_t> out;
  for (size_t i = 0; i < n.size(); ++i) out.push_back(n[i].as<int64_t>());
  return out;
}
std::string Config::where(const std::string& key) const {
  auto it = where_.find(key);
  return it == where_.end() ? "default" : it->second;
}
// Nested YAML that Config::load reads back to the same values: strings quoted,
// numbers in their canonical text, lists in flow style.
std::string Config::dump() const {
  YAML::Emitter e;
  e << YAML::BeginMap;
  std::vector<std::string> open;  // the maps entered, outermost first
  for (const auto& kv : v_) {
    std::vector<std::string> parts;
    for (size_t a = 0, d; a <= kv.first.size(); a = d + 1) {
      d = kv.first.find('.', a);
      if (d == std::string::npos) d = kv.first.size();
      parts.push_back(kv.first.substr(a, d - a));
    }
    size_t common = 0;
    while (common < open.size() && common + 1 < parts.size() && open[common] == parts[common]) ++common;
    for (; open.size() > common; open.pop_back()) e << YAML::EndMap;
    for (size_t i = common; i + 1 < parts.size(); ++i) {
      e << YAML::Key << parts[i] << YAML::Value << YAML::BeginMap;
      open.push_back(parts[i]);
    }
    e << YAML::Key << parts.back() << YAML::Value;
    const KeySpec* k = spec_of(kv.first);
    if (k && k->type == KeyType::String) {
      e << YAML::DoubleQuoted << kv.second;
    } else if (k && k->type == KeyType::IntList) {
      e << YAML::Flow << YAML::BeginSeq;
      for (int64_t x : ints(kv.first)) e << x;
      e << YAML::EndSeq;
    } else {
      e << kv.second;
    }
  }
  for (; !open.empty(); open.pop_back()) e << YAML::EndMap;
  e << YAML::EndMap;
  return std::string(e.c_str()) + "\n";
}

RunConfig::RunConfig(Config c) : raw(std::move(c)) {
  const Config& r = raw;
  model = r.s("model.type");
  device = r.s("device");
  precision = r.s("precision");

  TrainConfig& t = train;
  t.steps = r.i("train.steps");
  t.log_every = r.i("train.log_every");
  t.eval_every = r.i("train.eval_every");
  // The run folder, and every artifact in it unless its own key names a path.
  t.run_dir = r.s("train.run_dir");
  if (t.run_dir.empty()) {
    const char* root = std::getenv("FT_RUNS_ROOT");
    const std::string stem = r.path().empty() ? "run" : std::filesystem::path(r.path()).stem().string();
    t.run_dir = (std::filesystem::path(root && *root ? root : "runs") / stem).string();
  }
  const std::filesystem::path rd(t.run_dir);
  t.metrics_file = r.s("train.metrics_file");
  if (t.metrics_file.empty()) t.metrics_file = (rd / "metrics.jsonl").string();
  t.checkpoint.enabled = r.b("train.checkpoint.enabled");
  t.checkpoint.dir = r.s("train.checkpoint.dir");
  if (t.checkpoint.dir.empty()) t.checkpoint.dir = (rd / "checkpoints").string();
  if (!t.checkpoint.enabled) t.checkpoint.dir.clear();
  t.tensorboard = r.b("train.tensorboard");
  t.log_level = r.s("train.log_level");
  t.checkpoint.every = r.i("train.checkpoint.every");
  t.checkpoint.keep = int(r.i("train.checkpoint.keep"));
  t.seed = uint64_t(r.i("train.seed"));
  t.threads = int(r.i("train.threads"));
  t.clip_norm = r.f("train.clip_norm");
  t.loss_scale = r.f("train.loss_scale");
  t.loss_scale_window = r.i("train.loss_scale_window");
  t.trace_file = r.s("train.trace_file");
  if (t.trace_file.empty() && r.b("train.trace")) t.trace_file = (rd / "trace.json").string();
  t.trace_steps = r.i("train.trace_steps");
  t.profile = r.b("train.profile");

  DataConfig& d = data;
  d.type = r.s("data.type");
  d.dir = r.s("data.dir");
  d.batch_size = r.i("data.batch_size");
  d.eval_batch_size = r.i("data.eval_batch_size");
  d.eval_examples = r.i("data.eval_examples");
  d.prefetch = r.b("data.prefetch");

  optim::OptimizerOptions& o = optimizer.options;
  o.type = r.s("optimizer.type");
  o.lr = r.f("optimizer.lr");
  o.beta1 = r.f("optimizer.beta1");
  o.beta2 = r.f("optimizer.beta2");
  o.eps = r.f("optimizer.eps");
  o.weight_decay = r.f("optimizer.weight_decay");
  o.momentum = r.f("optimizer.momentum");
  o.nesterov = r.b("optimizer.nesterov");
  optimizer.schedule = r.s("optimizer.schedule.type");
  optimizer.warmup = r.i("optimizer.schedule.warmup");
  optimizer.step_size = r.i("optimizer.schedule.step_size");
  optimizer.gamma = r.f("optimizer.schedule.gamma");
  optimizer.min_lr = r.f("optimizer.schedule.min_lr");

  DistributedConfig& x = distributed;
  x.mode = r.s("distributed.mode");
  x.bucket_mb = r.f("distributed.bucket_mb");
  x.allreduce_algorithm = r.s("distributed.allreduce_algorithm");
  x.deterministic = r.b("distributed.deterministic");
  x.micro_batch = r.i("distributed.micro_batch");
  x.backend = r.s("distributed.backend");
  x.stall_warning_s = r.f("distributed.stall_warning_s");
  x.stall_timeout_s = r.f("distributed.stall_timeout_s");
  x.model_parallel = int(r.i("distributed.model_parallel"));
  x.ps.servers = int(r.i("distributed.ps.servers"));
  x.ps.staleness = r.i("distributed.ps.staleness");
  x.ps.chunk_mb = r.f("distributed.ps.chunk_mb");

  debug.slow_rank = int(r.i("debug.slow_rank"));
  debug.slow_ms = r.i("debug.slow_ms");
  debug.slow_checkpoint_ms = r.i("debug.slow_checkpoint_ms");
  debug.check_numerics = r.b("debug.check_numerics");
}

}  // namespace train
}  // namespace ft
