// checkpoint.cpp
#include "train/checkpoint.h"

#include "core/graph.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <unistd.h>

namespace fs = std::filesystem;

namespace ft {
namespace train {
namespace {

const char* const kFiles[] = {"model.safetensors", "optimizer.safetensors", "state.json"};

std::string step_name(int64_t step) {
  char name[32];
  std::snprintf(name, sizeof(name), "step-%08lld", static_cast<long long>(step));
  return name;
}

std::string slice_name(int slice) { return "mp" + std::to_string(slice); }

// The folder of one slice inside a checkpoint folder (the folder itself when unsliced).
fs::path slice_dir(const fs::path& ckpt, int slice, int slices) {
  return slices > 1 ? ckpt / slice_name(slice) : ckpt;
}

// The first of the checkpoint files missing from `d`, or "".
std::string missing_file(const fs::path& d) {
  for (const char* f : kFiles)
    if (!fs::is_regular_file(d / f)) return f;
  return "";
}

}  // namespace

CheckpointManager::CheckpointManager(std::string dir, int keep, bool cleanup)
    : dir_(std::move(dir)), keep_(std::max(1, keep)) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw Error(dir_ + ": cannot create checkpoint folder: " + ec.message());
  // A probe file, so an unwritable folder is an error now and not at the first save.
  const fs::path probe = fs::path(dir_) / (".probe-" + std::to_string(::getpid()));
  write_file_atomic(probe.string(), "");
  fs::remove(probe, ec);
  if (!cleanup) return;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(".tmp-step-", 0) == 0 || name.rfind(".old-step-", 0) == 0) fs::remove_all(e.path(), ec);
  }
}

void CheckpointManager::write_slice(const Checkpoint& c, int slice, int slices) {
  const fs::path tmp = fs::path(dir_) / (".tmp-" + step_name(c.state.step));
  const fs::path d = slice_dir(tmp, slice, slices);
  std::error_code ec;
  fs::remove_all(d, ec);
  fs::create_directories(d, ec);
  if (ec) throw Error(d.string() + ": cannot create checkpoint folder: " + ec.message());
  try {
    const std::map<std::string, std::string> meta = {{"step", std::to_string(c.state.step)}};
    save_safetensors((d / "model.safetensors").string(), c.model, meta);
    if (delay_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
    save_safetensors((d / "optimizer.safetensors").string(), c.optimizer, meta);
    for (const auto& kv : c.files) write_file_atomic((d / kv.first).string(), kv.second);
    write_file_atomic((d / "state.json").string(), c.state.to_json());
  } catch (...) {
    fs::remove_all(slices > 1 ? d : tmp, ec);  // a full disk is not kept full by a half checkpoint
    throw;
  }
}

std::string CheckpointManager::commit(int64_t step, int slices) {
  const std::string name = step_name(step);
  const fs::path root(dir_), tmp = root / (".tmp-" + name), final_dir = root / name, old = root / (".old-" + name);
  std::error_code ec;
  for (int s = 0; s < slices; ++s) {
    const fs::path d = slice_dir(tmp, s, slices);
    const std::string miss = missing_file(d);
    if (!miss.empty()) {
      fs::remove_all(tmp, ec);
      throw Error(d.string() + ": checkpoint slice is incomplete (no " + miss + "); not committed");
    }
  }
  // An existing folder of the same step is moved aside first, so `latest` never
  // names a folder that is being replaced.
  if (fs::exists(final_dir)) {
    fs::remove_all(old, ec);
    fs::rename(final_dir, old, ec);
    if (ec) throw Error(final_dir.string() + ": cannot replace checkpoint: " + ec.message());
  }
  fs::rename(tmp, final_dir, ec);
  if (ec) throw Error(final_dir.string() + ": cannot finish checkpoint: " + ec.message());
  write_file_atomic((root / "latest").string(), name + "\n");
  fs::remove_all(old, ec);
  // Retention: keep the `keep` most recently written folders, by write order (a
  // folder's state.json time), not by step: a run that continues from an older
  // checkpoint beside newer ones keeps what it writes. The folder just written
  // is never removed.
  std::vector<std::pair<fs::file_time_type, fs::path>> all;
  for (const auto& e : fs::directory_iterator(dir_)) {
    if (!e.is_directory() || e.path().filename().string().rfind("step-", 0) != 0 || e.path() == final_dir) continue;
    fs::path state = slices > 1 ? e.path() / slice_name(0) / "state.json" : e.path() / "state.json";
    auto t = fs::last_write_time(fs::exists(state) ? state : e.path(), ec);
    if (ec) t = fs::file_time_type::min();
    all.emplace_back(t, e.path());
  }
  std::sort(all.begin(), all.end());
  for (size_t i = 0; i + size_t(keep_) < all.size() + 1; ++i) fs::remove_all(all[i].second, ec);
  return final_dir.string();
}

std::string CheckpointManager::save(const Checkpoint& c) {
  write_slice(c, 0, 1);
  return commit(c.state.step, 1);
}

std::string CheckpointManager::latest() const {
  fs::path p = fs::path(dir_) / "latest";
  if (!fs::exists(p)) return "";
  std::string name = read_file(p.string());
  while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
  if (name.empty() || name.find('/') != std::string::npos || name.find("..") != std::string::npos)
    throw Error(p.string() + ": does not name a checkpoint folder ('" + name + "')");
  fs::path d = fs::path(dir_) / name;
  if (!fs::is_directory(d)) throw Error(p.string() + ": names '" + name + "', which does not exist");
  return d.string();
}

std::string CheckpointManager::folder(const std::string& path) {
  return fs::exists(fs::path(path) / "latest") ? CheckpointManager(path, 1, false).latest() : path;
}

void load_variables(Graph& g, const TensorMap& model, const std::string& where) {
  for (const Value& v : g.variables()) {
    auto it = model.find(v.name());
    if (it == model.end()) throw Error(where + ": checkpoint has no tensor '" + v.name() + "'");
    const Tensor& t = g.value(v);
    if (it->second.shape() != t.shape() || it->second.dtype() != t.dtype())
      throw Error(where + ": tensor '" + v.name() + "' is " + shape_str(it->second.shape()) + " " +
                  dtype_name(it->second.dtype()) + ", the model needs " + shape_str(t.shape()) + " " + dtype_name(t.dtype()));
    g.value(v).copy_from(it->second);
  }
}

Checkpoint CheckpointManager::load(const std::string& path, int slice, int slices) {
  fs::path d = path;
  if (!fs::exists(d)) throw Error(path + ": no such checkpoint");
  if (fs::exists(d / "latest")) {
    d = folder(path);
  } else if (slices > 1 && fs::exists(d / slice_name(slice) / "latest")) {
    // The layout of earlier versions: DIR/mp<i>/step-N, one `latest` per slice.
    d = CheckpointManager((d / slice_name(slice)).string(), 1, false).latest();
    slices = 1;
  }
  if (slices > 1) {
    if (!fs::is_directory(d / slice_name(slice)))
      throw Error(d.string() + ": has no slice " + slice_name(slice) + " (distributed.model_parallel = " +
                  std::to_string(slices) + " needs mp0..mp" + std::to_string(slices - 1) + ")");
    d /= slice_name(slice);
  } else if (fs::is_directory(d / "mp0")) {
    throw Error(d.string() + ": is a model-parallel checkpoint (slices mp0, ...); set distributed.model_parallel");
  }
  const std::string miss = missing_file(d);
  if (!miss.empty()) throw Error(d.string() + ": incomplete checkpoint, missing " + miss);
  Checkpoint c;
  c.model = load_safetensors((d / "model.safetensors").string());
  c.optimizer = load_safetensors((d / "optimizer.safetensors").string());
  const std::string state_file = (d / "state.json").string();
  c.state = TrainState::parse(read_file(state_file), state_file);
  return c;
}

void CheckpointManager::check_slices_agree(const std::string& path, const std::vector<int64_t>& steps) {
  if (std::all_of(steps.begin(), steps.end(), [&](int64_t s) { return s == steps.front(); })) return;
  std::string list;
  for (size_t i = 0; i < steps.size(); ++i)
    list += (i ? ", " : "") + slice_name(int(i)) + " at step " + std::to_string(steps[i]);
  throw Error(path + ": the model-parallel slices are from different steps (" + list +
              "); resume from one complete checkpoint");
}

namespace {
void put_u64(std::string& out, uint64_t v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); }
void put_str(std::string& out, const std::string& v) {
  put_u64(out, v.size());
  out += v;
}
void put_map(std::string& out, const TensorMap& m) {
  put_u64(out, m.size());
  for (const auto& kv : m) {
    put_str(out, kv.first);
    put_u64(out, uint64_t(kv.second.dtype()));
    put_u64(out, kv.second.shape().size());
    for (int64_t d : kv.second.shape()) put_u64(out, uint64_t(d));
    out.append(static_cast<const char*>(kv.second.raw()), kv.second.bytes());
  }
}
struct Reader {
  const std::string& in;
  size_t at = 0;
  const char* take(size_t n) {
    if (n > in.size() - at) throw Error("checkpoint received from the reading rank is truncated");
    at += n;
    return in.data() + at - n;
  }
  uint64_t u64() {
    uint64_t v;
    std::memcpy(&v, take(sizeof v), sizeof v);
    return v;
  }
  std::string str() {
    const size_t n = size_t(u64());
    return std::string(take(n), n);
  }
  TensorMap map() {
    TensorMap m;
    for (uint64_t i = 0, n = u64(); i < n; ++i) {
      std::string name = str();
      const DType dt = DType(u64());
      Shape shape(static_cast<size_t>(u64()));
      for (auto& d : shape) d = int64_t(u64());
      Tensor t = Tensor::empty(shape, dt);
      std::memcpy(t.raw(), take(t.bytes()), t.bytes());
      m.emplace(std::move(name), std::move(t));
    }
    return m;
  }
};
}  // namespace

std::string pack_checkpoint(const Checkpoint& c) {
  std::string out;
  put_str(out, c.state.to_json());
  put_map(out, c.model);
  put_map(out, c.optimizer);
  return out;
}

Checkpoint unpack_checkpoint(const std::string& bytes) {
  Reader r{bytes};
  Checkpoint c;
  c.state = TrainState::parse(r.str(), "state.json (received from the reading rank)");
  c.model = r.map();
  c.optimizer = r.map();
  return c;
}

void check_optimizer_state(const std::string& file, const TensorMap& tensors, const std::vector<std::string>& params,
                           const std::vector<std::string>& slots) {
  for (const auto& p : params)
    for (const auto& s : slots)
      if (!tensors.count(p + "/" + s))
        throw Error(file + ": optimizer state lacks '" + p + "/" + s + "' (" + std::to_string(tensors.size()) +
                    " tensors in the file); the checkpoint is incomplete, or pass --reset-optimizer to start the "
                    "optimizer afresh");
}

}  // namespace train
}  // namespace ft
