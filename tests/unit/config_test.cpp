// config_test.cpp — config loading: defaults, overrides, and one-line errors naming key and line.
#include <gtest/gtest.h>

#include <fstream>

#include "train/config.h"

using ft::Error;
using ft::train::Config;

namespace {
std::string write(const std::string& name, const std::string& text) {
  std::string p = ::testing::TempDir() + name;
  std::ofstream(p) << text;
  return p;
}
std::string error_of(const std::string& path, const std::vector<std::string>& sets = {}) {
  try {
    Config::load(path, sets);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Config, DefaultsFileAndOverrides) {
  auto p = write("ok.yaml", "model: {type: cnn}\ndata:\n  batch_size: 64\noptimizer:\n  lr: 0.1\n");
  Config c = Config::load(p, {"train.steps=7", "model.hidden=[32, 16]"});
  EXPECT_EQ(c.s("model.type"), "cnn");
  EXPECT_EQ(c.i("data.batch_size"), 64);
  EXPECT_DOUBLE_EQ(c.f("optimizer.lr"), 0.1);
  EXPECT_EQ(c.i("train.steps"), 7);
  EXPECT_EQ(c.ints("model.hidden"), (std::vector<int64_t>{32, 16}));
  EXPECT_EQ(c.i("distributed.ps.servers"), 1);
  EXPECT_EQ(c.where("data.batch_size"), p + ":3");
}

TEST(Config, UnknownKeyNamesKeyAndLine) {
  auto p = write("unk.yaml", "data:\n  batch_size: 64\n  bacth: 3\n");
  std::string e = error_of(p);
  EXPECT_NE(e.find("unknown key 'data.bacth'"), std::string::npos) << e;
  EXPECT_NE(e.find(p + ":3"), std::string::npos) << e;
}

TEST(Config, WrongTypeAndRange) {
  EXPECT_NE(error_of(write("t1.yaml", "data: {batch_size: abc}\n")).find("'data.batch_size' must be an integer"),
            std::string::npos);
  EXPECT_NE(error_of(write("t2.yaml", "data: {batch_size: 0}\n")).find("out of range"), std::string::npos);
  EXPECT_NE(error_of(write("t3.yaml", "optimizer: {type: adagrad}\n")).find("must be one of"), std::string::npos);
  EXPECT_NE(error_of(write("t4.yaml", "train: 5\n")).find("'train' must be a map"), std::string::npos);
  EXPECT_NE(error_of(write("t5.yaml", "distributed: {ps: {staleness: -1}}\n")).find("distributed.ps.staleness"),
            std::string::npos);
}

TEST(Config, BadYamlMissingFileAndBadSet) {
  EXPECT_NE(error_of(write("bad.yaml", "data: {batch_size: [1,\n")).find("invalid YAML"), std::string::npos);
  EXPECT_NE(error_of("/nonexistent/x.yaml").find("cannot open"), std::string::npos);
  EXPECT_NE(error_of("", {"nokey=1"}).find("unknown key 'nokey'"), std::string::npos);
  EXPECT_NE(error_of("", {"junk"}).find("expected key=value"), std::string::npos);
  EXPECT_NE(error_of("", {"train.steps=x"}).find("--set: key 'train.steps' must be an integer"), std::string::npos);
}

TEST(Config, CrossKeyChecks) {
  std::string e = error_of("", {"model.type=bert", "model.hidden_size=100", "model.heads=3"});
  EXPECT_NE(e.find("model.heads"), std::string::npos) << e;
  e = error_of("", {"train.steps=10", "optimizer.schedule.type=warmup_linear", "optimizer.schedule.warmup=10"});
  EXPECT_NE(e.find("'optimizer.schedule.warmup' must be below train.steps"), std::string::npos) << e;
}

TEST(Config, DocsMatchSchema) {
  std::ifstream in("docs/CONFIG.md");
  ASSERT_TRUE(in) << "docs/CONFIG.md missing (run from the repo root)";
  std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(doc.find(ft::train::schema_markdown()), std::string::npos)
      << "docs/CONFIG.md is out of date: regenerate the table with `build/bin/train --help-config`";
}

TEST(Config, DuplicateKeyNamesBothLines) {
  auto p = write("dup.yaml", "train:\n  steps: 5\n  seed: 1\n  steps: 9\n");
  std::string m = error_of(p);
  EXPECT_NE(m.find(p + ":4"), std::string::npos) << m;
  EXPECT_NE(m.find("'train.steps'"), std::string::npos) << m;
  EXPECT_NE(m.find("lines 2 and 4"), std::string::npos) << m;
  // A section given twice is a duplicate too.
  auto q = write("dup2.yaml", "train: {steps: 5}\nmodel: {type: cnn}\ntrain: {seed: 2}\n");
  m = error_of(q);
  EXPECT_NE(m.find("'train'"), std::string::npos) << m;
  EXPECT_NE(m.find("lines 1 and 3"), std::string::npos) << m;
}

TEST(Config, NulBytesAreAnErrorNotAnEmptyConfig) {
  std::string p = ::testing::TempDir() + "nul.yaml";
  {
    std::ofstream o(p, std::ios::binary);
    o << "train:\n" << std::string(16, '\0');
  }
  std::string m = error_of(p);
  EXPECT_NE(m.find(p + ":2"), std::string::npos) << m;
  EXPECT_NE(m.find("NUL byte at offset 7"), std::string::npos) << m;
  std::ofstream(p, std::ios::binary) << std::string(64, '\0');
  EXPECT_NE(error_of(p).find("NUL byte at offset 0"), std::string::npos);
}
