// loader.cpp — shuffled, sharded, prefetching batch loader and the evaluation iterator.
#include "data/loader.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "core/checked.h"
#include "data/rng.h"

namespace ft {
namespace data {
namespace {

// Checks the columns share a first dimension N >= 1; returns N.
int64_t check_columns(const std::vector<Tensor>& cols, const char* who) {
  if (cols.empty()) throw Error(std::string(who) + ": no columns");
  int64_t n = -1;
  for (size_t c = 0; c < cols.size(); ++c) {
    const Tensor& t = cols[c];
    if (!t.defined() || t.rank() < 1)
      throw Error(std::string(who) + ": column " + std::to_string(c) + " is undefined or a scalar");
    if (n < 0) n = t.dim(0);
    if (t.dim(0) != n)
      throw Error(std::string(who) + ": column " + std::to_string(c) + " has shape " + shape_str(t.shape()) +
                  ", expected first dimension " + std::to_string(n));
  }
  if (n == 0) throw Error(std::string(who) + ": the dataset is empty");
  return n;
}

Shape batch_shape(const Tensor& t, int64_t b) {
  Shape s = t.shape();
  s[0] = b;
  return s;
}

void gather_rows(const std::vector<Tensor>& cols, const int64_t* idx, int64_t count, Batch& b) {
  for (size_t c = 0; c < cols.size(); ++c) {
    const size_t rb = cols[c].bytes() / static_cast<size_t>(cols[c].dim(0));
    const char* src = static_cast<const char*>(cols[c].raw());
    char* dst = static_cast<char*>(b.columns[c].raw());
    for (int64_t i = 0; i < count; ++i) std::memcpy(dst + i * rb, src + idx[i] * rb, rb);
  }
}

}  // namespace

std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch, bool shuffle) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  if (shuffle) {
    Rng rng(seed, static_cast<uint64_t>(epoch));
    rng.shuffle(order);
  }
  return order;
}

// ---- BatchLoader -----------------------------------------------------------------

BatchLoader::BatchLoader(const Dataset& ds, LoaderOptions opts) : BatchLoader(std::vector<Tensor>{ds.images, ds.labels}, opts) {}

BatchLoader::BatchLoader(std::vector<Tensor> columns, LoaderOptions opts) : cols_(std::move(columns)), opts_(opts) {
  n_ = check_columns(cols_, "BatchLoader");
  if (opts_.batch_size < 1) throw Error("BatchLoader: batch_size must be >= 1, got " + std::to_string(opts_.batch_size));
  if (opts_.world < 1 || opts_.rank < 0 || opts_.rank >= opts_.world)
    throw Error("BatchLoader: rank " + std::to_string(opts_.rank) + " is not in a world of " + std::to_string(opts_.world));
  const bool fits = checked_mul(opts_.batch_size, int64_t{opts_.world}, &global_batch_);
  if (!fits || global_batch_ > n_)
    throw Error("BatchLoader: global batch " + (fits ? std::to_string(global_batch_) : std::string("> 2^63")) + " (" +
                std::to_string(opts_.world) + " ranks x " + std::to_string(opts_.batch_size) +
                ") is larger than the dataset (" + std::to_string(n_) + " examples)");
  for (Batch& b : slots_) {
    for (const Tensor& t : cols_) b.columns.push_back(Tensor::empty(batch_shape(t, opts_.batch_size), t.dtype()));
    b.indices.resize(static_cast<size_t>(opts_.batch_size));
  }
  produce_pos_ = pos_;
  start_thread();
}

BatchLoader::~BatchLoader() { stop_thread(); }

// Positions are kept in [0, n_ - global_batch_] (set_position checks them), so
// none of these sums can overflow.
LoaderPosition BatchLoader::advance(LoaderPosition p) const {
  p.index += global_batch_;
  if (p.index > n_ - global_batch_) p = {p.epoch + 1, 0};
  return p;
}

void BatchLoader::fill(Batch& b, LoaderPosition p) {
  if (order_epoch_ != p.epoch) {
    order_ = epoch_order(n_, opts_.seed, p.epoch, opts_.shuffle);
    order_epoch_ = p.epoch;
  }
  const int64_t first = p.index + opts_.rank * opts_.batch_size;
  std::memcpy(b.indices.data(), order_.data() + first, b.indices.size() * sizeof(int64_t));
  gather_rows(cols_, b.indices.data(), opts_.batch_size, b);
}

void BatchLoader::produce() {
  int k = 0;
  for (;;) {
    LoaderPosition p;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !full_[k]; });
      if (stop_) return;
      p = produce_pos_;
      produce_pos_ = advance(produce_pos_);
    }
    fill(slots_[k], p);
    {
      std::lock_guard<std::mutex> lock(mu_);
      full_[k] = true;
    }
    cv_.notify_all();
    k ^= 1;
  }
}

void BatchLoader::start_thread() {
  stop_ = false;
  full_[0] = full_[1] = false;
  held_ = -1;
  next_slot_ = 0;
  if (opts_.prefetch) thread_ = std::thread([this] { produce(); });
}

void BatchLoader::stop_thread() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

const Batch& BatchLoader::next() {
  if (!opts_.prefetch) {
    fill(slots_[0], pos_);
    pos_ = advance(pos_);
    return slots_[0];
  }
  std::unique_lock<std::mutex> lock(mu_);
  if (held_ >= 0) {
    full_[held_] = false;
    cv_.notify_all();
  }
  cv_.wait(lock, [&] { return full_[next_slot_]; });
  held_ = next_slot_;
  next_slot_ ^= 1;
  pos_ = advance(pos_);
  return slots_[held_];
}

void BatchLoader::set_position(LoaderPosition p) {
  if (p.epoch < 0 || p.index < 0)
    throw Error("BatchLoader::set_position: negative position (epoch " + std::to_string(p.epoch) + ", index " +
                std::to_string(p.index) + ")");
  // A position is at most the dataset's size (the end of an epoch, which starts
  // the next one); beyond it, it belongs to another dataset or is corrupt.
  if (p.index > n_)
    throw Error("BatchLoader::set_position: index " + std::to_string(p.index) + " is past the end of the dataset (" +
                std::to_string(n_) + " examples)");
  if (p.index > n_ - global_batch_) {
    if (p.epoch == INT64_MAX)
      throw Error("BatchLoader::set_position: epoch " + std::to_string(p.epoch) + " is out of range");
    p = {p.epoch + 1, 0};
  }
  stop_thread();
  pos_ = produce_pos_ = p;
  start_thread();
}

// ---- EvalIterator ------------------------------------------------------------------

EvalIterator::EvalIterator(const Dataset& ds, int64_t batch_size, int rank, int world)
    : EvalIterator(std::vector<Tensor>{ds.images, ds.labels}, batch_size, rank, world) {}

EvalIterator::EvalIterator(std::vector<Tensor> columns, int64_t batch_size, int rank, int world)
    : cols_(std::move(columns)), batch_(batch_size) {
  const int64_t n = check_columns(cols_, "EvalIterator");
  if (batch_ < 1) throw Error("EvalIterator: batch_size must be >= 1, got " + std::to_string(batch_));
  if (world < 1 || rank < 0 || rank >= world)
    throw Error("EvalIterator: rank " + std::to_string(rank) + " is not in a world of " + std::to_string(world));
  // n * r / world without the product: n = q * world + m.
  const int64_t q = n / world, m = n % world;
  auto split = [&](int64_t r) { return q * r + m * r / world; };
  begin_ = cur_ = split(rank);
  end_ = split(rank + 1);
}

bool EvalIterator::next(Batch& b) {
  if (cur_ >= end_) return false;
  const int64_t count = std::min(batch_, end_ - cur_);
  bool reuse = b.columns.size() == cols_.size();
  for (size_t c = 0; reuse && c < cols_.size(); ++c)
    reuse = b.columns[c].dtype() == cols_[c].dtype() && b.columns[c].shape() == batch_shape(cols_[c], count);
  if (!reuse) {
    b.columns.clear();
    for (const Tensor& t : cols_) b.columns.push_back(Tensor::empty(batch_shape(t, count), t.dtype()));
  }
  b.indices.resize(static_cast<size_t>(count));
  std::iota(b.indices.begin(), b.indices.end(), cur_);
  gather_rows(cols_, b.indices.data(), count, b);
  cur_ += count;
  return true;
}

}  // namespace data
}  // namespace ft
