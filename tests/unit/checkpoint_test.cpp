// checkpoint_test.cpp — safetensors round trip, atomic checkpoints, corruption errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "train/checkpoint.h"

using namespace ft;
using namespace ft::train;
namespace fs = std::filesystem;

namespace {
std::string tmpdir(const std::string& n) {
  std::string d = ::testing::TempDir() + "ft_ckpt_" + n;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}
std::string err(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Safetensors, RoundTripAndLayout) {
  std::string p = tmpdir("st") + "/m.safetensors";
  TensorMap m = {{"b", Tensor::from<float>({2}, {1.5f, -2})}, {"a/w", Tensor::from<int32_t>({2, 2}, {1, 2, 3, 4})}};
  save_safetensors(p, m, {{"k", "v"}});
  std::map<std::string, std::string> md;
  auto back = load_safetensors(p, &md);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back["b"].to_vector<float>(), (std::vector<float>{1.5f, -2}));
  EXPECT_EQ(back["a/w"].shape(), (Shape{2, 2}));
  EXPECT_EQ(md["k"], "v");
  // The header is JSON after an 8-byte little-endian length (format other tools read).
  std::string raw = read_file(p);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(static_cast<unsigned char>(raw[size_t(i)])) << (8 * i);
  EXPECT_EQ(raw[8], '{');
  EXPECT_EQ(raw.size(), 8 + n + 8 + 16);
}

TEST(Safetensors, TruncatedAndCorruptAreClearErrors) {
  std::string d = tmpdir("bad");
  std::string p = d + "/m.safetensors";
  save_safetensors(p, {{"w", Tensor::from<float>({4}, {1, 2, 3, 4})}});
  std::string raw = read_file(p);
  std::ofstream(d + "/trunc.safetensors", std::ios::binary) << raw.substr(0, raw.size() - 3);
  EXPECT_NE(err([&] { load_safetensors(d + "/trunc.safetensors"); }).find("truncated"), std::string::npos);
  std::string flipped = raw;
  flipped[flipped.size() - 1] ^= 0x40;
  std::ofstream(d + "/flip.safetensors", std::ios::binary) << flipped;
  EXPECT_NE(err([&] { load_safetensors(d + "/flip.safetensors"); }).find("checksum"), std::string::npos);
  std::ofstream(d + "/tiny.safetensors", std::ios::binary) << "abc";
  EXPECT_NE(err([&] { load_safetensors(d + "/tiny.safetensors"); }).find("truncated"), std::string::npos);
  EXPECT_NE(err([&] { load_safetensors(d + "/none.safetensors"); }).find("cannot open"), std::string::npos);
}

namespace {
// A safetensors file with the given JSON header and data bytes.
void write_st(const std::string& path, const std::string& header, const std::string& data = "") {
  std::string len(8, '\0');
  for (int i = 0; i < 8; ++i) len[size_t(i)] = char((header.size() >> (8 * i)) & 0xff);
  std::ofstream(path, std::ios::binary) << len << header << data;
}
}  // namespace

// Shapes, offsets and metadata from the header are range-checked; each bad
// header is one Error naming the file.
TEST(Safetensors, OutOfRangeHeaderValuesAreClearErrors) {
  const std::string d = tmpdir("range");
  struct Case {
    std::string header, data, want;
  };
  const std::vector<Case> cases = {
      // numel 2^64 wraps to 0, matching an empty data range
      {R"({"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}})", "", "holds more than 2^63 bytes"},
      // numel 2^62 fits, its 2^64 bytes wrap to 0
      {R"({"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})", "", "holds more than 2^63 bytes"},
      {R"({"w":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,4]}})", "abcd", "not an integer in [0, 2^63)"},
      {R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", "abcd", "not an integer in [0, 2^63)"},
      {R"({"w":{"dtype":"F32","shape":[1e300],"data_offsets":[0,4]}})", "abcd", "not an integer in [0, 2^63)"},
      {R"({"w":{"dtype":"F32","shape":4,"data_offsets":[0,4]}})", "abcd", "shape is not an array"},
      {R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", "abcd", "data_offsets must be two unsigned integers"},
      {R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4.5]}})", "abcd", "data_offsets must be two unsigned integers"},
      {R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", "abcd", "data_offsets must be two unsigned integers"},
      {R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", "abcd", "ends before it begins"},
      {R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}})", "abcd", "runs past the end"},
      {R"({"w":[1,2]})", "", "not an object"},
      {R"({"__metadata__":7})", "", "__metadata__ is not an object"},
      {R"({"__metadata__":[1]})", "", "__metadata__ is not an object"},
      {R"({"__metadata__":"x"})", "", "__metadata__ is not an object"},  // threw a json exception
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string p = d + "/case" + std::to_string(i) + ".safetensors";
    write_st(p, cases[i].header, cases[i].data);
    std::string m;
    try {
      load_safetensors(p);
      m = "(no error)";
    } catch (const Error& e) {
      m = e.what();
    } catch (const std::exception& e) {
      m = std::string("not an ft::Error: ") + e.what();
    }
    EXPECT_EQ(m.rfind(p + ": ", 0), 0u) << cases[i].header << " -> " << m;
    EXPECT_NE(m.find(cases[i].want), std::string::npos) << cases[i].header << " -> " << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
  // A well-formed hand-written file still loads.
  write_st(d + "/ok.safetensors", R"({"w":{"dtype":"I32","shape":[1,1],"data_offsets":[0,4]}})", std::string("\x07\0\0\0", 4));
  auto m = load_safetensors(d + "/ok.safetensors");
  EXPECT_EQ(m.at("w").shape(), (Shape{1, 1}));
  EXPECT_EQ(m.at("w").data<int32_t>()[0], 7);
}

TEST(Checkpoint, KeepsNewestAndLoadsLatest) {
  std::string d = tmpdir("mgr");
  CheckpointManager m(d, 2);
  for (int s : {10, 20, 30}) {
    Checkpoint c;
    c.step = s;
    c.model["w"] = Tensor::from<float>({1}, {float(s)});
    c.state_json = "{\"step\": " + std::to_string(s) + "}";
    m.save(c);
  }
  EXPECT_FALSE(fs::exists(d + "/step-00000010"));
  EXPECT_TRUE(fs::exists(d + "/step-00000020"));
  Checkpoint c = CheckpointManager::load(d);
  EXPECT_EQ(c.step, 30);
  EXPECT_EQ(c.model["w"].to_vector<float>()[0], 30.f);
  fs::remove(d + "/step-00000030/optimizer.safetensors");
  EXPECT_NE(err([&] { CheckpointManager::load(d); }).find("incomplete checkpoint"), std::string::npos);
}
