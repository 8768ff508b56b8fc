// config.cpp — YAML loading and validation against the schema.
#include "train/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <fstream>
#include <sstream>

namespace ft {
namespace train {
namespace {

const KeySpec* spec_of(const std::string& key) {
  for (const auto& k : schema())
    if (k.key == key) return &k;
  return nullptr;
}

bool is_prefix(const std::string& p) {
  for (const auto& k : schema())
    if (k.key.size() > p.size() && k.key.compare(0, p.size(), p) == 0 && k.key[p.size()] == '.') return true;
  return false;
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
      std::ostringstream o;
      o.precision(17);
      o << v;
      return o.str();
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
  auto fail = [&](const std::string& key, const std::string& why) {
    throw Error(where(key) + ": key '" + key + "' " + why);
  };
  if (s("model.type") == "bert") {
    if (i("model.hidden_size") % i("model.heads") != 0) fail("model.heads", "must divide model.hidden_size");
    if (i("data.seq_len") > i("model.max_seq")) fail("data.seq_len", "must not exceed model.max_seq");
  }
  if (s("optimizer.schedule.type").rfind("warmup", 0) == 0 && i("optimizer.schedule.warmup") >= i("train.steps"))
    fail("optimizer.schedule.warmup", "must be below train.steps (" + std::to_string(i("train.steps")) + ")");
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
std::string Config::dump() const {
  std::ostringstream o;
  for (const auto& kv : v_) o << kv.first << ": " << kv.second << "\n";
  return o.str();
}

}  // namespace train
}  // namespace ft
