// tb_events.h — TensorBoard event files: scalar summaries as TFRecord-framed Event protos.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

namespace ft {
namespace train {

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as TFRecord frames use it.
uint32_t crc32c(const void* data, size_t n);
// The TFRecord mask of a CRC: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
uint32_t masked_crc32c(const void* data, size_t n);

// One events file, DIR/events.out.tfevents.<unix seconds>.<hostname>.<pid>; its first record
// is the file_version event. Records are buffered; flush() (or the destructor) writes them.
class EventWriter {
 public:
  // Creates `dir` if needed; throws ft::Error naming the file when it cannot be opened.
  explicit EventWriter(const std::string& dir);
  ~EventWriter();
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;
  // One Event holding one Summary.Value{tag, simple_value} (the value is stored as float).
  void scalar(const std::string& tag, int64_t step, double value, double wall_time_s);
  // Throws ft::Error naming the file on a write error (a full disk).
  void flush();
  const std::string& path() const { return path_; }

 private:
  void write_record(const std::string& data);
  std::FILE* f_ = nullptr;
  std::string path_;
};

}  // namespace train
}  // namespace ft
