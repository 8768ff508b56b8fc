// tb_events.cpp
#include "train/tb_events.h"

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>

#include <unistd.h>

#include "core/tensor.h"

namespace ft {
namespace train {
namespace {

const std::array<uint32_t, 256> kCrcTable = [] {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}();

// Little-endian fixed-width integers, whatever the host's byte order.
void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(char((v >> (8 * i)) & 0xff));
}

// Protobuf wire format: the few field kinds Event and Summary use.
void put_varint(std::string& out, uint64_t v) {
  for (; v >= 0x80; v >>= 7) out.push_back(char((v & 0x7f) | 0x80));
  out.push_back(char(v));
}
void put_key(std::string& out, int field, int wire_type) { put_varint(out, uint64_t(field) << 3 | wire_type); }
void put_double(std::string& out, int field, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, 8);
  put_key(out, field, 1);  // 64-bit
  put_le(out, bits, 8);
}
void put_float(std::string& out, int field, float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  put_key(out, field, 5);  // 32-bit
  put_le(out, bits, 4);
}
void put_int64(std::string& out, int field, int64_t v) {
  put_key(out, field, 0);  // varint; a negative value takes ten bytes, as int64 does
  put_varint(out, uint64_t(v));
}
void put_bytes(std::string& out, int field, const std::string& v) {
  put_key(out, field, 2);  // length-delimited: strings and sub-messages
  put_varint(out, v.size());
  out += v;
}

// Event field numbers (tensorflow/core/util/event.proto).
enum { kWallTime = 1, kStep = 2, kFileVersion = 3, kSummary = 5 };
// Summary.value = 1; Summary.Value.tag = 1, simple_value = 2 (tensorflow/core/framework/summary.proto).
enum { kSummaryValue = 1, kValueTag = 1, kValueSimple = 2 };

double now_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

uint32_t crc32c(const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; ++i) c = kCrcTable[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

uint32_t masked_crc32c(const void* data, size_t n) {
  const uint32_t c = crc32c(data, n);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

EventWriter::EventWriter(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  char host[256] = "localhost";
  if (::gethostname(host, sizeof(host) - 1) != 0) std::strcpy(host, "localhost");
  host[sizeof(host) - 1] = '\0';
  const std::string base = (std::filesystem::path(dir) / "events.out.tfevents.").string() +
                           std::to_string(std::time(nullptr)) + "." + host + "." + std::to_string(::getpid());
  // Exclusive create: a second writer in the same second and process gets ".1", ".2", ...
  path_ = base;
  for (int n = 1; !(f_ = std::fopen(path_.c_str(), "wbx")) && errno == EEXIST && n < 1000; ++n)
    path_ = base + "." + std::to_string(n);
  if (!f_) throw Error(path_ + ": cannot open event file for writing: " + std::strerror(errno));
  std::string ev;
  put_double(ev, kWallTime, now_s());
  put_bytes(ev, kFileVersion, "brain.Event:2");
  write_record(ev);
}

EventWriter::~EventWriter() {
  if (f_) std::fclose(f_);
}

void EventWriter::scalar(const std::string& tag, int64_t step, double value, double wall_time_s) {
  std::string val, summary, ev;
  put_bytes(val, kValueTag, tag);
  put_float(val, kValueSimple, static_cast<float>(value));
  put_bytes(summary, kSummaryValue, val);
  put_double(ev, kWallTime, wall_time_s);
  put_int64(ev, kStep, step);
  put_bytes(ev, kSummary, summary);
  write_record(ev);
}

// TFRecord framing: uint64 length, masked CRC of those 8 bytes, the data, masked CRC of the data.
void EventWriter::write_record(const std::string& data) {
  std::string rec;
  put_le(rec, data.size(), 8);
  put_le(rec, masked_crc32c(rec.data(), 8), 4);
  rec += data;
  put_le(rec, masked_crc32c(data.data(), data.size()), 4);
  if (std::fwrite(rec.data(), 1, rec.size(), f_) != rec.size())
    throw Error(path_ + ": cannot write event file: " + std::strerror(errno));
}

void EventWriter::flush() {
  if (std::fflush(f_) != 0 || std::ferror(f_))
    throw Error(path_ + ": cannot write event file: " + std::strerror(errno));
}

}  // namespace train
}  // namespace ft
