// tb_events_test.cpp — CRC-32C, TFRecord framing of the TensorBoard event writer, its errors.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <sys/resource.h>

#include "core/tensor.h"
#include "train/tb_events.h"

using namespace ft;
using namespace ft::train;
namespace fs = std::filesystem;

namespace {
std::string tmpdir(const std::string& n) {
  std::string d = ::testing::TempDir() + "ft_tb_" + n;
  fs::remove_all(d);
  return d;
}
std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}
uint64_t le(const std::string& s, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t(uint8_t(s[at + i])) << (8 * i);
  return v;
}
bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The payloads of a TFRecord file; fails the test on a bad length or CRC.
std::vector<std::string> frames(const std::string& raw) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < raw.size()) {
    EXPECT_LE(at + 12, raw.size()) << "truncated header at " << at;
    if (at + 12 > raw.size()) break;
    const uint64_t n = le(raw, at, 8);
    EXPECT_EQ(le(raw, at + 8, 4), masked_crc32c(raw.data() + at, 8)) << "length CRC at " << at;
    EXPECT_LE(at + 16 + n, raw.size()) << "truncated record at " << at;
    if (at + 16 + n > raw.size()) break;
    const std::string data = raw.substr(at + 12, n);
    EXPECT_EQ(le(raw, at + 12 + n, 4), masked_crc32c(data.data(), n)) << "data CRC at " << at;
    out.push_back(data);
    at += 16 + n;
  }
  return out;
}
}  // namespace

TEST(Crc32c, KnownValues) {
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c("", 0), 0u);
  const std::string zeros(32, '\0');
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);  // RFC 3720 B.4
  const uint32_t c = crc32c("123456789", 9);
  EXPECT_EQ(masked_crc32c("123456789", 9), ((c >> 15) | (c << 17)) + 0xa282ead8u);
}

TEST(EventWriter, FramesParseBack) {
  const std::string d = tmpdir("frames");
  std::string path;
  {
    EventWriter w(d);
    path = w.path();
    EXPECT_EQ(fs::path(path).parent_path(), fs::path(d));
    EXPECT_EQ(fs::path(path).filename().string().rfind("events.out.tfevents.", 0), 0u);
    for (int s = 1; s <= 3; ++s) w.scalar("loss", s * 10, 1.0 / s, 1700000000.0 + s);
    w.scalar("eval/accuracy", -1, 0.5, 1700000010.0);
    w.flush();
  }
  const auto fr = frames(slurp(path));
  ASSERT_EQ(fr.size(), 5u);
  // Event{wall_time = 1 (fixed64), file_version = 3 "brain.Event:2"}
  ASSERT_EQ(fr[0].size(), 9u + 2 + 13);
  EXPECT_EQ(uint8_t(fr[0][0]), 0x09);
  EXPECT_EQ(fr[0].substr(9), std::string("\x1a\x0d") + "brain.Event:2");
  // Event{wall_time, step = 2 (varint 10), summary = 5 {value = 1 {tag = 1 "loss", simple_value = 2 1.0f}}}
  float one = 1.0f;
  std::string fbits(4, '\0');
  std::memcpy(&fbits[0], &one, 4);  // the test hosts are little-endian
  EXPECT_EQ(fr[1].substr(9), std::string("\x10\x0a\x2a\x0d\x0a\x0b\x0a\x04loss\x15", 13) + fbits);
  // A negative step is a ten-byte varint.
  EXPECT_TRUE(has(fr[4], std::string("\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11)));
}

TEST(EventWriter, TwoWritersInOneSecondGetTwoFiles) {
  const std::string d = tmpdir("two");
  EventWriter a(d), b(d);
  EXPECT_NE(a.path(), b.path());
}

TEST(EventWriter, UnopenableFolderNamesTheFile) {
  const std::string d = tmpdir("bad");
  fs::create_directories(d);
  std::ofstream(d + "/file") << "x";
  try {
    EventWriter w(d + "/file/sub");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(has(e.what(), d + "/file/sub/events.out.tfevents.")) << e.what();
    EXPECT_TRUE(has(e.what(), "cannot open")) << e.what();
  }
}

// A write error (here the file-size limit, standing in for a full disk) is an error naming the
// file. Run in a child process (a death test), which alone gets the limit.
void write_past_the_size_limit(const std::string& d) {
  std::signal(SIGXFSZ, SIG_IGN);
  rlimit lim{16384, 16384};
  setrlimit(RLIMIT_FSIZE, &lim);
  std::string path;
  try {
    EventWriter w(d);
    path = w.path();
    for (int s = 0; s < 100000; ++s) w.scalar("loss", s, 0.5, 1.0);
    w.flush();
  } catch (const Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    std::exit(!path.empty() && has(e.what(), path + ": cannot write event file") ? 0 : 1);
  }
  std::exit(2);
}

TEST(EventWriterDeathTest, WriteErrorNamesTheFile) {
  EXPECT_EXIT(write_past_the_size_limit(tmpdir("full")), ::testing::ExitedWithCode(0), "cannot write event file");
}
