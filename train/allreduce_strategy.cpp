// allreduce_strategy.cpp — synchronous data parallelism over the comm layer.
//
// Default mode: the worker graph is rewritten so gradients, in the order
// backward produces them (node id order), form buckets of distributed.bucket_mb;
// each bucket gets one asynchronous allreduce_bucket node (mean) that starts as
// soon as its last gradient exists, while backward continues. comm::allreduce
// chains bucket nodes by control edges so every rank launches them in order. The
// step's loss rides in the last bucket, so the logged loss is the global mean.
//
// Model parallel (distributed.model_parallel = k > 1, train/mp.h): gradients are
// averaged over the data-parallel group (ctx.dp_comm) only: each of the k
// model-parallel ranks reduces its own parameter slices with the ranks holding
// the same slices, and replicated parameters (whose gradients are already equal
// within a model-parallel group) the same way. The buckets are ordered after
// the graph's model-parallel collectives (comm/mp_ops.h) so that ranks of
// different groups never wait on each other in a cycle. The k ranks of a group
// read the same batch (data rank = dp index).
//
// Device buckets (distributed.backend nccl, or auto with device cuda): the
// bucket nodes are placed on "cuda" and run comm/nccl's kernel (ncclAllReduce on
// the communication stream after the compute stream's work).
//
// Loss scaling (ctx.scaler): the reduced gradients are unscaled in fp32 on the
// host; inf/nan skips the update on every rank alike.
//
// Deterministic mode: the global batch is cut into micro-batches of a fixed
// size; each micro-batch's gradient is computed alone, summed in a fixed
// pairwise tree (locally over this rank's contiguous micro-batches, then over
// ranks in rank order after an allgather), so parameters are bit-identical for
// any power-of-two number of ranks at a fixed global batch.
#include <chrono>
#include <cstring>
#include <sstream>

#include "comm/bucketing.h"
#include "comm/comm_ops.h"
#include "comm/communicator.h"
#include "comm/device_comm.h"
#include "comm/mpi_communicator.h"
#include "comm/stall.h"
#include "comm/mp_ops.h"
#include "optim/clip.h"
#include "train/trainer.h"

namespace ft {
namespace train {
namespace {

// Pairwise tree sum over a stream of equal-sized flat vectors, in arrival order.
class TreeSum {
 public:
  void add(std::vector<float> v) {
    int level = 0;
    while (!stack_.empty() && stack_.back().first == level) {
      std::vector<float>& a = stack_.back().second;
      for (size_t i = 0; i < a.size(); ++i) a[i] = a[i] + v[i];
      v = std::move(a);
      stack_.pop_back();
      ++level;
    }
    stack_.emplace_back(level, std::move(v));
  }
  // The total; the count added must be a power of two for a balanced tree.
  std::vector<float> take() {
    FT_CHECK(stack_.size() == 1, "tree sum over a count that is not a power of two");
    auto v = std::move(stack_.back().second);
    stack_.clear();
    return v;
  }

 private:
  std::vector<std::pair<int, std::vector<float>>> stack_;
};

bool pow2(int64_t x) { return x > 0 && (x & (x - 1)) == 0; }

uint64_t fnv(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) { h ^= c; h *= 1099511628211ull; }
  return h;
}

std::string describe(const comm::TensorSpec& t) {
  return "'" + t.name + "' " + shape_str(t.shape) + " " + dtype_name(t.dtype);
}

// All ranks compare their gradient layouts (names, shapes, dtypes, order). On a
// mismatch every rank throws the same line naming the first differing tensor
// and the ranks that differ, instead of hanging in a mis-sized collective.
void check_same_layout(comm::Communicator& w, const comm::GradientBucketer& b) {
  const auto& ts = b.tensors();
  auto hashes = w.allgather_u64(b.layout_hash());
  auto counts = w.allgather_u64(ts.size());
  bool same = true;
  for (size_t r = 1; r < hashes.size(); ++r) same = same && hashes[r] == hashes[0];
  if (same) return;
  uint64_t most = *std::max_element(counts.begin(), counts.end());
  for (uint64_t i = 0; i < most; ++i) {
    std::string mine = i < ts.size() ? describe(ts[i]) : "(no tensor)";
    auto h = w.allgather_u64(fnv(mine));
    int first_diff = -1;
    for (size_t r = 1; r < h.size() && first_diff < 0; ++r)
      if (h[r] != h[0]) first_diff = int(r);
    if (first_diff < 0) continue;
    // Exchange the descriptions (fixed 192 bytes each) to name them.
    char buf[192] = {0};
    std::strncpy(buf, mine.c_str(), sizeof(buf) - 1);
    std::vector<char> all(sizeof(buf) * size_t(w.size()));
    w.allgather(buf, all.data(), int64_t(sizeof(buf) / 4), DType::I32);
    std::string a(&all[0]), bstr(&all[sizeof(buf) * size_t(first_diff)]);
    throw Error("gradient layout differs across ranks at tensor #" + std::to_string(i) + ": rank 0 has " + a +
                ", rank " + std::to_string(first_diff) + " has " + bstr + " (do all ranks build the same model?)");
  }
  throw Error("gradient layout differs across ranks (same tensors, different bucket order)");
}

class AllreduceStrategy : public Strategy {
 public:
  explicit AllreduceStrategy(const Config& c)
      : deterministic_(c.b("distributed.deterministic")), mp_(int(c.i("distributed.model_parallel"))) {
    if (deterministic_ && mp_ > 1)
      throw Error(c.where("distributed.model_parallel") + ": key 'distributed.model_parallel' = " +
                  std::to_string(mp_) + " cannot be combined with distributed.deterministic (use 1)");
    device_buckets_ = device_buckets(c);
  }

  // distributed.backend: whether gradient buckets live in device memory and go
  // through the device communicator (NCCL) instead of MPI.
  static bool device_buckets(const Config& c) {
    const std::string backend = c.s("distributed.backend");
    const bool on_cuda = c.s("device") == "cuda";
    if (backend == "mpi") return false;
    std::string why;
    const bool available = comm::device_comm_available(&why);
    if (backend == "auto") return on_cuda && available;
    if (!available) throw Error(c.where("distributed.backend") + ": key 'distributed.backend' = nccl: " + why);
    if (!on_cuda)
      throw Error(c.where("distributed.backend") +
                  ": key 'distributed.backend' = nccl needs device: cuda (the gradients are in host memory)");
    return true;
  }
  std::string name() const override { return "allreduce-sync"; }
  int data_rank(int rank) const override { return rank / mp_; }
  int data_world(int size) const override { return size / mp_; }

  void setup(TrainContext& ctx) override {
    comm::CommPtr dp = ctx.dp_comm ? ctx.dp_comm : ctx.world;
    comm::Communicator& w = *dp;
    if (auto* m = dynamic_cast<comm::MpiCommunicator*>(&w)) {
      const std::string a = ctx.cfg.s("distributed.allreduce_algorithm");
      using A = comm::MpiCommunicator::Algo;
      m->set_algorithm(a == "shm" ? A::Shm : a == "ring" ? A::Ring : a == "mpi" ? A::Mpi : A::Auto);
      m->setup_shm();  // before the first step, so a stall there can name missing ranks
    }
    comm::add_to_resources(res_, dp);
    if (ctx.mp_comm) comm::add_mp_to_resources(res_, ctx.mp_comm);
    // Order of production: backward builds the last layer's gradients first,
    // so ascending gradient node id is the order they become ready.
    order_.resize(ctx.grads.size());
    for (size_t i = 0; i < order_.size(); ++i) order_[i] = int(i);
    std::sort(order_.begin(), order_.end(), [&](int a, int b) { return ctx.grads[size_t(a)].node() < ctx.grads[size_t(b)].node(); });
    comm::GradientBucketer bucketer(size_t(ctx.cfg.f("distributed.bucket_mb") * 1024 * 1024));
    for (int i : order_) {
      const Value& p = ctx.params[size_t(i)];
      bucketer.add(p.name(), p.shape(), p.dtype());
    }
    // Every rank must hold the same layout before anything is exchanged.
    check_same_layout(w, bucketer);
    for (const Value& v : ctx.g.variables()) w.broadcast(ctx.g.value(v), 0);

    fetch_ = {ctx.model.loss};
    fetch_.insert(fetch_.end(), ctx.grads.begin(), ctx.grads.end());
    if (deterministic_) {
      const int64_t global = ctx.cfg.i("data.batch_size") * w.size();
      micro_ = ctx.cfg.i("distributed.micro_batch") > 0 ? ctx.cfg.i("distributed.micro_batch") : global / 8;
      if (micro_ < 1 || global % micro_ != 0 || ctx.cfg.i("data.batch_size") % micro_ != 0 ||
          !pow2(global / micro_) || !pow2(w.size()))
        throw Error(ctx.cfg.where("distributed.deterministic") +
                    ": key 'distributed.deterministic' needs a power-of-two number of ranks and of micro-batches (" +
                    "global batch " + std::to_string(global) + ", micro-batch " + std::to_string(micro_) +
                    ", per-rank batch " + std::to_string(ctx.cfg.i("data.batch_size")) + ")");
    } else if (w.size() > 1) {
      // Rewrite: one async allreduce node per bucket, chained in launch order.
      // Device buckets run the NCCL kernel registered for "cuda" (comm/device_comm.h).
      std::unique_ptr<Graph::Scope> on_device;
      if (device_buckets_) {
        comm::register_device_comm_kernels();
        comm::add_device_comm_to_resources(res_, comm::make_device_comm(dp));
        on_device = std::make_unique<Graph::Scope>(ctx.g.device_scope("cuda"));
      }
      auto buckets = bucketer.buckets();
      std::vector<Value> reduced(ctx.grads.size());
      Value reduced_loss;
      for (size_t bi = 0; bi < buckets.size(); ++bi) {
        std::vector<Value> in;
        for (int m : buckets[bi].members) in.push_back(ctx.grads[size_t(order_[size_t(m)])]);
        const bool last = bi + 1 == buckets.size();
        if (last) in.push_back(ctx.model.loss);
        auto out = comm::allreduce(ctx.g, in, int64_t(bi), comm::ReduceOp::Mean);
        if (bi == 0) comm::order_after_mp_collectives(ctx.g, out[0].node());
        for (size_t k = 0; k < buckets[bi].members.size(); ++k)
          reduced[size_t(order_[size_t(buckets[bi].members[k])])] = out[k];
        if (last) reduced_loss = out.back();
      }
      on_device.reset();
      fetch_ = {reduced_loss};
      fetch_.insert(fetch_.end(), reduced.begin(), reduced.end());
      buckets_ = int(buckets.size());
      // Stall detection: name the bucket's tensors when a collective waits too long.
      std::vector<std::string> names;
      for (const auto& b : buckets) {
        std::string n;
        for (size_t k = 0; k < b.members.size(); ++k) {
          if (k == 3) { n += ", ... (" + std::to_string(b.members.size()) + " tensors)"; break; }
          n += (k ? ", " : "") + bucketer.tensors()[size_t(b.members[k])].name;
        }
        names.push_back(n);
      }
      watch_ = std::make_unique<comm::StallWatch>(
          w.rank(), ctx.cfg.f("distributed.stall_warning_s"),
          [names](int64_t key) { return key >= 0 && size_t(key) < names.size() ? names[size_t(key)] : "?"; },
          [](const std::string& line) {
            std::fprintf(stderr, "%s\n", line.c_str());
            std::fflush(stderr);
          },
          [mpi = std::dynamic_pointer_cast<comm::MpiCommunicator>(dp)] {
            return mpi ? mpi->shm_not_arrived() : std::vector<int>{};
          });
    }
    ex_ = std::make_unique<Executor>(ctx.g, &ctx.pool);
  }

  double step(TrainContext& ctx, const Executor::Feeds& feeds, int64_t step, double lr) override {
    RunOptions ro;
    ro.step = step;
    ro.resources = &res_;
    ro.trace = trace_;
    ro.profile = ctx.profile;
    std::vector<Tensor> grads;
    double loss;
    if (ctx.scaler) scale_.data<float>()[0] = float(ctx.scaler->scale());
    if (deterministic_) {
      loss = deterministic_grads(ctx, feeds, step, grads);
    } else if (ctx.scaler) {
      Executor::Feeds f = feeds;
      f.emplace_back(ctx.loss_scale, scale_);
      auto out = ex_->run(f, fetch_, ro);
      loss = out[0].item<float>();
      grads.assign(out.begin() + 1, out.end());
    } else {
      auto out = ex_->run(feeds, fetch_, ro);
      loss = out[0].item<float>();
      grads.assign(out.begin() + 1, out.end());
    }
    // Loss scaling: unscale the reduced gradients in fp32. They are the same on
    // every rank of the data-parallel group, so every rank takes the same
    // decision; the ranks of a model-parallel group hold different slices and
    // agree through one max-allreduce of the flag.
    if (ctx.scaler) {
      std::vector<Tensor*> gp;
      for (Tensor& t : grads) gp.push_back(&t);
      int32_t overflow = ctx.scaler->unscale(gp) ? 0 : 1;
      if (ctx.mp_comm) ctx.mp_comm->allreduce(&overflow, 1, DType::I32, comm::ReduceOp::Max);
      if (!ctx.scaler->update(overflow != 0)) return loss;  // skipped: parameters and optimizer state unchanged
    }
    if (ctx.cfg.f("train.clip_norm") > 0) optim::clip_by_global_norm(grads, ctx.cfg.f("train.clip_norm"));
    if (ctx.cfg.b("debug.check_numerics"))
      for (size_t i = 0; i < grads.size(); ++i)
        for (int64_t k = 0; k < grads[i].numel(); ++k)
          if (!std::isfinite(grads[i].data<float>()[k]))
            throw Error("step " + std::to_string(step + 1) + ": gradient of '" + ctx.params[i].name() + "' is not finite");
    ctx.opt.set_lr(lr);
    ctx.opt.step(optim::bind(ctx.g, ctx.params, grads));
    return loss;
  }

  void log_fields(nlohmann::json& rec) override {
    rec["buckets"] = buckets_;
    rec["backend"] = device_buckets_ ? "nccl" : "mpi";
    if (ex_) {  // the executor's memory plan for the training step
      const PlanStats& st = ex_->last_stats();
      rec["arena_mb"] = double(st.arena_bytes) / (1 << 20);
      rec["unplanned_mb"] = double(st.unplanned_bytes) / (1 << 20);
    }
  }

  // Replicas must end bit-identical: compare a hash of every variable across ranks.
  void finish(TrainContext& ctx) override {
    comm::Communicator& w = ctx.dp_comm ? *ctx.dp_comm : *ctx.world;
    auto vars = ctx.g.variables();
    auto hash_of = [&](const Value& v) {
      const Tensor& t = ctx.g.value(v);
      return fnv(std::string(static_cast<const char*>(t.raw()), t.bytes()));
    };
    uint64_t all = 0;
    for (const Value& v : vars) all = all * 1099511628211ull ^ hash_of(v);
    auto h = w.allgather_u64(all);
    for (size_t r = 1; r < h.size(); ++r) {
      if (h[r] == h[0]) continue;
      for (const Value& v : vars) {
        auto hv = w.allgather_u64(hash_of(v));
        for (size_t q = 1; q < hv.size(); ++q)
          if (hv[q] != hv[0])
            throw Error("replicas diverged: variable '" + v.name() + "' differs between rank 0 and rank " +
                        std::to_string(q));
      }
    }
    if (ctx.world->rank() == 0 && w.size() > 1)
      std::printf("parameters bit-identical on all %d ranks%s (hash %016llx)\n", w.size(),
                  mp_ > 1 ? " of the data-parallel group" : "", static_cast<unsigned long long>(all));
  }
  void set_trace(std::vector<TraceEvent>* t) override { trace_ = t; }

 private:
  double deterministic_grads(TrainContext& ctx, const Executor::Feeds& feeds, int64_t step, std::vector<Tensor>& grads) {
    comm::Communicator& w = *ctx.world;
    const int64_t b = feeds[0].second.dim(0), k = b / micro_;
    TreeSum local;
    double loss = 0;
    size_t total = 0;
    for (const Value& p : ctx.params) total += size_t(ctx.g.value(p).numel());
    for (int64_t m = 0; m < k; ++m) {
      Executor::Feeds f;
      for (const auto& kv : feeds) {
        const Tensor& t = kv.second;
        Shape s = t.shape();
        s[0] = micro_;
        size_t row = t.bytes() / size_t(t.dim(0));
        f.emplace_back(kv.first, Tensor::view(static_cast<char*>(const_cast<void*>(t.raw())) + row * size_t(m * micro_), s, t.dtype()));
      }
      if (ctx.scaler) f.emplace_back(ctx.loss_scale, scale_);
      RunOptions ro;
      ro.step = (step * w.size() + w.rank()) * k + m;  // unique per global micro-batch
      ro.profile = ctx.profile;
      auto out = ex_->run(f, fetch_, ro);
      loss += out[0].item<float>();
      std::vector<float> flat;
      flat.reserve(total);
      for (size_t i = 1; i < out.size(); ++i) flat.insert(flat.end(), out[i].data<float>(), out[i].data<float>() + out[i].numel());
      local.add(std::move(flat));
    }
    std::vector<float> mine = local.take();
    std::vector<float> all(mine.size() * size_t(w.size()));
    w.allgather(mine.data(), all.data(), int64_t(mine.size()), DType::F32);
    TreeSum across;
    for (int r = 0; r < w.size(); ++r) across.add(std::vector<float>(all.begin() + long(r * mine.size()), all.begin() + long((r + 1) * mine.size())));
    std::vector<float> sum = across.take();
    const float inv = 1.0f / float(k * w.size());
    grads.clear();
    size_t off = 0;
    for (const Value& p : ctx.params) {
      Tensor t = Tensor::empty(ctx.g.value(p).shape(), DType::F32);
      for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = sum[off + size_t(i)] * inv;
      off += size_t(t.numel());
      grads.push_back(t);
    }
    double lsum = loss;
    w.allreduce(&lsum, 1, DType::F64, comm::ReduceOp::Sum);
    return lsum / double(k * w.size());
  }

  bool deterministic_;
  bool device_buckets_ = false;
  Tensor scale_ = Tensor::empty({}, DType::F32);  // fed to ctx.loss_scale
  int mp_ = 1;
  int64_t micro_ = 0;
  int buckets_ = 0;
  Resources res_;
  std::vector<int> order_;
  std::vector<Value> fetch_;
  std::unique_ptr<Executor> ex_;
  std::vector<TraceEvent>* trace_ = nullptr;
  std::unique_ptr<comm::StallWatch> watch_;
};

}  // namespace

std::unique_ptr<Strategy> make_allreduce_strategy(const Config& cfg) { return std::make_unique<AllreduceStrategy>(cfg); }

}  // namespace train
}  // namespace ft
