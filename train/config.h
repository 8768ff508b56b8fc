// config.h — the training configuration: one YAML file validated against a
// schema (train/config_schema.cpp), with --set key=value overrides.
//
// Every key has a type, a default and a meaning; docs/CONFIG.md is generated
// from the schema (`train --help-config`). Unknown keys, wrong types and
// impossible values are errors naming the key and file:line.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"

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

const std::vector<KeySpec>& schema();
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
  std::string dump() const;                           // all keys as YAML-ish text
  const std::string& path() const { return path_; }

 private:
  void validate_cross() const;  // relations between keys
  std::map<std::string, std::string> v_;      // key -> canonical text
  std::map<std::string, std::string> where_;  // key -> origin
  std::string path_;
};

}  // namespace train
}  // namespace ft
