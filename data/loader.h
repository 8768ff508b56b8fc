// loader.h — batches over an in-memory dataset: seeded epoch shuffle, per-rank
// sharding, a prefetch thread with double buffering, and a resumable position.
//
// The loader serves any set of "columns": tensors whose first dimension is the
// example index N (e.g. MNIST images (N, 784) f32 and labels (N) i32, or the
// MLM tensors (N, T)). A batch holds the same columns with first dimension B.
//
// Order and sharding. Epoch e visits a permutation of 0..N-1 (identity when
// shuffle is off) that depends only on (seed, e), so every rank computes the
// same global order. With world size W and per-rank batch B, the global batch
// of step s covers positions [s*W*B, (s+1)*W*B) of that order; rank r takes
// positions [s*W*B + r*B, s*W*B + (r+1)*B). Hence concatenating the batches of
// ranks 0..W-1 gives exactly the batch that one rank with batch size W*B sees.
// An epoch has floor(N / (W*B)) steps (the remainder is skipped, so all ranks
// take the same number of steps); then the next epoch starts.
//
// Position. position() = (epoch, index) of the next batch, where index is the
// first global position of its global batch. set_position() restores it, and
// the batches that follow are exactly the ones that followed when it was saved.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "core/tensor.h"
#include "data/idx.h"

namespace ft {
namespace data {

struct LoaderOptions {
  int64_t batch_size = 128;   // per rank
  int rank = 0;
  int world = 1;
  uint64_t seed = 0;
  bool shuffle = true;
  bool prefetch = true;       // fill the next batch on a background thread
};

struct LoaderPosition {
  int64_t epoch = 0;
  int64_t index = 0;          // global position in the epoch's order
  bool operator==(const LoaderPosition& o) const { return epoch == o.epoch && index == o.index; }
};

struct Batch {
  std::vector<Tensor> columns;    // column c: (B, ...) in the dtype of the dataset's column c
  std::vector<int64_t> indices;   // (B) example indices in the dataset
  const Tensor& operator[](size_t c) const { return columns.at(c); }
};

// The permutation visited in `epoch` (identity when shuffle is false).
std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch, bool shuffle);

class BatchLoader {
 public:
  BatchLoader(std::vector<Tensor> columns, LoaderOptions opts);
  // Columns {images (N, rows*cols), labels (N)}.
  BatchLoader(const Dataset& ds, LoaderOptions opts);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // The next batch. Its tensors are reused buffers, valid until the next call
  // to next() or set_position() (copy with clone() to keep them).
  const Batch& next();

  LoaderPosition position() const { return pos_; }
  void set_position(LoaderPosition p);

  int64_t size() const { return n_; }
  int64_t steps_per_epoch() const { return n_ / global_batch_; }
  const LoaderOptions& options() const { return opts_; }

 private:
  LoaderPosition advance(LoaderPosition p) const;
  void fill(Batch& b, LoaderPosition p);
  void start_thread();
  void stop_thread();
  void produce();

  std::vector<Tensor> cols_;
  std::vector<size_t> row_bytes_;
  LoaderOptions opts_;
  int64_t n_ = 0;
  int64_t global_batch_ = 0;
  LoaderPosition pos_;               // next batch handed to the caller

  // Order cache for the epoch being filled (used only by the filling thread).
  int64_t order_epoch_ = -1;
  std::vector<int64_t> order_;

  // Double buffering: the producer fills slot k while the caller holds the other.
  Batch slots_[2];
  bool full_[2] = {false, false};
  int next_slot_ = 0;                // slot the caller takes next
  int held_ = -1;                    // slot the caller holds, -1 = none
  LoaderPosition produce_pos_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// Sequential pass over a whole dataset for evaluation: batches of batch_size in
// index order, the last one possibly smaller. With world W, rank r evaluates
// the contiguous slice [r*N/W, (r+1)*N/W) (sum the metrics across ranks).
class EvalIterator {
 public:
  EvalIterator(std::vector<Tensor> columns, int64_t batch_size, int rank = 0, int world = 1);
  EvalIterator(const Dataset& ds, int64_t batch_size, int rank = 0, int world = 1);

  // Fills `b` with the next batch; false when the pass is over.
  bool next(Batch& b);
  void reset() { cur_ = begin_; }
  int64_t begin() const { return begin_; }
  int64_t end() const { return end_; }

 private:
  std::vector<Tensor> cols_;
  int64_t batch_ = 0, begin_ = 0, end_ = 0, cur_ = 0;
};

}  // namespace data
}  // namespace ft
