// trainer.cpp — the training loop.
#include "train/trainer.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <thread>

#include "core/memory_info.h"
#include "data/loader.h"
#include "ops/autocast.h"
#include "optim/clip.h"
#include "train/checkpoint.h"
#include "train/state.h"
#include "train/optim_config.h"
#include "train/mp.h"
#include "comm/mp_ops.h"

namespace ft {
namespace train {
namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Chrome trace format (chrome://tracing, Perfetto): one complete event per node run;
// communication ops get their own lane (tid 2), compute threads tids 0/1.
void write_chrome_trace(const std::string& path, const Graph& g, const std::vector<TraceEvent>& trace, int rank) {
  nlohmann::json events = nlohmann::json::array();
  int64_t t0 = trace.empty() ? 0 : trace.front().start_ns;
  for (const auto& e : trace) t0 = std::min(t0, e.start_ns);
  for (const auto& e : trace) {
    const Node& n = g.node(e.node);
    const bool comm = n.op == "allreduce_bucket" || n.op == "send" || n.op == "recv";
    events.push_back({{"name", n.name}, {"cat", n.op}, {"ph", "X"}, {"pid", rank}, {"tid", comm ? 2 : e.thread},
                      {"ts", double(e.start_ns - t0) / 1e3}, {"dur", double(e.end_ns - e.start_ns) / 1e3}});
  }
  nlohmann::json doc = {{"traceEvents", events}, {"displayTimeUnit", "ms"}};
  std::filesystem::path p(path);
  std::error_code ec;
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), ec);
  write_file_atomic(path, doc.dump());
}

std::string fmt_g(double v) {
  char b[32];
  std::snprintf(b, sizeof(b), "%.4g", v);
  return b;
}

// A logged loss far above the run's first one: ten times it and at least one more.
bool diverged(double loss, double first) { return first > 0 && loss > 10 * first && loss > first + 1; }

long minor_faults() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_minflt;
}

long peak_rss_kb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

std::unique_ptr<optim::Optimizer> make_opt(const Config& c) {
  optim::OptimizerOptions o;
  o.type = c.s("optimizer.type");
  o.lr = c.f("optimizer.lr");
  o.beta1 = c.f("optimizer.beta1");
  o.beta2 = c.f("optimizer.beta2");
  o.eps = c.f("optimizer.eps");
  o.weight_decay = c.f("optimizer.weight_decay");
  o.momentum = c.f("optimizer.momentum");
  o.nesterov = c.b("optimizer.nesterov");
  return optim::make_optimizer(o);
}

// Host-side accuracy/loss counting over a batch of logits.
struct EvalAcc {
  double loss_sum = 0;
  int64_t correct = 0, count = 0;
  void add(const Tensor& logits, const Tensor& labels, double batch_mean_loss) {
    const int64_t n = logits.dim(0), c = logits.dim(1);
    const float* l = logits.data<float>();
    int64_t counted = 0;
    for (int64_t i = 0; i < n; ++i) {
      int64_t y = labels.dtype() == DType::I32 ? labels.data<int32_t>()[i] : labels.data<int64_t>()[i];
      if (y < 0) continue;
      int64_t best = 0;
      for (int64_t j = 1; j < c; ++j)
        if (l[i * c + j] > l[i * c + best]) best = j;
      correct += best == y;
      ++counted;
    }
    count += counted;
    loss_sum += batch_mean_loss * double(counted);
  }
};

// The executor's kernel time per op type over the training steps, largest first.
void print_profile(Profile& p) {
  std::lock_guard<std::mutex> lock(p.mu);
  std::vector<std::pair<std::string, std::pair<int64_t, int64_t>>> rows(p.by_op.begin(), p.by_op.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
  double total = 0;
  for (const auto& r : rows) total += double(r.second.first);
  std::printf("profile: kernel time per op type (training steps, summed over threads)\n");
  std::printf("  %-40s %10s %7s %10s\n", "op", "ms", "share", "calls");
  for (const auto& r : rows)
    std::printf("  %-40s %10.1f %6.1f%% %10lld\n", r.first.c_str(), double(r.second.first) / 1e6,
                100.0 * double(r.second.first) / std::max(1.0, total), static_cast<long long>(r.second.second));
  std::printf("  %-40s %10.1f\n", "total", total / 1e6);
}

}  // namespace

int threads_for_rank(const Config& cfg) {
  int64_t t = cfg.i("train.threads");
  if (t > 0) return int(t);
  int cores = int(std::max(1u, std::thread::hardware_concurrency()));
  int local = 1;
  if (const char* s = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE")) local = std::max(1, std::atoi(s));
  return std::max(1, cores / local);
}

Trainer::Trainer(Config cfg, comm::CommPtr world) : cfg_(std::move(cfg)), world_(std::move(world)) {}

TrainResult Trainer::run(const std::string& resume) {
  const Config& c = cfg_;
  const int rank = world_->rank(), size = world_->size();
  // device: every node goes there when it has a kernel there, else on cpu
  // (core/placement.h). Opened first, so a missing device is the one error.
  const std::string dev = c.s("device");
  if (dev != "cpu") {
    try {
      device(dev);
    } catch (const Error& e) {
      throw Error(c.where("device") + ": key 'device' = " + dev + ": " + e.what());
    }
    if (c.i("distributed.model_parallel") > 1)
      throw Error(c.where("device") + ": key 'device' = " + dev +
                  " with distributed.model_parallel > 1 is not supported (model-parallel stages are placed by rank)");
  }
  if (size % c.i("distributed.model_parallel") != 0)
    throw Error(c.where("distributed.model_parallel") + ": key 'distributed.model_parallel' = " +
                std::to_string(c.i("distributed.model_parallel")) + " does not divide the world size " +
                std::to_string(size));

  ThreadPool::set_global_threads(threads_for_rank(c));
  ThreadPool& pool = ThreadPool::global();
  std::unique_ptr<Strategy> strategy = make_strategy(c, world_);
  const bool chief = strategy->is_chief(rank), worker = strategy->is_worker(rank);
  // dp x mp grid (train/mp.h); model_parallel > 1 is rejected by the ps strategies above.
  const Grid grid = make_grid(world_, int(c.i("distributed.model_parallel")));
  // With model parallelism the first replica's k ranks evaluate and checkpoint together.
  const bool replica0 = chief || (grid.mp > 1 && grid.dp_index == 0);

  // Mixed precision (precision: fp16 | bf16): the model's forward graph is copied
  // with matmul/conv in half precision (ops/autocast.h); variables stay f32.
  const std::string prec = c.s("precision");
  if (prec != "fp32" && strategy->name() != "allreduce-sync")
    throw Error(c.where("precision") + ": key 'precision' = " + prec + " is supported in allreduce-sync only");
  double init_scale = c.f("train.loss_scale");
  if (init_scale == 0 && prec == "fp16") init_scale = 65536;
  if (init_scale > 0 && strategy->name() != "allreduce-sync")
    throw Error(c.where("train.loss_scale") + ": key 'train.loss_scale' is supported in allreduce-sync only");

  TaskData data = load_task_data(c);
  const std::string scope_dev = dev == "cpu" ? "" : dev;  // forward and backward nodes ask for `dev`
  auto built = std::make_unique<Graph>(uint64_t(c.i("train.seed")));
  Model model;
  {
    auto on_device = built->device_scope(scope_dev);
    model = build_model(*built, c, data, grid.tp());
  }
  std::unique_ptr<Graph> half_graph;
  int half_nodes = 0;
  if (prec != "fp32") {
    half_graph = std::make_unique<Graph>(uint64_t(c.i("train.seed")));
    auto on_device = half_graph->device_scope(scope_dev);
    Autocast ac(*built, *half_graph, prec == "fp16" ? DType::F16 : DType::BF16);
    for (Value& v : model.inputs) v = ac(v);
    model.logits = ac(model.logits);
    model.labels = ac(model.labels);
    model.loss = ac(model.loss);
    half_nodes = ac.rewritten();
  }
  Graph& g = half_graph ? *half_graph : *built;
  std::vector<Value> params = g.trainable();
  // Dynamic loss scaling: gradients of loss * s, with s fed each step.
  std::unique_ptr<optim::LossScaler> scaler;
  Value loss_scale;
  if (init_scale > 0) {
    optim::LossScalerConfig lc;
    lc.init_scale = init_scale;
    lc.growth_interval = c.i("train.loss_scale_window");
    lc.max_scale = std::max(lc.max_scale, init_scale);
    scaler = std::make_unique<optim::LossScaler>(lc);
    loss_scale = g.placeholder("loss_scale", {}, DType::F32);
  }
  std::vector<Value> grads;
  {
    auto on_device = g.device_scope(scope_dev);
    grads = gradients(scaler ? model.loss * loss_scale : model.loss, params);
  }
  auto opt = make_opt(c);
  {
    // Gradients and optimizer slots are allocated on the first step: refuse a model
    // whose training state cannot fit now, with the figure, not after a long wait.
    double param_bytes = 0;
    for (const Value& v : params) param_bytes += double(g.value(v).bytes());
    const double need = param_bytes * double(1 + opt->slots().size());
    const size_t avail = available_memory_bytes();
    if (need > double(avail))
      throw Error("the model has " + human_bytes(param_bytes) + " of parameters; its gradients and " +
                  c.s("optimizer.type") + " state need " + human_bytes(need) + " more, above the " +
                  human_bytes(double(avail)) + " of memory available (a smaller model.* or another optimizer.type)");
  }
  auto sched = schedule_from_config(c);
  MetricsLog metrics(chief ? c.s("train.metrics_file") : "", !resume.empty());
  TrainContext ctx{c, world_, g, model, params, grads, *opt, pool, metrics};
  ctx.dp_comm = grid.dp_comm;
  ctx.mp_comm = grid.mp_comm;
  ctx.scaler = scaler.get();
  ctx.loss_scale = loss_scale;
  Resources eval_res;
  if (grid.mp_comm) comm::add_mp_to_resources(eval_res, grid.mp_comm);
  Profile profile;
  if (c.b("train.profile")) ctx.profile = &profile;
  if (chief) std::printf("%s; %s, %d rank(s), %d thread(s) per rank\n", data.describe.c_str(),
                         strategy->name().c_str(), size, pool.threads());
  if (chief && prec != "fp32")
    std::printf("mixed precision: %d matmul/conv nodes in %s, fp32 master weights; loss scaling %s\n", half_nodes,
                prec.c_str(), scaler ? ("from " + std::to_string(int64_t(init_scale))).c_str() : "off");

  data::LoaderOptions lo;
  lo.batch_size = c.i("data.batch_size");
  lo.rank = worker ? strategy->data_rank(rank) : 0;
  lo.world = strategy->data_world(size);
  lo.seed = uint64_t(c.i("train.seed"));
  lo.prefetch = c.b("data.prefetch") && worker;
  data::BatchLoader loader(data.train, lo);
  if (loader.steps_per_epoch() < 1)
    throw Error(c.where("data.batch_size") + ": key 'data.batch_size' x workers exceeds the " +
                std::to_string(loader.size()) + " training examples");

  // Resume: parameters, optimizer state, step and data position. Every rank reads
  // its slice; the steps are compared across ranks before anything is used, so a
  // mixed set of slices, or one rank's unreadable file, ends every rank alike.
  int64_t start = 0;
  if (!resume.empty()) {
    Checkpoint ck;
    std::string read_error;
    try {
      ck = CheckpointManager::load(resume, grid.mp_index, grid.mp);
    } catch (const std::exception& e) {
      read_error = e.what();
    }
    const std::vector<uint64_t> got = world_->allgather_u64(read_error.empty() ? uint64_t(ck.state.step) : ~uint64_t(0));
    if (!read_error.empty()) throw Error(read_error);
    for (int r = 0; r < size; ++r)
      if (got[size_t(r)] == ~uint64_t(0)) throw Error("rank " + std::to_string(r) + " could not read its checkpoint");
    std::vector<int64_t> slice_steps(size_t(grid.mp));
    for (int r = 0; r < size; ++r) slice_steps[size_t(r % grid.mp)] = int64_t(got[size_t(r)]);
    CheckpointManager::check_slices_agree(resume, slice_steps);
    const int64_t steps = c.i("train.steps");
    if (ck.state.step > steps)
      throw Error(resume + ": the checkpoint is at step " + std::to_string(ck.state.step) + ", past train.steps = " +
                  std::to_string(steps) + " (" + c.where("train.steps") + "); raise train.steps to continue");
    for (const Value& v : g.variables()) {
      auto it = ck.model.find(v.name());
      if (it == ck.model.end()) throw Error(resume + ": checkpoint has no tensor '" + v.name() + "'");
      if (it->second.shape() != g.value(v).shape() || it->second.dtype() != g.value(v).dtype())
        throw Error(resume + ": tensor '" + v.name() + "' has shape " + shape_str(it->second.shape()) +
                    ", the model needs " + shape_str(g.value(v).shape()));
      g.value(v).copy_from(it->second);
    }
    const TrainState& ts = ck.state;
    if (ts.data_index >= loader.size())
      throw Error(resume + "/state.json: field 'data_index' = " + std::to_string(ts.data_index) +
                  " is past the training set (" + std::to_string(loader.size()) + " examples)");
    loader.set_position({ts.data_epoch, ts.data_index});
    if (scaler && ts.has_loss_scale) scaler->restore(ts.loss_scale, ts.loss_scale_clean_steps, ts.skipped_steps);
    optim::OptimizerState st;
    st.step = ts.optimizer_step;
    if (!reset_optimizer_) {
      st.tensors = ck.optimizer;
      if (ts.optimizer_step > 0) {
        std::vector<std::string> names;
        for (const Value& v : params) names.push_back(v.name());
        check_optimizer_state(resume + "/optimizer.safetensors", ck.optimizer, names, opt->slots());
      }
      try {
        opt->load_state(st);
      } catch (const Error& e) {
        throw Error(resume + "/optimizer.safetensors: " + e.what());
      }
    } else if (chief) {
      std::printf("optimizer state not restored (--reset-optimizer)\n");
    }
    start = ts.step;
    if (chief) std::printf("resumed from %s at step %lld\n", resume.c_str(), static_cast<long long>(start));
  }
  strategy->setup(ctx);
  // Timeline: the first train.trace_steps steps of this rank, written as a Chrome trace at the end.
  std::vector<TraceEvent> trace;
  const std::string trace_path = c.s("train.trace_file");
  if (!trace_path.empty()) {
    if (strategy->name() != "allreduce-sync")
      throw Error(c.where("train.trace_file") + ": key 'train.trace_file' is supported in allreduce-sync only");
    trace.reserve(size_t(std::min<int64_t>(c.i("train.trace_steps"), c.i("train.steps"))) * size_t(g.num_nodes()));
    strategy->set_trace(&trace);
  }
  TrainResult res;
  if (!worker) {
    strategy->serve(ctx);
    res.is_worker = false;
    return res;
  }

  Executor eval_ex(g, &pool);
  auto evaluate = [&](int64_t step) -> EvalAcc {
    strategy->sync_params(ctx);
    EvalAcc acc;
    if (!replica0) return acc;
    std::vector<Tensor> cols = data.eval;
    if (c.i("data.eval_examples") > 0 && c.i("data.eval_examples") < cols[0].dim(0))
      for (auto& t : cols) {
        Shape s = t.shape();
        s[0] = c.i("data.eval_examples");
        t = Tensor::view(t.raw(), s, t.dtype());
      }
    data::EvalIterator it(cols, c.i("data.eval_batch_size"));
    data::Batch b;
    while (it.next(b)) {
      Executor::Feeds feeds;
      for (size_t i = 0; i < model.inputs.size(); ++i) feeds.emplace_back(model.inputs[i], b[i]);
      RunOptions ro;
      ro.step = step;
      ro.training = false;
      ro.resources = &eval_res;
      auto out = eval_ex.run(feeds, {model.logits, model.loss, model.labels}, ro);
      acc.add(out[0], out[2], out[1].item<float>());
    }
    nlohmann::json rec = {{"step", step}, {"eval", "test"}, {"loss", acc.loss_sum / std::max<int64_t>(1, acc.count)},
                          {"accuracy", double(acc.correct) / std::max<int64_t>(1, acc.count)}, {"examples", acc.count}};
    if (!chief) return acc;
    metrics.write(rec);
    std::printf("eval step %lld: test loss %.4f accuracy %.4f (%lld predictions)\n", static_cast<long long>(step),
                rec["loss"].get<double>(), rec["accuracy"].get<double>(), static_cast<long long>(acc.count));
    std::fflush(stdout);
    return acc;
  };

  // With model parallelism the k ranks of the first replica write one slice each
  // of one checkpoint; the first of them commits it once all are written.
  std::unique_ptr<CheckpointManager> ckpt;
  if (!c.s("train.checkpoint.dir").empty() && replica0)
    ckpt = std::make_unique<CheckpointManager>(c.s("train.checkpoint.dir"), int(c.i("train.checkpoint.keep")),
                                               grid.mp_index == 0);
  auto save = [&](int64_t step) {
    strategy->sync_params(ctx);
    if (!ckpt) return;
    Checkpoint ck;
    for (const Value& v : g.variables()) ck.model[v.name()] = g.value(v);
    optim::OptimizerState st = opt->state();
    ck.optimizer = st.tensors;
    const auto pos = loader.position();
    TrainState& ts = ck.state;
    ts.step = step;
    ts.optimizer_step = st.step;
    ts.data_epoch = pos.epoch;
    ts.data_index = pos.index;
    ts.mode = strategy->name();
    ts.world = size;
    if (scaler) {
      ts.has_loss_scale = true;
      ts.loss_scale = scaler->scale();
      ts.loss_scale_clean_steps = scaler->clean_steps();
      ts.skipped_steps = scaler->skipped_steps();
    }
    std::string where;
    if (grid.mp > 1) {
      // Collective over the replica's model-parallel group: each slice is complete
      // on disk before the commit, and a failed slice fails them all.
      std::string err;
      try {
        ckpt->write_slice(ck, grid.mp_index, grid.mp);
      } catch (const std::exception& e) {
        err = e.what();
      }
      const auto ok = grid.mp_comm->allgather_u64(err.empty() ? 1 : 0);
      if (!err.empty()) throw Error(err);
      for (size_t i = 0; i < ok.size(); ++i)
        if (!ok[i]) throw Error("checkpoint step " + std::to_string(step) + ": slice mp" + std::to_string(i) + " failed");
      if (grid.mp_index == 0) where = ckpt->commit(step, grid.mp);
      grid.mp_comm->barrier();
    } else {
      where = ckpt->save(ck);
    }
    if (chief) std::printf("checkpoint step %lld -> %s\n", static_cast<long long>(step), where.c_str());
  };

  const int64_t steps = c.i("train.steps"), log_every = c.i("train.log_every"), eval_every = c.i("train.eval_every");
  const int64_t ck_every = c.i("train.checkpoint.every");
  const int64_t global_batch = c.i("data.batch_size") * strategy->data_world(size);
  double t_start = now_s(), t_log = t_start, loss_acc = 0;
  int64_t loss_n = 0, since_log = 0;
  double first_loss = 0;  // this run's first step, the yardstick for divergence
  bool warned_divergence = false;
  long faults_log = minor_faults();
  Executor::Feeds feeds;
  for (const Value& v : model.inputs) feeds.emplace_back(v, Tensor());
  for (int64_t step = start; step < steps; ++step) {
    const data::Batch& b = loader.next();
    for (size_t i = 0; i < feeds.size(); ++i) feeds[i].second = b[i];
    double lr = sched->lr(step);
    if (c.i("debug.slow_rank") == rank && c.i("debug.slow_ms") > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(c.i("debug.slow_ms")));
    if (!trace_path.empty() && step - start == c.i("train.trace_steps")) strategy->set_trace(nullptr);
    double loss = strategy->step(ctx, feeds, step, lr);
    if (!std::isfinite(loss))
      throw Error("step " + std::to_string(step + 1) + ": loss is " + std::to_string(loss) +
                  " (lower optimizer.lr or set train.clip_norm)");
    if (step == start) first_loss = loss;
    loss_acc += loss;
    ++loss_n;
    ++since_log;
    res.last_loss = loss;
    const int64_t done = step + 1;
    if (done % log_every == 0 || done == steps) {
      double t = now_s();
      const long faults = minor_faults();
      const double faults_per_step = double(faults - faults_log) / double(since_log);
      faults_log = faults;
      double sps = double(since_log * global_batch) / std::max(1e-9, t - t_log);
      double eta = double(steps - done) * (t - t_log) / double(since_log);
      const double mean_loss = loss_acc / double(loss_n);
      if (chief && diverged(mean_loss, first_loss)) {
        const std::string why = "step " + std::to_string(done) + ": loss " + fmt_g(mean_loss) +
                                " is far above its start (" + fmt_g(first_loss) +
                                "): training diverges; lower optimizer.lr (" + c.where("optimizer.lr") +
                                ") or set train.clip_norm";
        if (c.b("debug.check_numerics")) throw Error(why + " (debug.check_numerics stops here)");
        if (!warned_divergence) std::fprintf(stderr, "train: warning: %s\n", why.c_str());
        warned_divergence = true;
      }
      if (chief) {
        nlohmann::json rec = {{"step", done}, {"loss", mean_loss}, {"samples_per_sec", sps},
                              {"minor_faults_per_step", faults_per_step},
                              {"lr", lr}, {"epoch", loader.position().epoch}, {"peak_rss_mb", peak_rss_kb() / 1024.0}};
        strategy->log_fields(rec);
        if (prec != "fp32" || scaler) {
          rec["loss_scale"] = scaler ? scaler->scale() : 1.0;
          rec["skipped_steps"] = scaler ? scaler->skipped_steps() : 0;
        }
        metrics.write(rec);
        std::printf("step %6lld/%lld  loss %.4f  %.4g samples/s  lr %.4g  eta %.0fs\n", static_cast<long long>(done),
                    static_cast<long long>(steps), loss_acc / double(loss_n), sps, lr, eta);
        std::fflush(stdout);
      }
      res.samples_per_sec = sps;
      t_log = t;
      loss_acc = 0;
      loss_n = 0;
      since_log = 0;
    }
    if (eval_every > 0 && done % eval_every == 0 && done != steps) evaluate(done);
    if (ckpt && ck_every > 0 && done % ck_every == 0 && done != steps) save(done);
  }
  if (!trace_path.empty()) {
    strategy->set_trace(nullptr);
    std::string path = size > 1 ? trace_path + ".rank" + std::to_string(rank) : trace_path;
    write_chrome_trace(path, g, trace, rank);
    if (chief) std::printf("timeline: %zu events -> %s%s\n", trace.size(), trace_path.c_str(), size > 1 ? ".rank<N>" : "");
  }
  EvalAcc final_acc = evaluate(steps);
  if (ckpt && start < steps) save(steps);  // resumed at train.steps: that checkpoint is the one on disk
  strategy->finish(ctx);
  res.steps = steps;
  res.eval_loss = final_acc.loss_sum / std::max<int64_t>(1, final_acc.count);
  res.eval_accuracy = double(final_acc.correct) / std::max<int64_t>(1, final_acc.count);
  if (chief && ctx.profile) print_profile(profile);
  if (chief)
    std::printf("done: %lld steps in %.1fs, peak RSS %.0f MB\n", static_cast<long long>(steps - start),
                now_s() - t_start, peak_rss_kb() / 1024.0);
  return res;
}

}  // namespace train
}  // namespace ft
