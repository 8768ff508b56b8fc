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
// Device-resident state (a non-host device whose backend registers update
// kernels, optim/device_update.h: cuda, and the stand-in that runs the same path
// in CI): the
// variables and constants live on the device (ResidentVariables, read in place
// by the step's and the evaluation's plans), the gradients are fetched there,
// and the optimizer updates them there with its slots beside them, through the
// device's kernels, as do loss scaling, clipping and the finiteness check. Per step only
// the batch goes in and the loss comes out; gradients that a host collective
// reduced go back in. Deterministic mode fetches each micro-batch's gradients to
// the host, where its fixed-order sums run, and sends the sums back; with model
// parallelism the mp_* collectives (host kernels) read and write through copies.
// sync_params() downloads the variables (checkpoints, the end of the run).
//
// Loss scaling: the loss-scale feed (ctx.extra) rides with every run; the reduced
// gradients are unscaled by the shared update (train/update.h).
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
#include "optim/device_update.h"
#include "comm/stall.h"
#include "comm/mp_ops.h"
#include "core/device.h"
#include "core/log.h"
#include "core/memory_info.h"
#include "optim/clip.h"
#include "train/registry.h"

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

// All ranks compare the settings that decide which collectives a step issues
// (a rank in deterministic mode allgathers where the others allreduce, and
// both would wait forever). On a difference every rank throws the same line
// naming the key, rank 0's value and the first rank that differs.
void check_same_settings(comm::Communicator& w, const std::vector<std::pair<std::string, std::string>>& settings) {
  for (const auto& kv : settings) {
    auto h = w.allgather_u64(fnv(kv.second));
    int first_diff = -1;
    for (size_t r = 1; r < h.size() && first_diff < 0; ++r)
      if (h[r] != h[0]) first_diff = int(r);
    if (first_diff < 0) continue;
    char buf[64] = {0};
    std::strncpy(buf, kv.second.c_str(), sizeof(buf) - 1);
    std::vector<char> all(sizeof(buf) * size_t(w.size()));
    w.allgather(buf, all.data(), int64_t(sizeof(buf) / 4), DType::I32);
    throw Error("layout differs across ranks: " + kv.first + " is " + std::string(&all[0]) + " on rank 0 and " +
                std::string(&all[sizeof(buf) * size_t(first_diff)]) + " on rank " + std::to_string(first_diff) +
                " (start every rank with the same config)");
  }
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
  explicit AllreduceStrategy(const RunConfig& c)
      : deterministic_(c.distributed.deterministic), mp_(c.distributed.model_parallel) {
    device_buckets_ = device_buckets(c);
  }

  // distributed.backend: whether gradient buckets live in device memory and go
  // through the device communicator (NCCL) instead of MPI.
  static bool device_buckets(const RunConfig& c) {
    const std::string& backend = c.distributed.backend;
    const bool on_cuda = c.device == "cuda";
    if (backend == "mpi") return false;
    if (backend == "auto" && !on_cuda) return false;  // asks nothing: a cpu run never loads the CUDA backend
    std::string why;
    const bool available = comm::device_comm_available(&why);
    if (backend == "auto") return on_cuda && available;
    if (!available) c.fail("distributed.backend", "= nccl: " + why);
    if (!on_cuda) c.fail("distributed.backend", "= nccl needs device: cuda (the gradients are in host memory)");
    return true;
  }
  std::string name() const override { return "allreduce-sync"; }
  Roles roles(int rank, int size) const override { return {true, rank == 0, rank / mp_, size / mp_}; }

  void setup(StepContext& ctx) override {
    comm::CommPtr dp = ctx.dp_comm ? ctx.dp_comm : ctx.world;
    comm::Communicator& w = *dp;
    comm::CommOptions copt;  // default thresholds
    copt.allreduce = comm::parse_allreduce_algorithm(ctx.cfg.distributed.allreduce_algorithm);
    dp->configure(copt);  // collective; sets up shared memory now, so a stall in step 1 can name missing ranks
    if (ctx.world->rank() == 0 && dp->size() > 1 && !dp->allreduce_summary().empty())
      logging::info("allreduce: {}", dp->allreduce_summary());
    comm::add_to_resources(res_, dp);
    if (ctx.mp_comm) comm::add_mp_to_resources(res_, ctx.mp_comm);
    // Order of production: backward builds the last layer's gradients first,
    // so ascending gradient node id is the order they become ready (strategy.h).
    GradientPlan plan = plan_gradient_buckets(ctx.params, ctx.grads, ctx.cfg.distributed.bucket_mb);
    order_ = std::move(plan.order);
    const comm::GradientBucketer& bucketer = plan.bucketer;
    // Every rank must hold the same layout before anything is exchanged.
    check_same_settings(w, {{"distributed.deterministic", deterministic_ ? "true" : "false"},
                            {"distributed.micro_batch", std::to_string(ctx.cfg.distributed.micro_batch)}});
    check_same_layout(w, bucketer);
    plan_lines_.clear();
    if (w.size() > 1) {
      if (deterministic_) {
        double bytes = 0;
        for (const auto& t : bucketer.tensors()) bytes += double(numel(t.shape)) * double(dtype_size(t.dtype));
        const double n = double(w.size());
        plan_lines_.push_back(fmt::format("deterministic: reduce-scatter + allgather of the ranks' tree-summed gradients, "
                                          "{:.3f} MiB sent per rank and step ({} ranks; an allgather of whole "
                                          "partials would send {:.3f} MiB)",
                                          2 * bytes * (n - 1) / n / double(1 << 20), w.size(),
                                          bytes * (n - 1) / double(1 << 20)));
        if (ctx.world->rank() == 0) logging::info("{}", plan_lines_.back());
      } else {
        std::istringstream lines(bucketer.describe());
        for (std::string l; std::getline(lines, l);) plan_lines_.push_back("allreduce " + l);
      }
    }
    for (const std::string& l : mp_collectives(ctx.g, ctx.cfg.data.batch_size)) plan_lines_.push_back(l);
    for (const Value& v : ctx.g.variables()) w.broadcast(ctx.g.value(v), 0);

    fetch_ = {ctx.model.loss};
    fetch_.insert(fetch_.end(), ctx.grads.begin(), ctx.grads.end());
    // With NCCL on cuda the model-parallel collectives run over an NCCL
    // communicator of the mp group too (comm/nccl/nccl_ops.cpp).
    if (device_buckets_ && ctx.mp_comm && ctx.mp_comm->size() > 1) {
      comm::register_device_comm_kernels();
      comm::add_mp_device_comm_to_resources(res_, comm::make_device_comm(ctx.mp_comm));
    }
    if (deterministic_) {
      const int64_t batch = ctx.cfg.data.batch_size, global = batch * w.size();
      micro_ = ctx.cfg.distributed.micro_batch > 0 ? ctx.cfg.distributed.micro_batch : global / 8;
      if (micro_ < 1 || global % micro_ != 0 || batch % micro_ != 0 || !pow2(global / micro_) || !pow2(w.size()))
        ctx.cfg.fail("distributed.deterministic",
                     "needs a power-of-two number of ranks and of micro-batches (global batch " +
                         std::to_string(global) + ", micro-batch " + std::to_string(micro_) + ", per-rank batch " +
                         std::to_string(batch) + ")");
      if (w.size() > 1) start_watch(ctx, dp, {"every gradient's shards, tree-summed micro-batches",
                                              "the summed shards of every gradient", "the step's summed loss"});
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
      start_watch(ctx, dp, std::move(names));
    }
    // Model-parallel collectives are watched too, also without data parallelism.
    if (!watch_ && ctx.mp_comm && ctx.mp_comm->size() > 1) start_watch(ctx, dp, {});
    ex_ = std::make_unique<Executor>(ctx.g, &ctx.pool);
    ex_->set_host_arena(ctx.host_arena);
    if (resident_state(ctx.cfg)) {
      ctx.resident = std::make_shared<ResidentVariables>(ctx.g, ft::device(ctx.cfg.device));
      for (const Value& v : ctx.params) ctx.resident->of(v);  // uploaded once, after the broadcast
      ex_->set_resident(ctx.resident);
      ex_->set_fetch_on_device(!deterministic_);  // deterministic mode sums the micro-batches on the host
      if (ctx.world->rank() == 0)
        logging::info("device {}: variables and optimizer state resident there ({})", ctx.cfg.device,
                      human_bytes(double(ctx.resident->bytes())));
    }
  }

  // Whether the run keeps its state on the device (see the top of the file).
  bool resident_state(const RunConfig& c) const {
    if (c.device == "cpu") return false;
    const Device& d = ft::device(c.device);
    return !d.is_host() && optim::device_update(d.name()) != nullptr;  // the update can run there
  }

  void sync_params(StepContext& ctx) override {
    if (ctx.resident) ctx.resident->download();
  }

  // Resident state reads its batch on the device; deterministic mode cuts the batch into micro-batches on the host.
  bool stages_inputs(const StepContext& ctx) const override { return ctx.resident && !deterministic_; }

  StepResult compute(StepContext& ctx, const Executor::Feeds& batch, int64_t step) override {
    StepResult r;
    if (deterministic_) {
      r.loss = deterministic_grads(ctx, batch, step, r.grads);
      return r;
    }
    RunOptions ro;
    ro.step = step;
    ro.resources = &res_;
    ro.trace = ctx.trace;
    ro.profile = ctx.profile;
    std::vector<Tensor> out;
    if (ctx.extra.empty()) {
      out = ex_->run(batch, fetch_, ro);
    } else {
      Executor::Feeds f = batch;
      f.insert(f.end(), ctx.extra.begin(), ctx.extra.end());
      out = ex_->run(f, fetch_, ro);
    }
    r.loss = out[0].to_host().item<float>();  // a device tensor when the state is resident
    r.grads.assign(out.begin() + 1, out.end());
    return r;
  }

  void apply(StepContext& ctx, const std::vector<Tensor>& grads, int64_t step, double lr) override {
    ctx.opt.set_lr(lr);
    if (!ctx.resident) return ctx.opt.step(optim::bind(ctx.g, ctx.params, grads));
    // Resident: the parameters on the device, and their gradients there too
    // (a host collective's results are copied in, into buffers kept per gradient).
    std::vector<optim::ParamRef> refs;
    grads_in_.resize(grads.size());
    for (size_t i = 0; i < grads.size(); ++i) {
      Tensor& w = ctx.resident->of(ctx.params[i]);
      Tensor g = grads[i];
      if (g.device_ptr() != w.device_ptr()) {
        if (grads_in_[i].raw() == nullptr)
          grads_in_[i] = Tensor::empty_on(*w.device_ptr(), g.shape(), g.dtype());
        grads_in_[i].copy_from(g);
        g = grads_in_[i];
      }
      refs.push_back({ctx.params[i].name(), w, g});
    }
    ctx.opt.step(refs);
  }

  std::vector<std::string> comm_plan(StepContext&) const override { return plan_lines_; }
  size_t arena_bytes(StepContext& ctx, const Executor::Feeds& batch) override {
    if (!ex_) return 0;
    Executor::Feeds f = batch;
    f.insert(f.end(), ctx.extra.begin(), ctx.extra.end());
    return ex_->stats(f, fetch_).arena_bytes;
  }

  void log_fields(nlohmann::json& rec) const override {
    rec["buckets"] = buckets_;
    if (deterministic_) rec["reduce_sent_mb"] = double(sent_bytes_) / (1 << 20);
    rec["backend"] = device_buckets_ ? "nccl" : "mpi";
    if (ex_) {  // the executor's memory plan for the training step
      const PlanStats& st = ex_->last_stats();
      rec["arena_mb"] = double(st.arena_bytes) / (1 << 20);
      rec["unplanned_mb"] = double(st.unplanned_bytes) / (1 << 20);
    }
  }

  // Replicas must end bit-identical: compare a hash of every variable across ranks.
  void finish(StepContext& ctx) override {
    sync_params(ctx);  // the host values are the run's result
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
      logging::info("parameters bit-identical on all {} ranks{} (hash {:016x})", w.size(),
                mp_ > 1 ? " of the data-parallel group" : "", all);
  }

 private:
  double deterministic_grads(StepContext& ctx, const Executor::Feeds& feeds, int64_t step, std::vector<Tensor>& grads) {
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
      f.insert(f.end(), ctx.extra.begin(), ctx.extra.end());
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
    // Across ranks, reduce-scatter then allgather: rank r receives shard r of
    // every rank's partial (alltoall), sums them in rank order with the same
    // pairwise tree, and the summed shards are allgathered. Each element is
    // summed in the same order as a tree over whole partials, so the result
    // is the same bits; each rank sends 2·S·(n−1)/n instead of S·(n−1).
    std::vector<float> mine = local.take();
    const size_t n = size_t(w.size()), shard = (mine.size() + n - 1) / n;
    mine.resize(shard * n, 0.0f);
    std::vector<float> parts(shard * n);
    {
      comm::InflightScope noted(0, names_of_step(0, step));
      w.alltoall(mine.data(), parts.data(), int64_t(shard), DType::F32);
    }
    TreeSum across;
    for (size_t r = 0; r < n; ++r)
      across.add(std::vector<float>(parts.begin() + long(r * shard), parts.begin() + long((r + 1) * shard)));
    std::vector<float> reduced = across.take();
    std::vector<float> sum(shard * n);
    {
      comm::InflightScope noted(1, names_of_step(1, step));
      w.allgather(reduced.data(), sum.data(), int64_t(shard), DType::F32);
    }
    sent_bytes_ = 2 * (n - 1) * shard * sizeof(float);
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
    {
      comm::InflightScope noted(2, names_of_step(2, step));
      w.allreduce(&lsum, 1, DType::F64, comm::ReduceOp::Sum);
    }
    return lsum / double(k * w.size());
  }

  bool deterministic_;
  size_t sent_bytes_ = 0;  // deterministic mode: bytes this rank sent in the last step's reduction
  bool device_buckets_ = false;
  int mp_ = 1;
  int64_t micro_ = 0;
  int buckets_ = 0;
  std::vector<std::string> plan_lines_;  // --dry-run
  Resources res_;
  std::vector<int> order_;
  std::vector<Value> fetch_;
  std::unique_ptr<Executor> ex_;
  std::vector<Tensor> grads_in_;  // resident state: device copies of host-reduced gradients
  static std::string names_of_step(int64_t key, int64_t step) {
    static const char* const what[] = {"deterministic reduce-scatter", "deterministic allgather",
                                       "deterministic loss allreduce"};
    return std::string(what[key]) + " of step " + std::to_string(step);
  }

  // Stall detection: a watch naming the collective (key -> names[key]) that waits too long,
  // the ranks not arrived and their hosts; stall_timeout_s ends the job. Each key asks the
  // group its collective runs over: buckets the data-parallel group, model-parallel
  // collectives the model-parallel group, the step boundary the world.
  void start_watch(StepContext& ctx, const comm::CommPtr& dp, std::vector<std::string> names) {
    // Lines name world ranks: each group's ranks are mapped (collectives over the groups).
    auto world_ranks = [&](const comm::CommPtr& c) {
      const std::vector<uint64_t> w = c->allgather_u64(uint64_t(ctx.world->rank()));
      return std::vector<int>(w.begin(), w.end());
    };
    struct Group {
      comm::CommPtr c;
      std::vector<int> world_of;
    };
    const Group dpg{dp, world_ranks(dp)};
    const Group mpg = ctx.mp_comm ? Group{ctx.mp_comm, world_ranks(ctx.mp_comm)} : Group{};
    watch_ = std::make_unique<comm::StallWatch>(
        ctx.world->rank(), ctx.cfg.distributed.stall_warning_s,
        [names](int64_t key) {
          if (key >= comm::kMpKey) return std::string("the model-parallel group's collective");
          if (key == comm::kStepKey) return std::string("the ranks' agreement to go on");
          return key >= 0 && size_t(key) < names.size() ? names[size_t(key)] : std::string("?");
        },
        [](const std::string& line) { logging::warn("{}", line); },
        [dpg, mpg, world = ctx.world](int64_t key) {
          if (key == comm::kStepKey) return world->not_arrived();
          const Group& g = key >= comm::kMpKey && mpg.c ? mpg : dpg;
          std::vector<int> v = g.c->not_arrived();
          for (int& r : v) r = g.world_of[size_t(r)];
          return v;
        });
    watch_->set_hosts([world = ctx.world](int r) { return world->host_of(r); });
    if (ctx.cfg.distributed.stall_timeout_s > 0)
      watch_->set_timeout(ctx.cfg.distributed.stall_timeout_s, [](const std::string& line) {
        logging::error("{}", line);
        comm::abort_job(3);
      });
  }


  std::unique_ptr<comm::StallWatch> watch_;
};

}  // namespace

void register_allreduce_strategy() {
  StrategyCaps caps;
  caps.model_parallel = caps.mixed_precision = caps.device_comm = true;
  register_strategy({"allreduce-sync",
                     [](const RunConfig& c, const comm::CommPtr&) { return std::make_unique<AllreduceStrategy>(c); },
                     caps});
}

}  // namespace train
}  // namespace ft
