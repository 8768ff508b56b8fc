// state.cpp — state.json, written and read with every field checked.
#include "train/state.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/tensor.h"

namespace ft {
namespace train {
namespace {

using json = nlohmann::json;

struct Reader {
  const json& j;
  const std::string& file;
  [[noreturn]] void fail(const std::string& field, const std::string& why) const {
    throw Error(file + ": field '" + field + "' " + why);
  }
  bool has(const char* field) const { return j.contains(field); }
  int64_t integer(const char* field, int64_t lo, int64_t hi) const {
    if (!j.contains(field)) fail(field, "is missing");
    const json& v = j.at(field);
    if (!v.is_number_integer()) fail(field, "must be an integer, got " + v.dump());
    // Unsigned values above INT64_MAX are out of range too.
    if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)) fail(field, "= " + v.dump() + " is out of range");
    const int64_t x = v.get<int64_t>();
    if (x < lo || x > hi)
      fail(field, "= " + std::to_string(x) + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    return x;
  }
  double positive(const char* field) const {
    if (!j.contains(field)) fail(field, "is missing");
    const json& v = j.at(field);
    if (!v.is_number()) fail(field, "must be a number, got " + v.dump());
    const double x = v.get<double>();
    if (!std::isfinite(x) || x <= 0) fail(field, "= " + v.dump() + " must be a finite number above 0");
    return x;
  }
};

}  // namespace

std::string TrainState::to_json() const {
  json j = {{"step", step},          {"optimizer_step", optimizer_step}, {"data_epoch", data_epoch},
            {"data_index", data_index}, {"mode", mode},                  {"world", world}};
  if (has_loss_scale) {
    j["loss_scale"] = loss_scale;
    j["loss_scale_clean_steps"] = loss_scale_clean_steps;
    j["skipped_steps"] = skipped_steps;
  }
  if (!kernel_choices.empty()) j["kernel_choices"] = kernel_choices;
  return j.dump();
}

TrainState TrainState::parse(const std::string& text, const std::string& file) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(file + ": corrupt: " + e.what());
  }
  if (!j.is_object()) throw Error(file + ": corrupt: expected a JSON object");
  const Reader r{j, file};
  TrainState s;
  s.step = r.integer("step", 0, kMaxStep);
  s.data_epoch = r.integer("data_epoch", 0, kMaxStep);
  s.data_index = r.integer("data_index", 0, int64_t(1) << 62);
  if (r.has("mode")) {
    if (!j.at("mode").is_string()) r.fail("mode", "must be a string");
    s.mode = j.at("mode").get<std::string>();
  }
  if (r.has("world")) s.world = r.integer("world", 1, int64_t(1) << 24);
  // Every worker's push is an update of the servers' optimizer (ps-async), so it
  // may have applied up to step x world updates.
  const int64_t cap = int64_t(1) << 62;
  const int64_t most_updates = s.step > cap / s.world ? cap : s.step * s.world;
  s.optimizer_step = r.has("optimizer_step") ? r.integer("optimizer_step", 0, most_updates) : 0;
  if (r.has("loss_scale")) {
    s.has_loss_scale = true;
    s.loss_scale = r.positive("loss_scale");
    s.loss_scale_clean_steps = r.integer("loss_scale_clean_steps", 0, kMaxStep);
    s.skipped_steps = r.integer("skipped_steps", 0, s.step);
  }
  if (r.has("kernel_choices")) {
    const json& k = j.at("kernel_choices");
    if (!k.is_object()) r.fail("kernel_choices", "must be an object of kernel names, got " + k.dump());
    for (auto it = k.begin(); it != k.end(); ++it) {
      if (!it.value().is_string())
        r.fail("kernel_choices", "entry '" + it.key() + "' must be a kernel name, got " + it.value().dump());
      s.kernel_choices[it.key()] = it.value().get<std::string>();
    }
  }
  return s;
}

}  // namespace train
}  // namespace ft
