// data_test.cpp — IDX reading and its errors, the batch loader (shuffle, sharding,
// W*B equivalence, resume), the evaluation iterator, and the fetched MNIST files.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "data/idx.h"
#include "data/loader.h"
#include "data/tabular.h"

using namespace ft;
using namespace ft::data;

namespace {

std::string tmp_path(const std::string& name) {
  return ::testing::TempDir() + "ft_data_test_" + name;
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

// Writes n 2x3 images (pixel j of image i = 10*i + j) and labels i % 10.
void write_small(const std::string& img, const std::string& lab, int n) {
  std::vector<uint8_t> px, y;
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < 6; ++j) px.push_back(static_cast<uint8_t>(10 * i + j));
    y.push_back(static_cast<uint8_t>(i % 10));
  }
  write_idx_u8(img, {n, 2, 3}, px);
  write_idx_u8(lab, {n}, y);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// A dataset of n examples: x (n, 2) f32 = (i, -i), y (n) i32 = i.
std::vector<Tensor> toy_columns(int64_t n) {
  std::vector<float> x;
  std::vector<int32_t> y;
  for (int64_t i = 0; i < n; ++i) {
    x.push_back(static_cast<float>(i));
    x.push_back(static_cast<float>(-i));
    y.push_back(static_cast<int32_t>(i));
  }
  return {Tensor::from<float>({n, 2}, x), Tensor::from<int32_t>({n}, y)};
}

std::vector<int32_t> labels_of(const Batch& b) { return b[1].to_vector<int32_t>(); }

}  // namespace

// ---- IDX ---------------------------------------------------------------------------

TEST(Idx, RoundTripSmallFile) {
  const std::string img = tmp_path("rt_img"), lab = tmp_path("rt_lab");
  write_small(img, lab, 4);
  Dataset ds = load_idx_dataset(img, lab);
  ASSERT_EQ(ds.size(), 4);
  EXPECT_EQ(ds.rows, 2);
  EXPECT_EQ(ds.cols, 3);
  EXPECT_EQ(ds.images.shape(), (Shape{4, 6}));
  EXPECT_EQ(ds.images.dtype(), DType::F32);
  EXPECT_FLOAT_EQ(ds.images.data<float>()[0], 0.0f);
  EXPECT_FLOAT_EQ(ds.images.data<float>()[6 * 3 + 5], 35.0f / 255.0f);
  EXPECT_EQ(ds.labels.to_vector<int32_t>(), (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(ds.images_nchw().shape(), (Shape{4, 1, 2, 3}));

  IdxArray a = read_idx_u8(img, 3);
  EXPECT_EQ(a.dims, (std::vector<int64_t>{4, 2, 3}));
  EXPECT_EQ(a.values[7], 11);
  std::remove(img.c_str());
  std::remove(lab.c_str());
}

TEST(Idx, ImagesAreBigEndianOnDisk) {
  const std::string p = tmp_path("be");
  write_idx_u8(p, {258}, std::vector<uint8_t>(258, 1));
  std::ifstream f(p, std::ios::binary);
  unsigned char h[8];
  f.read(reinterpret_cast<char*>(h), 8);
  EXPECT_EQ(h[2], 0x08);
  EXPECT_EQ(h[3], 0x01);
  EXPECT_EQ(h[6], 0x01);   // 258 = 0x00000102
  EXPECT_EQ(h[7], 0x02);
  std::remove(p.c_str());
}

TEST(Idx, BadMagicNamesFileAndMagic) {
  const std::string p = tmp_path("badmagic");
  write_bytes(p, {0x00, 0x00, 0x08, 0x02, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 7});
  std::string m = error_of([&] { read_idx_u8(p, 3); });
  EXPECT_NE(m.find(p), std::string::npos) << m;
  EXPECT_NE(m.find("bad magic 0x00000802"), std::string::npos) << m;
  EXPECT_NE(m.find("expected 0x00000803"), std::string::npos) << m;
  // A label file passed where images are expected is caught the same way.
  write_idx_u8(p, {3}, {1, 2, 3});
  m = error_of([&] { read_idx_u8(p, 3); });
  EXPECT_NE(m.find("bad magic 0x00000801"), std::string::npos) << m;
  std::remove(p.c_str());
}

TEST(Idx, TruncatedDataAndHeader) {
  const std::string p = tmp_path("trunc");
  write_bytes(p, {0x00, 0x00, 0x08, 0x03, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3});
  std::string m = error_of([&] { read_idx_u8(p, 3); });
  EXPECT_NE(m.find(p), std::string::npos) << m;
  EXPECT_NE(m.find("truncated"), std::string::npos) << m;
  EXPECT_NE(m.find("need 8 data bytes, file has 3"), std::string::npos) << m;

  write_bytes(p, {0x00, 0x00, 0x08, 0x03, 0, 0, 0, 2});
  m = error_of([&] { read_idx_u8(p, 3); });
  EXPECT_NE(m.find("truncated header"), std::string::npos) << m;

  write_bytes(p, {0x00, 0x00});
  m = error_of([&] { read_idx_u8(p, 3); });
  EXPECT_NE(m.find("truncated"), std::string::npos) << m;

  write_bytes(p, {0x00, 0x00, 0x08, 0x01, 0, 0, 0, 2, 5, 6, 7});
  m = error_of([&] { read_idx_u8(p, 1); });
  EXPECT_NE(m.find("1 unexpected bytes"), std::string::npos) << m;
  std::remove(p.c_str());
}

TEST(Idx, CountMismatchNamesBothFiles) {
  const std::string img = tmp_path("cm_img"), lab = tmp_path("cm_lab");
  write_small(img, lab, 5);
  write_idx_u8(lab, {4}, {0, 1, 2, 3});
  std::string m = error_of([&] { load_idx_dataset(img, lab); });
  EXPECT_NE(m.find(img), std::string::npos) << m;
  EXPECT_NE(m.find(lab), std::string::npos) << m;
  EXPECT_NE(m.find("5 images but 4 labels"), std::string::npos) << m;
  std::remove(img.c_str());
  std::remove(lab.c_str());
}

TEST(Idx, MissingFileAndUnknownSplit) {
  std::string m = error_of([&] { load_mnist("/nonexistent-dir", "train"); });
  EXPECT_NE(m.find("/nonexistent-dir/train-images-idx3-ubyte"), std::string::npos) << m;
  EXPECT_NE(m.find("cannot open"), std::string::npos) << m;
  m = error_of([&] { load_mnist("/nonexistent-dir", "validation"); });
  EXPECT_NE(m.find("unknown split 'validation'"), std::string::npos) << m;
}

// Dims whose product overflows int64 (2^31 x 2^31 x 4 = 2^64 wraps to 0) must
// not pass the size check with an empty data section.
TEST(Idx, DimsWhoseProductOverflowsAreAnError) {
  const std::string p = tmp_path("wrap");
  write_bytes(p, {0x00, 0x00, 0x08, 0x03, 0x80, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 4});
  std::string m = error_of([&] { read_idx_u8(p, 3); });
  EXPECT_NE(m.find(p), std::string::npos) << m;
  EXPECT_NE(m.find("dims [2147483648, 2147483648, 4] hold more than 2^63-1 elements"), std::string::npos) << m;
  // Three dims of 2^32-1 (about 2^96) as well.
  write_bytes(p, {0x00, 0x00, 0x08, 0x03, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF});
  m = error_of([&] { read_idx_u8(p, 3); });
  EXPECT_NE(m.find("more than 2^63-1 elements"), std::string::npos) << m;
  std::remove(p.c_str());
}

TEST(Idx, ImagesWithoutPixelsAreAnError) {
  const std::string img = tmp_path("nopx_img"), lab = tmp_path("nopx_lab");
  write_idx_u8(img, {3, 0, 28}, {});
  write_idx_u8(lab, {3}, {0, 1, 2});
  std::string m = error_of([&] { load_idx_dataset(img, lab); });
  EXPECT_NE(m.find(img), std::string::npos) << m;
  EXPECT_NE(m.find("images of 0x28 pixels"), std::string::npos) << m;
  std::remove(img.c_str());
  std::remove(lab.c_str());
}

// The files written by scripts/fetch_mnist.sh (skipped when not fetched).
TEST(Idx, FetchedMnistSplit) {
  std::ifstream probe("data/mnist/train-images-idx3-ubyte");
  if (!probe) GTEST_SKIP() << "data/mnist not fetched (scripts/fetch_mnist.sh)";
  Dataset train = load_mnist("data/mnist", "train");
  Dataset test = load_mnist("data/mnist", "test");
  ASSERT_EQ(train.size(), 8000);
  ASSERT_EQ(test.size(), 2000);
  EXPECT_EQ(train.rows, 28);
  std::vector<int> tr(10), te(10);
  for (int32_t y : train.labels.to_vector<int32_t>()) tr.at(static_cast<size_t>(y))++;
  for (int32_t y : test.labels.to_vector<int32_t>()) te.at(static_cast<size_t>(y))++;
  EXPECT_EQ(tr, (std::vector<int>{801, 902, 793, 826, 784, 690, 811, 856, 755, 782}));
  EXPECT_EQ(te, (std::vector<int>{200, 225, 198, 206, 196, 173, 203, 214, 189, 196}));
  // Pixels span [0, 1] and a digit has ink (roughly 10-30% of pixels).
  const float* x = train.images.data<float>();
  float lo = 1, hi = 0;
  int ink = 0;
  for (int i = 0; i < 784; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
    ink += x[i] > 0.5f;
  }
  EXPECT_EQ(lo, 0.0f);
  EXPECT_GT(hi, 0.9f);
  EXPECT_GT(ink, 40);
  EXPECT_LT(ink, 300);
}

// ---- BatchLoader ---------------------------------------------------------------------

TEST(Loader, ShuffleIsDeterministicBySeedAndEpoch) {
  EXPECT_EQ(epoch_order(100, 7, 0, true), epoch_order(100, 7, 0, true));
  EXPECT_NE(epoch_order(100, 7, 0, true), epoch_order(100, 7, 1, true));
  EXPECT_NE(epoch_order(100, 7, 0, true), epoch_order(100, 8, 0, true));
  std::vector<int64_t> o = epoch_order(100, 7, 3, true);
  std::set<int64_t> uniq(o.begin(), o.end());
  EXPECT_EQ(uniq.size(), 100u);
  EXPECT_EQ(*uniq.begin(), 0);
  EXPECT_EQ(*uniq.rbegin(), 99);
  std::vector<int64_t> id = epoch_order(5, 7, 3, false);
  EXPECT_EQ(id, (std::vector<int64_t>{0, 1, 2, 3, 4}));

  // Two loaders with the same seed give the same batches; the rows match the indices.
  LoaderOptions o1{8, 0, 1, 42, true, true};
  BatchLoader a(toy_columns(50), o1), b(toy_columns(50), o1);
  for (int s = 0; s < 20; ++s) {
    const Batch& ba = a.next();
    std::vector<int32_t> la = labels_of(ba);
    const Batch& bb = b.next();
    EXPECT_EQ(la, labels_of(bb));
    for (size_t i = 0; i < 8; ++i) {
      EXPECT_EQ(la[i], bb.indices[i]);
      EXPECT_EQ(bb[0].data<float>()[2 * i + 1], -static_cast<float>(la[i]));
    }
  }
}

TEST(Loader, EpochVisitsEveryExampleOnceAndSkipsRemainder) {
  LoaderOptions o{4, 0, 1, 1, true, true};
  BatchLoader l(toy_columns(18), o);   // 4 steps per epoch, 2 examples skipped
  EXPECT_EQ(l.steps_per_epoch(), 4);
  std::set<int32_t> seen;
  for (int s = 0; s < 4; ++s)
    for (int32_t y : labels_of(l.next())) EXPECT_TRUE(seen.insert(y).second) << y;
  EXPECT_EQ(seen.size(), 16u);
  EXPECT_EQ(l.position(), (LoaderPosition{1, 0}));
  std::vector<int64_t> e0 = epoch_order(18, 1, 0, true);
  EXPECT_EQ(seen.count(static_cast<int32_t>(e0[16])), 0u);
  EXPECT_EQ(seen.count(static_cast<int32_t>(e0[17])), 0u);
}

TEST(Loader, ShardsAreDisjointAndCoverTheGlobalBatch) {
  const int W = 4, B = 3;
  const int64_t N = 40;   // 3 steps per epoch (global batch 12), 4 left over
  std::vector<std::unique_ptr<BatchLoader>> ranks;
  for (int r = 0; r < W; ++r) ranks.push_back(std::make_unique<BatchLoader>(toy_columns(N), LoaderOptions{B, r, W, 9, true, true}));
  BatchLoader one(toy_columns(N), LoaderOptions{W * B, 0, 1, 9, true, false});
  for (int s = 0; s < 10; ++s) {   // crosses epoch boundaries
    std::vector<int32_t> concat;
    std::set<int32_t> uniq;
    for (int r = 0; r < W; ++r) {
      std::vector<int32_t> y = labels_of(ranks[static_cast<size_t>(r)]->next());
      ASSERT_EQ(y.size(), static_cast<size_t>(B));
      for (int32_t v : y) {
        EXPECT_TRUE(uniq.insert(v).second) << "example " << v << " on two ranks at step " << s;
        concat.push_back(v);
      }
    }
    // The W*B equivalence: ranks' batches in rank order == one rank with batch W*B.
    const Batch& big = one.next();
    EXPECT_EQ(concat, labels_of(big)) << "step " << s;
    std::vector<float> xs = big[0].to_vector<float>();
    for (size_t i = 0; i < concat.size(); ++i) EXPECT_EQ(xs[2 * i], static_cast<float>(concat[i]));
  }
  for (int r = 0; r < W; ++r) EXPECT_EQ(ranks[static_cast<size_t>(r)]->position(), one.position());
}

TEST(Loader, SaveAndRestorePositionGivesSameBatches) {
  LoaderOptions o{5, 1, 2, 3, true, true};
  BatchLoader a(toy_columns(37), o);   // 3 steps per epoch
  for (int s = 0; s < 4; ++s) a.next();
  const LoaderPosition saved = a.position();
  EXPECT_EQ(saved, (LoaderPosition{1, 10}));
  std::vector<std::vector<int32_t>> expect;
  for (int s = 0; s < 7; ++s) expect.push_back(labels_of(a.next()));

  BatchLoader b(toy_columns(37), o);   // a fresh process resuming from the checkpoint
  b.next();
  b.set_position(saved);
  EXPECT_EQ(b.position(), saved);
  for (int s = 0; s < 7; ++s) EXPECT_EQ(labels_of(b.next()), expect[static_cast<size_t>(s)]) << s;

  // Restoring in the same loader (rewind) works too, with and without prefetch.
  a.set_position(saved);
  for (int s = 0; s < 7; ++s) EXPECT_EQ(labels_of(a.next()), expect[static_cast<size_t>(s)]) << s;
  o.prefetch = false;
  BatchLoader c(toy_columns(37), o);
  c.set_position(saved);
  for (int s = 0; s < 7; ++s) EXPECT_EQ(labels_of(c.next()), expect[static_cast<size_t>(s)]) << s;
}

// A position read from a checkpoint is checked: an index near 2^63 used to
// wrap in index + global_batch and read far outside the epoch's order.
TEST(Loader, PositionOutsideTheDatasetIsAnError) {
  for (bool prefetch : {true, false}) {
    BatchLoader l(toy_columns(37), LoaderOptions{5, 0, 2, 3, true, prefetch});
    std::string m = error_of([&] { l.set_position({0, INT64_MAX - 3}); });
    EXPECT_NE(m.find("index 9223372036854775804 is past the end of the dataset (37 examples)"), std::string::npos) << m;
    m = error_of([&] { l.set_position({2, 38}); });
    EXPECT_NE(m.find("index 38 is past the end"), std::string::npos) << m;
    m = error_of([&] { l.set_position({INT64_MAX, 37}); });
    EXPECT_NE(m.find("epoch 9223372036854775807 is out of range"), std::string::npos) << m;
    // The end of an epoch (37 examples, 3 global batches of 10) starts the next one, as before.
    l.set_position({2, 37});
    EXPECT_EQ(l.position(), (LoaderPosition{3, 0}));
    l.set_position({2, 28});
    EXPECT_EQ(l.position(), (LoaderPosition{3, 0}));
    l.set_position({2, 20});
    EXPECT_EQ(l.position(), (LoaderPosition{2, 20}));
    EXPECT_EQ(labels_of(l.next()).size(), 5u);
    EXPECT_EQ(l.position(), (LoaderPosition{3, 0}));
  }
}

TEST(Loader, GlobalBatchThatOverflowsIsAnError) {
  std::string m = error_of([] { BatchLoader l(toy_columns(10), LoaderOptions{int64_t{1} << 62, 0, 4, 0, true, true}); });
  EXPECT_NE(m.find("global batch > 2^63 (4 ranks x 4611686018427387904) is larger than the dataset (10 examples)"),
            std::string::npos)
      << m;
}

TEST(Loader, ReusesTwoBuffers) {
  BatchLoader l(toy_columns(64), LoaderOptions{4, 0, 1, 5, true, true});
  std::set<const void*> bufs;
  for (int s = 0; s < 50; ++s) bufs.insert(l.next()[0].raw());
  EXPECT_EQ(bufs.size(), 2u);
}

TEST(Loader, RejectsBadOptions) {
  EXPECT_NE(error_of([] { BatchLoader l(toy_columns(10), LoaderOptions{4, 0, 3, 0, true, true}); })
                .find("global batch 12 (3 ranks x 4) is larger than the dataset (10 examples)"),
            std::string::npos);
  EXPECT_NE(error_of([] { BatchLoader l(toy_columns(10), LoaderOptions{2, 2, 2, 0, true, true}); }).find("rank 2"),
            std::string::npos);
  EXPECT_NE(error_of([] { BatchLoader l(toy_columns(10), LoaderOptions{0, 0, 1, 0, true, true}); }).find("batch_size"),
            std::string::npos);
  std::vector<Tensor> bad = toy_columns(10);
  bad[1] = Tensor::zeros({9}, DType::I32);
  EXPECT_NE(error_of([&] { BatchLoader l(bad, LoaderOptions{}); }).find("column 1 has shape [9]"), std::string::npos);
}

TEST(Loader, EvalIteratorCoversAllIncludingPartialBatch) {
  EvalIterator it(toy_columns(10), 4);
  Batch b;
  std::vector<int32_t> all;
  std::vector<int64_t> sizes;
  while (it.next(b)) {
    sizes.push_back(b[0].dim(0));
    for (int32_t y : labels_of(b)) all.push_back(y);
  }
  EXPECT_EQ(sizes, (std::vector<int64_t>{4, 4, 2}));
  EXPECT_EQ(all, (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  it.reset();
  ASSERT_TRUE(it.next(b));
  EXPECT_EQ(labels_of(b), (std::vector<int32_t>{0, 1, 2, 3}));

  // Sharded evaluation: contiguous slices whose union is the whole set.
  std::vector<int32_t> joined;
  for (int r = 0; r < 3; ++r) {
    EvalIterator e(toy_columns(10), 2, r, 3);
    while (e.next(b))
      for (int32_t y : labels_of(b)) joined.push_back(y);
  }
  EXPECT_EQ(joined, all);
}

// ---- tables (data/tabular.h) -----------------------------------------------------

TEST(Tabular, CsvQuotesBlankLinesAndLineNumbers) {
  ft::data::CsvOptions o;
  o.label = "y";
  // a quoted header with a comma, a quoted cell, a blank line, CRLF endings
  const std::string text = "\"a,1\",b,y\r\n1,\"2.5\",cat\r\n\r\n3,4,dog\r\n";
  ft::data::Table t = ft::data::read_csv_text(text, "t.csv", o);
  ASSERT_EQ(t.rows, 2);
  EXPECT_EQ(t.features, (std::vector<std::string>{"a,1", "b"}));
  EXPECT_EQ(t.x, (std::vector<double>{1, 2.5, 3, 4}));
  EXPECT_EQ(t.y_text, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(t.line, (std::vector<int64_t>{2, 4}));  // the blank line 3 is skipped, rows keep their lines
  // a bad cell after it names line 5
  try {
    ft::data::read_csv_text(text + "5,x,cat\r\n", "t.csv", o);
    FAIL() << "no error";
  } catch (const ft::Error& e) {
    EXPECT_EQ(std::string(e.what()), "t.csv: row 5, column 'b': 'x' is not a number");
  }
}

TEST(Tabular, TsvAndMissingCells) {
  ft::data::CsvOptions o;
  o.label = "y";
  ft::data::Table t = ft::data::read_csv_text("a\tb\ty\n1\t\t0\nNA\t 2 \t1\n", "t.tsv", o);
  ASSERT_EQ(t.rows, 2);
  EXPECT_TRUE(std::isnan(t.x[1]));
  EXPECT_TRUE(std::isnan(t.x[2]));
  EXPECT_EQ(t.x[3], 2.0);
  EXPECT_EQ(t.y, (std::vector<double>{0, 1}));
}

TEST(Tabular, LibsvmDenseRows) {
  ft::data::Table t = ft::data::read_libsvm_text("1 1:0.5 3:2 # comment\n\n0 2:-1\n", "t.libsvm");
  ASSERT_EQ(t.rows, 2);
  ASSERT_EQ(t.cols(), 3);
  EXPECT_EQ(t.x, (std::vector<double>{0.5, 0, 2, 0, -1, 0}));
  EXPECT_EQ(t.y, (std::vector<double>{1, 0}));
  EXPECT_EQ(t.line, (std::vector<int64_t>{1, 3}));
  try {
    ft::data::read_libsvm_text("1 1:0.5 4:1\n", "t.libsvm", 3);
    FAIL() << "no error";
  } catch (const ft::Error& e) {
    EXPECT_EQ(std::string(e.what()), "t.libsvm: row 1: index 4 is past the 3 features");
  }
}

// One large index in a tiny file would ask for gigabytes once held densely: it
// is refused against the memory available, naming the row with that index.
TEST(Tabular, LibsvmIndexTooLargeToHoldIsAnErrorNotAnAllocation) {
  ::setenv("FT_MEMORY_LIMIT_MB", "1024", 1);  // the same on every machine
  struct Unset {
    ~Unset() { ::unsetenv("FT_MEMORY_LIMIT_MB"); }
  } unset;
  try {
    ft::data::read_libsvm_text("1 1:1\n0 2:1 1000000000:1\n", "t.libsvm");
    FAIL() << "no error";
  } catch (const ft::Error& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.rfind("t.libsvm: row 2: index 1000000000 makes 2 rows x 1000000000 features, 56.0 GB held densely, more than the 1.1 GB of memory available", 0), 0u) << m;
  }
}
