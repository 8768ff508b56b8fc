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
