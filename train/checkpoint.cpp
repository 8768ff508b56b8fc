// checkpoint.cpp
#include "train/checkpoint.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

namespace fs = std::filesystem;

namespace ft {
namespace train {

CheckpointManager::CheckpointManager(std::string dir, int keep) : dir_(std::move(dir)), keep_(std::max(1, keep)) {}

std::string CheckpointManager::save(const Checkpoint& c) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw Error(dir_ + ": cannot create checkpoint folder: " + ec.message());
  char name[32];
  std::snprintf(name, sizeof(name), "step-%08lld", static_cast<long long>(c.step));
  fs::path final_dir = fs::path(dir_) / name, tmp = fs::path(dir_) / (std::string(".tmp-") + name);
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp);
  save_safetensors((tmp / "model.safetensors").string(), c.model, {{"step", std::to_string(c.step)}});
  save_safetensors((tmp / "optimizer.safetensors").string(), c.optimizer, {{"step", std::to_string(c.step)}});
  write_file_atomic((tmp / "state.json").string(), c.state_json);
  fs::remove_all(final_dir, ec);
  fs::rename(tmp, final_dir, ec);
  if (ec) throw Error(final_dir.string() + ": cannot finish checkpoint: " + ec.message());
  write_file_atomic((fs::path(dir_) / "latest").string(), std::string(name) + "\n");
  // Retention: keep the newest `keep` folders.
  std::vector<std::string> all;
  for (const auto& e : fs::directory_iterator(dir_))
    if (e.is_directory() && e.path().filename().string().rfind("step-", 0) == 0) all.push_back(e.path().string());
  std::sort(all.begin(), all.end());
  for (size_t i = 0; i + size_t(keep_) < all.size(); ++i) fs::remove_all(all[i], ec);
  return final_dir.string();
}

std::string CheckpointManager::latest() const {
  fs::path p = fs::path(dir_) / "latest";
  if (!fs::exists(p)) return "";
  std::string name = read_file(p.string());
  while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
  fs::path d = fs::path(dir_) / name;
  if (!fs::is_directory(d)) throw Error(p.string() + ": names '" + name + "', which does not exist");
  return d.string();
}

Checkpoint CheckpointManager::load(const std::string& path) {
  fs::path d = path;
  if (!fs::exists(d)) throw Error(path + ": no such checkpoint");
  if (fs::exists(d / "latest")) d = CheckpointManager(path, 1).latest();
  for (const char* f : {"model.safetensors", "optimizer.safetensors", "state.json"})
    if (!fs::exists(d / f)) throw Error(d.string() + ": incomplete checkpoint, missing " + f);
  Checkpoint c;
  c.model = load_safetensors((d / "model.safetensors").string());
  c.optimizer = load_safetensors((d / "optimizer.safetensors").string());
  c.state_json = read_file((d / "state.json").string());
  try {
    auto j = nlohmann::json::parse(c.state_json);
    c.step = j.at("step").get<int64_t>();
  } catch (const std::exception& e) {
    throw Error((d / "state.json").string() + ": corrupt: " + e.what());
  }
  return c;
}

}  // namespace train
}  // namespace ft
