// safetensors.cpp
#include "train/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/checked.h"

namespace ft {
namespace train {
namespace {

using json = nlohmann::json;

const char* st_dtype(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F64: return "F64";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
  }
  return "?";
}

DType parse_dtype(const std::string& s, const std::string& file) {
  if (s == "F32") return DType::F32;
  if (s == "F64") return DType::F64;
  if (s == "I32") return DType::I32;
  if (s == "I64") return DType::I64;
  if (s == "F16") return DType::F16;
  if (s == "BF16") return DType::BF16;
  throw Error(file + ": unsupported tensor dtype '" + s + "'");
}

uint64_t fnv64(const char* p, size_t n, uint64_t h = 1469598103934665603ull) {
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<unsigned char>(p[i]);
    h *= 1099511628211ull;
  }
  return h;
}

void write_all(int fd, const char* p, size_t n, const std::string& path) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w <= 0) throw Error(path + ": write failed: " + std::strerror(errno));
    p += w;
    n -= size_t(w);
  }
}

void atomic_write_parts(const std::string& path, const std::vector<std::pair<const char*, size_t>>& parts) {
  // A path that exists and is not a regular file (a device, a pipe) is written in
  // place: renaming over it would replace it, and its errors must surface.
  struct stat sb;
  const bool special = ::stat(path.c_str(), &sb) == 0 && !S_ISREG(sb.st_mode);
  const std::string tmp = special ? path : path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw Error(path + ": cannot write: " + std::strerror(errno));
  try {
    for (const auto& p : parts) write_all(fd, p.first, p.second, path);
    if (::fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
      throw Error(path + ": write failed: " + std::strerror(errno));
  } catch (...) {
    ::close(fd);
    if (!special) std::remove(tmp.c_str());
    throw;
  }
  if (::close(fd) != 0) {
    if (!special) std::remove(tmp.c_str());
    throw Error(path + ": write failed: " + std::strerror(errno));
  }
  if (!special && std::rename(tmp.c_str(), path.c_str()) != 0)
    throw Error(path + ": rename failed: " + std::strerror(errno));
}

// A shape as a JSON array of dims, each an integer in [0, 2^63).
Shape dims_of(const json& j, const std::string& path, const std::string& name) {
  if (!j.is_array()) throw Error(path + ": corrupt header entry '" + name + "': shape is not an array");
  Shape s;
  for (const auto& d : j) {
    if (!d.is_number_unsigned() || d.get<uint64_t>() > uint64_t(INT64_MAX))
      throw Error(path + ": corrupt header entry '" + name + "': shape " + j.dump() + " has a dim that is not an integer in [0, 2^63)");
    s.push_back(static_cast<int64_t>(d.get<uint64_t>()));
  }
  return s;
}

}  // namespace

void write_file_atomic(const std::string& path, const std::string& text) {
  atomic_write_parts(path, {{text.data(), text.size()}});
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open");
  std::ostringstream o;
  o << in.rdbuf();
  return o.str();
}

void save_safetensors(const std::string& path, const TensorMap& tensors,
                      const std::map<std::string, std::string>& metadata) {
  json h = json::object();
  size_t off = 0;
  uint64_t sum = 1469598103934665603ull;
  for (const auto& kv : tensors) {  // std::map: sorted names, deterministic layout
    const Tensor& t = kv.second;
    h[kv.first] = {{"dtype", st_dtype(t.dtype())}, {"shape", t.shape()}, {"data_offsets", {off, off + t.bytes()}}};
    off += t.bytes();
    sum = fnv64(static_cast<const char*>(t.raw()), t.bytes(), sum);
  }
  json meta = json::object();
  for (const auto& kv : metadata) meta[kv.first] = kv.second;
  meta["ft_fnv64"] = std::to_string(sum);
  h["__metadata__"] = meta;
  std::string header = h.dump();
  while ((8 + header.size()) % 8) header += ' ';
  uint64_t n = header.size();
  char len[8];
  for (int i = 0; i < 8; ++i) len[i] = char((n >> (8 * i)) & 0xff);
  std::vector<std::pair<const char*, size_t>> parts = {{len, 8}, {header.data(), header.size()}};
  for (const auto& kv : tensors) parts.emplace_back(static_cast<const char*>(kv.second.raw()), kv.second.bytes());
  atomic_write_parts(path, parts);
}

TensorMap load_safetensors(const std::string& path, std::map<std::string, std::string>* metadata) {
  std::string buf = read_file(path);
  if (buf.size() < 8) throw Error(path + ": truncated (no header)");
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(static_cast<unsigned char>(buf[size_t(i)])) << (8 * i);
  if (n > buf.size() - 8) throw Error(path + ": truncated (header of " + std::to_string(n) + " bytes)");
  json h;
  try {
    h = json::parse(buf.substr(8, n));
  } catch (const std::exception& e) {
    throw Error(path + ": corrupt header: " + e.what());
  }
  if (!h.is_object()) throw Error(path + ": corrupt header: not an object");
  const size_t data0 = 8 + n, data_len = buf.size() - data0;
  TensorMap out;
  uint64_t sum = 1469598103934665603ull;
  size_t expect_off = 0;
  // Checksum runs in offset order, which is name order for files we write.
  for (auto it = h.begin(); it != h.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    try {
      const auto& e = it.value();
      if (!e.is_object()) throw Error(path + ": corrupt header entry '" + it.key() + "': not an object");
      DType dt = parse_dtype(e.at("dtype").get<std::string>(), path);
      const Shape shape = dims_of(e.at("shape"), path, it.key());
      const auto& offs = e.at("data_offsets");
      if (!offs.is_array() || offs.size() != 2 || !offs[0].is_number_unsigned() || !offs[1].is_number_unsigned())
        throw Error(path + ": corrupt header entry '" + it.key() + "': data_offsets must be two unsigned integers");
      const uint64_t b = offs[0].get<uint64_t>(), en = offs[1].get<uint64_t>();
      if (en < b) throw Error(path + ": corrupt: tensor '" + it.key() + "' ends before it begins");
      if (en > data_len) throw Error(path + ": truncated: tensor '" + it.key() + "' runs past the end");
      int64_t bytes;
      if (!checked_bytes(shape, dtype_size(dt), &bytes))
        throw Error(path + ": corrupt: tensor '" + it.key() + "' shape " + shape_str(shape) + " holds more than 2^63 bytes");
      if (static_cast<uint64_t>(bytes) != en - b)
        throw Error(path + ": corrupt: tensor '" + it.key() + "' size does not match its shape");
      Tensor t = Tensor::empty(shape, dt);
      std::memcpy(t.raw(), buf.data() + data0 + b, en - b);
      if (b == expect_off) sum = fnv64(buf.data() + data0 + b, en - b, sum);
      expect_off = en;
      out[it.key()] = t;
    } catch (const Error&) {
      throw;
    } catch (const std::exception& ex) {
      throw Error(path + ": corrupt header entry '" + it.key() + "': " + ex.what());
    }
  }
  if (h.contains("__metadata__")) {
    const auto& m = h["__metadata__"];
    if (!m.is_object()) throw Error(path + ": corrupt header: __metadata__ is not an object");
    std::map<std::string, std::string> md;
    for (auto it = m.begin(); it != m.end(); ++it)
      if (it.value().is_string()) md[it.key()] = it.value().get<std::string>();
    if (md.count("ft_fnv64") && md["ft_fnv64"] != std::to_string(sum))
      throw Error(path + ": checksum mismatch: the file is corrupt");
    if (metadata) *metadata = md;
  }
  return out;
}

}  // namespace train
}  // namespace ft
