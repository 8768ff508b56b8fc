// checkpoint_test.cpp — safetensors round trip, atomic checkpoints, corruption errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

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
Checkpoint at_step(int64_t s) {
  Checkpoint c;
  c.state.step = s;
  c.model["w"] = Tensor::from<float>({1}, {float(s)});
  return c;
}
bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }
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
    m.save(at_step(s));
  }
  EXPECT_FALSE(fs::exists(d + "/step-00000010"));
  EXPECT_TRUE(fs::exists(d + "/step-00000020"));
  Checkpoint c = CheckpointManager::load(d);
  EXPECT_EQ(c.state.step, 30);
  EXPECT_EQ(c.model["w"].to_vector<float>()[0], 30.f);
  fs::remove(d + "/step-00000030/optimizer.safetensors");
  EXPECT_NE(err([&] { CheckpointManager::load(d); }).find("incomplete checkpoint"), std::string::npos);
}

// state.json: every field type- and range-checked, errors naming the file and field.
TEST(TrainState, RoundTripAndRangeChecks) {
  TrainState s;
  s.step = 12;
  s.optimizer_step = 11;
  s.data_epoch = 2;
  s.data_index = 640;
  s.mode = "allreduce-sync";
  s.world = 4;
  s.has_loss_scale = true;
  s.loss_scale = 1024;
  s.loss_scale_clean_steps = 3;
  s.skipped_steps = 1;
  s.kernel_choices = {{"matmul f32 m640 n128 k30522 ta0 tb0 x1, 1 thread(s)", "openblas"}};
  TrainState b = TrainState::parse(s.to_json(), "f.json");
  EXPECT_EQ(b.kernel_choices, s.kernel_choices);
  EXPECT_EQ(b.step, 12);
  EXPECT_EQ(b.optimizer_step, 11);
  EXPECT_EQ(b.data_epoch, 2);
  EXPECT_EQ(b.data_index, 640);
  EXPECT_EQ(b.mode, "allreduce-sync");
  EXPECT_EQ(b.world, 4);
  EXPECT_TRUE(b.has_loss_scale);
  EXPECT_EQ(b.loss_scale, 1024);
  EXPECT_EQ(b.skipped_steps, 1);
  auto bad = [](const std::string& text) { return err([&] { TrainState::parse(text, "dir/state.json"); }); };
  const std::string pos = R"("data_epoch": 0, "data_index": 0)";
  EXPECT_TRUE(has(bad(R"({"step": -5, )" + pos + "}"), "dir/state.json: field 'step' = -5 is out of range"));
  EXPECT_TRUE(has(bad(R"({"step": 1e15, )" + pos + "}"), "field 'step' must be an integer"));
  EXPECT_TRUE(has(bad(R"({"step": 1000000000000000, )" + pos + "}"), "field 'step' = 1000000000000000 is out of range"));
  EXPECT_TRUE(has(bad(R"({"step": 18446744073709551615, )" + pos + "}"), "field 'step'"));
  EXPECT_TRUE(has(bad(R"({"step": 3, "data_epoch": 0, "data_index": 9223372036854775000})"), "field 'data_index'"));
  EXPECT_TRUE(has(bad(R"({"step": 3, "data_epoch": -1, "data_index": 0})"), "field 'data_epoch'"));
  EXPECT_TRUE(has(bad(R"({"step": 3, "data_index": 0})"), "field 'data_epoch' is missing"));
  EXPECT_TRUE(has(bad(R"({"step": 3, "optimizer_step": 4, )" + pos + "}"), "field 'optimizer_step' = 4"));
  // ps-async: each of the workers' pushes is an update, so 2 workers (world 3) at step 35
  // may have applied 69 of them.
  EXPECT_EQ(TrainState::parse(R"({"step": 35, "optimizer_step": 69, "world": 3, )" + pos + "}", "s").optimizer_step, 69);
  EXPECT_TRUE(has(bad(R"({"step": 35, "optimizer_step": 106, "world": 3, )" + pos + "}"), "field 'optimizer_step'"));
  EXPECT_TRUE(has(bad(R"({"step": 3, "loss_scale": 0, "loss_scale_clean_steps": 0, "skipped_steps": 0, )" + pos + "}"),
                  "field 'loss_scale'"));
  EXPECT_TRUE(has(bad(R"({"step": "3", )" + pos + "}"), "field 'step' must be an integer"));
  EXPECT_TRUE(has(bad(R"({"step": 3, "kernel_choices": [1], )" + pos + "}"), "field 'kernel_choices' must be an object"));
  EXPECT_TRUE(has(bad(R"({"step": 3, "kernel_choices": {"k": 2}, )" + pos + "}"),
                  "field 'kernel_choices' entry 'k' must be a kernel name"));
  EXPECT_TRUE(has(bad("[1, 2]"), "dir/state.json: corrupt"));
  EXPECT_TRUE(has(bad("{\"step\""), "dir/state.json: corrupt"));
}

// Model-parallel slices are one commit: nothing is visible under `latest` until
// every slice is complete, and an incomplete slice commits nothing.
TEST(Checkpoint, SlicesCommitTogether) {
  std::string d = tmpdir("slices");
  CheckpointManager m(d, 3);
  m.write_slice(at_step(5), 0, 2);
  m.write_slice(at_step(5), 1, 2);
  EXPECT_EQ(m.latest(), "");  // written, not committed
  EXPECT_EQ(m.commit(5, 2), d + "/step-00000005");
  EXPECT_EQ(m.latest(), d + "/step-00000005");
  EXPECT_TRUE(fs::is_regular_file(d + "/step-00000005/mp1/model.safetensors"));
  // Step 6: slice 1 never written (its rank was killed) -> no commit, latest stays at 5.
  m.write_slice(at_step(6), 0, 2);
  std::string e = err([&] { m.commit(6, 2); });
  EXPECT_TRUE(has(e, ".tmp-step-00000006/mp1: checkpoint slice is incomplete")) << e;
  EXPECT_EQ(m.latest(), d + "/step-00000005");
  EXPECT_FALSE(fs::exists(d + "/step-00000006"));
  EXPECT_FALSE(fs::exists(d + "/.tmp-step-00000006"));
  EXPECT_EQ(CheckpointManager::load(d, 1, 2).state.step, 5);
  // An unsliced load of a sliced checkpoint, or a slice that is not there, is an error.
  EXPECT_TRUE(has(err([&] { CheckpointManager::load(d); }), "is a model-parallel checkpoint"));
  EXPECT_TRUE(has(err([&] { CheckpointManager::load(d, 2, 4); }), "has no slice mp2"));
}

// Slices from different steps are refused, naming each slice and its step: the
// per-slice `latest` files of the earlier layout could disagree after a kill.
TEST(Checkpoint, MixedSlicesAreRefused) {
  std::string d = tmpdir("mixed");
  CheckpointManager(d + "/mp0", 2).save(at_step(122));
  CheckpointManager(d + "/mp1", 2).save(at_step(121));
  const int64_t s0 = CheckpointManager::load(d, 0, 2).state.step, s1 = CheckpointManager::load(d, 1, 2).state.step;
  EXPECT_EQ(s0, 122);
  EXPECT_EQ(s1, 121);
  std::string e = err([&] { CheckpointManager::check_slices_agree(d, {s0, s1}); });
  EXPECT_TRUE(has(e, "mp0 at step 122, mp1 at step 121")) << e;
  EXPECT_EQ(err([&] { CheckpointManager::check_slices_agree(d, {7, 7, 7}); }), "");
}

// Temporary folders of interrupted writes are removed by the next run; a folder
// that cannot be written is an error at start, naming it.
TEST(Checkpoint, CleansInterruptedWritesAndChecksWritableAtStart) {
  std::string d = tmpdir("clean");
  fs::create_directories(d + "/.tmp-step-00000040/mp0");
  std::ofstream(d + "/.tmp-step-00000040/mp0/model.safetensors") << std::string(1000, 'x');
  CheckpointManager m(d, 2);
  EXPECT_FALSE(fs::exists(d + "/.tmp-step-00000040"));
  std::ofstream(d + "/file") << "x";
  std::string e = err([&] { CheckpointManager(d + "/file/sub", 2); });
  EXPECT_TRUE(has(e, d + "/file/sub")) << e;
  // Re-saving the step `latest` names keeps `latest` valid throughout (old folder moved aside).
  m.save(at_step(3));
  m.save(at_step(3));
  EXPECT_EQ(m.latest(), d + "/step-00000003");
  EXPECT_FALSE(fs::exists(d + "/.old-step-00000003"));
}

// A write error (a full disk) surfaces and leaves no half checkpoint behind.
TEST(Checkpoint, WriteErrorsSurface) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full on this system";
  std::string e = err([] { write_file_atomic("/dev/full", "some text"); });
  EXPECT_TRUE(has(e, "/dev/full")) << e;
  EXPECT_TRUE(fs::is_character_file("/dev/full"));  // written in place, never replaced
}

// An empty or partial optimizer file is an error naming it, not a silent reset.
TEST(Checkpoint, OptimizerStateMustCoverEveryParameter) {
  TensorMap st = {{"w/m", Tensor::from<float>({1}, {0.f})}, {"w/v", Tensor::from<float>({1}, {0.f})}};
  EXPECT_EQ(err([&] { check_optimizer_state("o.safetensors", st, {"w"}, {"m", "v"}); }), "");
  std::string e = err([&] { check_optimizer_state("o.safetensors", st, {"w", "b"}, {"m", "v"}); });
  EXPECT_TRUE(has(e, "o.safetensors: optimizer state lacks 'b/m'")) << e;
  e = err([&] { check_optimizer_state("o.safetensors", {}, {"w"}, {"m"}); });
  EXPECT_TRUE(has(e, "(0 tensors in the file)")) << e;
  EXPECT_EQ(err([&] { check_optimizer_state("o.safetensors", {}, {"w"}, {}); }), "");  // plain SGD has no slots
}

// Retention goes by write order: a run that continues from an older checkpoint
// beside newer ones keeps what it writes, and `latest` always names a folder.
TEST(Checkpoint, RetentionByWriteOrderKeepsTheOneJustWritten) {
  std::string d = tmpdir("order");
  CheckpointManager m(d, 2);
  for (int64_t s : {200, 300, 100}) {
    m.save(at_step(s));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // distinct write times
  }
  EXPECT_TRUE(fs::exists(d + "/step-00000100"));   // just written: kept, and latest
  EXPECT_TRUE(fs::exists(d + "/step-00000300"));   // written second
  EXPECT_FALSE(fs::exists(d + "/step-00000200"));  // the oldest written
  EXPECT_EQ(m.latest(), d + "/step-00000100");
  EXPECT_EQ(CheckpointManager::load(d).state.step, 100);
  // keep = 1: only the newest written survives.
  CheckpointManager one(d, 1);
  one.save(at_step(50));
  EXPECT_EQ(one.latest(), d + "/step-00000050");
  EXPECT_FALSE(fs::exists(d + "/step-00000100"));
  EXPECT_FALSE(fs::exists(d + "/step-00000300"));
}
