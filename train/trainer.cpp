// trainer.cpp — Trainer::fit: builds the run once (Run's constructor), then the
// step loop (Run::fit), which reads top to bottom; the rest are its helpers.
#include "train/trainer.h"

#include "ops/cpu/dnnl_matmul.h"
#include "ops/cpu/kernel_choice.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>

#include "core/device.h"
#include "core/input_stager.h"
#include "core/log.h"
#include "ops/ops.h"
#include "core/memory_info.h"
#include "data/loader.h"
#include "ops/autocast.h"
#include "train/checkpoint.h"
#include "train/metrics.h"
#include "train/mp.h"
#include "train/optim_config.h"
#include "train/preempt.h"
#include "train/registry.h"
#include "train/state.h"
#include "train/tb_events.h"
#include "train/timeline.h"
#include "train/update.h"
#include "comm/mp_ops.h"

namespace ft {
namespace train {
namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
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

double wall_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// "669,706"
std::string thousands(int64_t v) {
  std::string d = std::to_string(v), out;
  for (size_t i = 0; i < d.size(); ++i) {
    if (i && (d.size() - i) % 3 == 0) out += ',';
    out += d[i];
  }
  return out;
}

std::string mib(double bytes) { return fmt::format("{:.2f} MiB", bytes / double(1 << 20)); }

// Rank 0's text on every rank (a collective).
std::string broadcast_string(comm::Communicator& w, std::string s) {
  if (w.size() == 1) return s;
  int64_t n = int64_t(s.size());
  w.broadcast(&n, 1, DType::I64, 0);
  std::vector<int32_t> buf(size_t((n + 3) / 4) + 1, 0);
  std::memcpy(buf.data(), s.data(), w.rank() == 0 ? size_t(n) : 0);
  w.broadcast(buf.data(), int64_t(buf.size()), DType::I32, 0);
  return std::string(reinterpret_cast<const char*>(buf.data()), size_t(n));
}

// What marks a folder as holding a run: the files a run writes there.
std::vector<std::string> run_artifacts(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::vector<std::string> found;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return found;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    if (n == "config.yaml" || n == "metrics.jsonl" || n == "trace.json" || n == "vocab.txt" || n == "latest" ||
        n.rfind("events.out.tfevents.", 0) == 0 || n.rfind("step-", 0) == 0 ||
        (n == "checkpoints" && !fs::is_empty(e.path(), ec)))
      found.push_back(n);
  }
  std::sort(found.begin(), found.end());
  return found;
}

// Whether those files hold a run: checkpoints, metrics records or a timeline (a
// start that failed leaves only config.yaml, an empty metrics file and an events
// header, which a new run replaces).
bool holds_run(const std::filesystem::path& dir, const std::vector<std::string>& found) {
  std::error_code ec;
  for (const std::string& n : found) {
    if (n == "checkpoints" || n == "latest" || n == "trace.json" || n.rfind("step-", 0) == 0) return true;
    if (n == "metrics.jsonl" && std::filesystem::file_size(dir / n, ec) > 0 && !ec) return true;
  }
  return false;
}

// Removes what run_artifacts() names (and nothing else a user keeps there).
void remove_artifacts(const std::filesystem::path& dir) {
  std::error_code ec;
  for (const std::string& n : run_artifacts(dir)) std::filesystem::remove_all(dir / n, ec);
}

// Evaluation counts over batches: loss and accuracy over the counted rows (labels >= 0),
// and each named metric weighted the same way.
struct EvalAcc {
  double loss_sum = 0;
  int64_t correct = 0, count = 0;
  std::map<std::string, double> metric_sums;
  void add(const Tensor* logits, const Tensor* labels, double batch_mean_loss, int64_t batch) {
    int64_t counted = batch;
    if (logits && labels) {
      const int64_t n = logits->dim(0), c = logits->dim(1);
      const float* l = logits->data<float>();
      counted = 0;
      for (int64_t i = 0; i < n; ++i) {
        int64_t y = labels->dtype() == DType::I32 ? labels->data<int32_t>()[i] : labels->data<int64_t>()[i];
        if (y < 0) continue;
        int64_t best = 0;
        for (int64_t j = 1; j < c; ++j)
          if (l[i * c + j] > l[i * c + best]) best = j;
        correct += best == y;
        ++counted;
      }
    }
    count += counted;
    loss_sum += batch_mean_loss * double(counted);
  }
};

// The executor's kernel time per op type over the training steps, largest first;
// also written to `json_path` ({"steps", "threads", "ops": {op: {"ms", "calls"}}},
// what scale_plan --profile reads).
void print_profile(Profile& p, const std::string& json_path, int64_t steps, int threads) {
  std::lock_guard<std::mutex> lock(p.mu);
  std::vector<std::pair<std::string, std::pair<int64_t, int64_t>>> rows(p.by_op.begin(), p.by_op.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
  double total = 0;
  for (const auto& r : rows) total += double(r.second.first);
  logging::info("profile: kernel time per op type ({} training steps, the first one left out when there are more; "
                "summed over threads)", steps);
  logging::info("  {:<40} {:>10} {:>7} {:>10}", "op", "ms", "share", "calls");
  for (const auto& r : rows)
    logging::info("  {:<40} {:>10.1f} {:>6.1f}% {:>10}", r.first, double(r.second.first) / 1e6,
              100.0 * double(r.second.first) / std::max(1.0, total), r.second.second);
  logging::info("  {:<40} {:>10.1f}", "total", total / 1e6);
  for (const std::string& line : ops::kernel_choices()) logging::info("  kernel choice: {}", line);
  nlohmann::json ops = nlohmann::json::object();
  for (const auto& r : rows) ops[r.first] = {{"ms", double(r.second.first) / 1e6}, {"calls", r.second.second}};
  write_file_atomic(json_path, nlohmann::json{{"steps", steps}, {"threads", threads}, {"ops", ops}}.dump(1) + "\n");
  logging::info("profile -> {}", json_path);
}

// Every input the model declares must match its dataset column: dtype, and the
// shape after the example dimension (-1 in the placeholder = any).
void check_inputs(const std::vector<Value>& inputs, const std::vector<Tensor>& cols, const std::string& split) {
  if (inputs.size() != cols.size())
    throw Error("the model declares " + std::to_string(inputs.size()) + " inputs, the dataset's " + split +
                " split has " + std::to_string(cols.size()) + " columns");
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Shape& want = inputs[i].shape();
    const Tensor& t = cols[i];
    Shape got = t.shape();
    bool ok = t.dtype() == inputs[i].dtype() && got.size() == want.size();
    for (size_t d = 1; ok && d < want.size(); ++d) ok = want[d] < 0 || want[d] == got[d];
    if (!ok) {
      if (!got.empty()) got[0] = -1;
      throw Error("input '" + inputs[i].name() + "': the model takes " + shape_str(want) + " " +
                  dtype_name(inputs[i].dtype()) + ", the dataset's " + split + " column " + std::to_string(i) +
                  " gives " + shape_str(got) + " " + dtype_name(t.dtype()) + " per batch");
    }
  }
}

// Where each model-parallel group runs (chief only): its per-layer collectives
// belong within a host, so a group that spans hosts is a warning.
void log_mp_groups(const comm::Communicator& world, const Grid& grid) {
  if (grid.mp == 1 || world.rank() != 0 || world.host_of(0).empty()) return;
  std::string groups;
  bool spans = false;
  for (int d = 0; d < grid.dp; ++d) {
    std::string hosts;
    for (int m = 0; m < grid.mp; ++m) {
      const std::string h = world.host_of(grid_rank(d, m, grid.mp));
      if (hosts.find(h) == std::string::npos) hosts += (hosts.empty() ? "" : "+") + h;
    }
    spans = spans || hosts.find('+') != std::string::npos;
    groups += fmt::format("{}ranks {}-{} on {}", d ? ", " : "", d * grid.mp, (d + 1) * grid.mp - 1, hosts);
  }
  if (spans)
    logging::warn("model-parallel groups: {} (a group spans hosts: list each host's ranks together)", groups);
  else
    logging::info("model-parallel groups: {}", groups);
}

}  // namespace

int threads_for_rank(const RunConfig& cfg) {
  if (cfg.train.threads > 0) return cfg.train.threads;
  int cores = int(std::max(1u, std::thread::hardware_concurrency()));
  const int local = std::max(1, comm::launcher_placement().size);  // ranks sharing this node's cores
  return std::max(1, cores / local);
}

// Everything one fit() builds, in the order it is built.
class Trainer::Run {
 public:
  Run(const RunConfig& c, comm::CommPtr world, const FitOptions& fo);
  TrainResult fit();

 private:
  TrainResult fit_passes();
  void prepare_run_dir();
  void build_graph();
  void check_memory() const;
  void restore();
  void dry_run();
  EvalAcc evaluate(int64_t step);
  void save(int64_t step);
  void log(int64_t done, double lr);
  void scalar(const std::string& tag, int64_t step, double v, double wall);
  void check_loss(double loss, int64_t step);
  void write_timeline();

  const RunConfig& c_;
  comm::CommPtr world_;
  FitOptions fo_;
  int rank_, size_;
  Grid grid_;
  std::unique_ptr<Strategy> strategy_;
  Roles roles_;
  bool replica0_ = false;  // with model parallelism the first replica's k ranks evaluate and checkpoint
  std::unique_ptr<Model> model_;
  PassModel* pass_ = nullptr;  // model_ when it is fitted by passes (k-means, naive Bayes)
  std::unique_ptr<Dataset> data_;
  std::vector<Tensor> eval_cols_;
  std::unique_ptr<Graph> built_, half_;
  int half_nodes_ = 0;
  Graph* g_ = nullptr;
  ModelGraph mg_;
  std::vector<Value> params_, grads_;
  int64_t param_count_ = 0;   // this rank's slice
  int64_t model_params_ = 0;  // the whole model's (tensor-parallel slices counted whole)
  std::unique_ptr<Update> update_;
  std::unique_ptr<optim::Optimizer> opt_;
  std::unique_ptr<optim::LRSchedule> sched_;
  std::unique_ptr<MetricsLog> metrics_;
  std::unique_ptr<EventWriter> events_;
  std::unique_ptr<StepContext> ctx_;
  Resources eval_res_;
  Profile profile_;
  int64_t profile_steps_from_ = 0;  // the profile counts the steps after this one
  std::unique_ptr<data::BatchLoader> loader_;
  // Staged inputs (resident state): the loader runs a batch ahead of the step, so
  // checkpoints take data_pos_, where the data stands after the step trained.
  std::unique_ptr<InputStager> stager_;
  data::LoaderPosition staged_pos_, data_pos_;
  int64_t staged_bytes_ = 0;  // the last staged batch's
  void stage_next() {
    const data::Batch& b = loader_->next();
    stager_->stage(b.columns);
    staged_pos_ = loader_->position();
    staged_bytes_ = 0;
    for (const Tensor& t : b.columns) staged_bytes_ += int64_t(t.bytes());
  }
  data::LoaderPosition data_position() const { return stager_ ? data_pos_ : loader_->position(); }
  std::unique_ptr<CheckpointManager> ckpt_;
  std::unique_ptr<Executor> eval_ex_;
  std::vector<TraceEvent> trace_;
  std::unique_ptr<Timeline> timeline_;
  int64_t start_ = 0, last_saved_ = -1;
  TrainResult res_;
  // the log window
  double t_start_ = 0, t_log_ = 0, loss_acc_ = 0, first_loss_ = 0;
  int64_t loss_n_ = 0, since_log_ = 0;
  int64_t h2d_since_log_ = 0, d2h_since_log_ = 0;  // device_traffic() of the steps since the last log
  long faults_log_ = 0;
  bool warned_divergence_ = false;
};

Trainer::Run::Run(const RunConfig& c, comm::CommPtr world, const FitOptions& fo)
    : c_(c), world_(std::move(world)), fo_(fo), rank_(world_->rank()), size_(world_->size()) {
  logging::set_level(logging::parse_level(c.train.log_level));
  logging::set_rank(rank_, size_);
  install_preemption_handlers();
  // device: every node goes there when it has a kernel there, else on cpu
  // (core/placement.h). Opened first, so a missing device is the one error.
  ops::register_all();  // the CPU kernels, which backends such as the stand-in mirror
  if (c.device != "cpu") {
    try {
      device(c.device);
    } catch (const Error& e) {
      c.fail("device", "= " + c.device + ": " + e.what());
    }
  }
  const int mp = c.distributed.model_parallel;
  if (size_ % mp != 0)
    c.fail("distributed.model_parallel", "= " + std::to_string(mp) + " does not divide the world size " +
                                             std::to_string(size_));
  if (!fo_.dry_run) prepare_run_dir();
  ThreadPool::set_global_threads(threads_for_rank(c));
  model_ = model_entry(c.raw).make(c.raw);
  pass_ = dynamic_cast<PassModel*>(model_.get());
  if (pass_ && c.distributed.mode != "allreduce-sync")
    c.fail("distributed.mode", "= " + c.distributed.mode + ": model.type " + c.model +
                                   " is fitted by passes whose sums every rank allreduces; use allreduce-sync");
  strategy_ = strategy_entry(c.raw).make(c, world_);
  roles_ = strategy_->roles(rank_, size_);
  grid_ = make_grid(world_, mp);  // dp x mp (train/mp.h)
  replica0_ = roles_.chief || (grid_.mp > 1 && grid_.dp_index == 0);
  data_ = dataset_entry(c.raw).make(c.raw);
  update_ = std::make_unique<Update>(c, grid_.mp_comm);
  build_graph();
  opt_ = optimizer_from_config(c);
  check_memory();
  sched_ = schedule_from_config(c);
  const bool fresh_log = fo_.resume.empty() || fo_.dry_run;
  metrics_ = std::make_unique<MetricsLog>(roles_.chief && !fo_.dry_run ? c.train.metrics_file : "", !fresh_log);
  if (roles_.chief && !fo_.dry_run && c.train.tensorboard) events_ = std::make_unique<EventWriter>(c.train.run_dir);
  ctx_.reset(new StepContext{c, world_, grid_.dp_comm, grid_.mp_comm, *g_, mg_, params_, grads_, *opt_,
                             ThreadPool::global(), nullptr, nullptr, nullptr, {}});
  ctx_->host_arena = std::make_shared<HostArena>();
  if (grid_.mp_comm) comm::add_mp_to_resources(eval_res_, grid_.mp_comm);
  if (c.train.profile) ctx_->profile = &profile_;
  res_.parameters = model_params_;
  if (roles_.chief) {
    logging::info("model {}: {} parameters ({}); {}", c.model, thousands(res_.parameters),
              human_bytes(double(res_.parameters) * 4), data_->describe());
    logging::info("{}, {} rank(s), {} thread(s) per rank; run folder {}", strategy_->name(), size_,
              ThreadPool::global().threads(), c.train.run_dir);
  }
  log_mp_groups(*world_, grid_);
  if (roles_.chief && c.precision != "fp32") {
    logging::info("mixed precision: {} matmul/conv nodes in {}, fp32 master weights; loss scaling {}", half_nodes_,
              c.precision, update_->scaling() ? "from " + std::to_string(int64_t(update_->initial_scale())) : "off");
    if (c.device == "cpu") {
      const char* why = c.precision == "fp16"                     ? "no native f16 GEMM on CPUs"
                        : !ops::native_bf16_matmul_available() ? "this CPU has no AVX512_BF16, or the build has no oneDNN"
                                                               : nullptr;
      if (why) logging::info("{} on the CPU: emulated in f32 ({}): slower than fp32 here", c.precision, why);
      else logging::info("bf16 on the CPU: matmul native (oneDNN, AVX512_BF16); convolutions native or emulated in f32, "
                         "chosen per shape (the \"kernel choice\" lines)");
    }
  }
  // The per-shape kernel choice is timed per process, so two processes may pick
  // differently; deterministic mode pins the kernels every build has.
  ops::force_kernel_choice(c.distributed.deterministic ? "im2col,direct,emulated,unfused,openblas" : "");
  ops::set_thread_count_invariant(c.distributed.deterministic);
  if (c.distributed.deterministic) {
    if (roles_.chief)
      logging::info("distributed.deterministic: convolutions and pooling on the im2col and direct kernels in every "
                    "process (no per-shape timing)");
  }

  data::LoaderOptions lo;
  lo.batch_size = pass_ ? 1 : c.data.batch_size;  // a PassModel reads its rows itself (fit_passes)
  lo.rank = roles_.worker ? roles_.data_rank : 0;
  lo.world = roles_.data_world;
  lo.seed = c.train.seed;
  lo.prefetch = c.data.prefetch && roles_.worker && !fo_.dry_run && !pass_;
  std::vector<Tensor> train_cols = data_->train();
  eval_cols_ = data_->eval();
  check_inputs(mg_.inputs, train_cols, "training");
  check_inputs(mg_.inputs, eval_cols_, "eval");
  loader_ = std::make_unique<data::BatchLoader>(std::move(train_cols), lo);
  if (loader_->steps_per_epoch() < 1 && !pass_)
    c.fail("data.batch_size", "x workers exceeds the " + std::to_string(loader_->size()) + " training examples");
  if (!fo_.resume.empty()) restore();
  if (!c.train.trace_file.empty() && !fo_.dry_run) {
    const int64_t steps = std::min(c.train.trace_steps, c.train.steps);
    timeline_ = std::make_unique<Timeline>(world_, roles_.worker ? (roles_.chief ? "chief" : "worker") : "server",
                                           size_t(steps) * size_t(g_->num_nodes() + 64) + 4096);
    ctx_->timeline = timeline_.get();
    trace_.reserve(size_t(steps) * size_t(g_->num_nodes()));
    ctx_->trace = &trace_;
  }
  if (!pass_) strategy_->setup(*ctx_);
  // With model parallelism the k ranks of the first replica write one slice each
  // of one checkpoint; the first of them commits it once all are written.
  if (!c.train.checkpoint.dir.empty() && replica0_ && roles_.worker && !fo_.dry_run)
  {
    ckpt_ = std::make_unique<CheckpointManager>(c.train.checkpoint.dir, c.train.checkpoint.keep, grid_.mp_index == 0);
    ckpt_->set_write_delay_ms(c.debug.slow_checkpoint_ms);
  }
  if (roles_.chief && !fo_.dry_run) {
    for (const auto& kv : data_->artifacts())
      write_file_atomic((std::filesystem::path(c.train.run_dir) / kv.first).string(), kv.second);
  }
}

// The run folder: refused when it holds an earlier run (unless resuming or
// overwriting), created, and given the resolved config. Rank 0 decides; every
// rank gets the same answer, or the same error.
void Trainer::Run::prepare_run_dir() {
  namespace fs = std::filesystem;
  std::string err;
  if (rank_ == 0) {
    try {
      const fs::path dir(c_.train.run_dir);
      if (fo_.overwrite && !fo_.resume.empty()) throw Error("--overwrite and --resume exclude each other: pick one");
      std::vector<fs::path> places = {dir};
      if (!c_.train.checkpoint.dir.empty()) places.push_back(c_.train.checkpoint.dir);
      for (const fs::path& d : places) {
        const auto found = run_artifacts(d);
        if (found.empty() || !fo_.resume.empty()) continue;
        if (fo_.overwrite || !holds_run(d, found)) {
          remove_artifacts(d);
          continue;
        }
        std::string list;
        for (size_t i = 0; i < found.size() && i < 4; ++i) list += (i ? ", " : "") + found[i];
        throw Error(d.string() + ": holds an earlier run (" + list + (found.size() > 4 ? ", ..." : "") +
                    "); pass --resume to continue it, --overwrite to replace it, or choose another train.run_dir");
      }
      std::error_code ec;
      fs::create_directories(dir, ec);
      if (ec) throw Error(dir.string() + ": cannot create the run folder: " + ec.message());
      // config.yaml first: it is also the probe that the folder can be written.
      try {
        write_file_atomic((dir / "config.yaml").string(),
                          "# resolved config of this run: train --config " + (dir / "config.yaml").string() +
                              " --set train.run_dir=NEW runs it again\n" + c_.raw.dump());
      } catch (const std::exception& e) {
        throw Error(dir.string() + ": cannot write the run folder (" + e.what() + ")");
      }
    } catch (const std::exception& e) {
      err = e.what();
      if (err.empty()) err = "run folder: unknown error";
    }
  }
  err = broadcast_string(*world_, err);
  if (!err.empty()) throw Error(err);
}

// The model's graph, in half precision when asked (ops/autocast.h: matmul/conv in
// f16/bf16, variables f32), the loss scale, and the gradients.
void Trainer::Run::build_graph() {
  const std::string scope_dev = c_.device == "cpu" ? "" : c_.device;  // forward and backward nodes ask for it
  built_ = std::make_unique<Graph>(c_.train.seed);
  {
    auto on_device = built_->device_scope(scope_dev);
    mg_ = model_->build(*built_, BuildContext{c_.raw, grid_.tp(), c_.train.seed, data_->dims()});
  }
  if (c_.precision != "fp32") {
    half_ = std::make_unique<Graph>(c_.train.seed);
    auto on_device = half_->device_scope(scope_dev);
    // On the cpu a matmul rounds to half inside its kernel (no cast passes); cuda keeps the casts.
    Autocast ac(*built_, *half_, c_.precision == "fp16" ? DType::F16 : DType::BF16, c_.device == "cpu");
    for (Value& v : mg_.inputs) v = ac(v);
    if (mg_.logits.defined()) mg_.logits = ac(mg_.logits);
    if (mg_.predictions.defined()) mg_.predictions = ac(mg_.predictions);
    if (mg_.labels.defined()) mg_.labels = ac(mg_.labels);
    mg_.loss = ac(mg_.loss);
    for (auto& kv : mg_.metrics) kv.second = ac(kv.second);
    half_nodes_ = ac.rewritten();
  }
  g_ = half_ ? half_.get() : built_.get();
  params_ = g_->trainable();
  // A PassModel's state is its (non-trainable) variables.
  for (const Value& v : pass_ ? g_->variables() : params_) {
    param_count_ += g_->value(v).numel();
    model_params_ += g_->node(v.node()).attrs.i("tp_full_numel", g_->value(v).numel());  // a slice counts whole
  }
  const Value scale = update_->scale_input(*g_);  // gradients of loss * s, with s fed each step
  auto on_device = g_->device_scope(scope_dev);
  grads_ = gradients(scale.defined() ? mg_.loss * scale : mg_.loss, params_);
}

// Gradients and optimizer slots are allocated on the first step: refuse a model
// whose training state cannot fit now, with the figure, not after a long wait.
void Trainer::Run::check_memory() const {
  double param_bytes = 0;
  for (const Value& v : params_) param_bytes += double(g_->value(v).bytes());
  const double need = param_bytes * double(1 + opt_->slots().size());
  const size_t avail = available_memory_bytes();
  if (need > double(avail))
    throw Error("the model has " + human_bytes(param_bytes) + " of parameters; its gradients and " +
                c_.optimizer.options.type + " state need " + human_bytes(need) + " more, above the " +
                human_bytes(double(avail)) + " of memory available (a smaller model.* or another optimizer.type)");
}

TrainResult Trainer::Run::fit() {
  if (fo_.dry_run) {
    dry_run();
    return res_;
  }
  if (pass_) return fit_passes();
  if (!roles_.worker) {
    strategy_->serve(*ctx_);
    res_.is_worker = false;
    write_timeline();
    return res_;
  }
  const int64_t steps = c_.train.steps;
  const bool checkpoints = !c_.train.checkpoint.dir.empty();  // save() is collective: every rank calls it
  eval_ex_ = std::make_unique<Executor>(*g_, &ThreadPool::global());
  eval_ex_->set_host_arena(ctx_->host_arena);  // evaluation takes turns with the step in the same memory
  if (ctx_->resident) eval_ex_->set_resident(ctx_->resident);  // reads the device's variables in place
  t_start_ = t_log_ = now_s();
  faults_log_ = minor_faults();
  Executor::Feeds feeds;
  for (const Value& v : mg_.inputs) feeds.emplace_back(v, Tensor());
  // With the state on a device, each batch is uploaded one step ahead, alongside the step before it.
  if (start_ < steps && ctx_->resident && strategy_->stages_inputs(*ctx_)) {
    stager_ = std::make_unique<InputStager>(ctx_->resident->device());
    stage_next();  // step start_'s batch
    if (rank_ == 0) logging::info("device {}: each batch staged there one step ahead", c_.device);
  }
  int64_t step = start_;
  profile_steps_from_ = start_;
  for (; step < steps; ++step) {
    int64_t in_bytes = 0;  // a staged batch's upload, made before the step's traffic is read
    if (stager_) {
      stager_->wait();  // the device's compute reads the staged batch
      const std::vector<Tensor>& b = stager_->current();
      for (size_t i = 0; i < feeds.size(); ++i) feeds[i].second = b[i];
      data_pos_ = staged_pos_;                 // where the data stands once this step has trained
      in_bytes = staged_bytes_;                // counted with the step that reads it
      if (step + 1 < steps) stage_next();      // the next step's batch, uploaded during this one
    } else {
      const data::Batch& b = loader_->next();  // this rank's shard of the global batch, prefetched
      for (size_t i = 0; i < feeds.size(); ++i) feeds[i].second = b[i];
    }
    const double lr = sched_->lr(step);
    if (c_.debug.slow_rank == rank_ && c_.debug.slow_ms > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(c_.debug.slow_ms));
    if (step - start_ == c_.train.trace_steps) {  // the timeline holds the first train.trace_steps steps
      ctx_->trace = nullptr;
      ctx_->timeline = nullptr;
    }
    if (ctx_->timeline) ctx_->timeline->step(step + 1, Timeline::now_ns());
    ctx_->extra = update_->feeds();                               // the loss scale, when scaling
    const DeviceTraffic before = device_traffic();
    StepResult r = strategy_->compute(*ctx_, feeds, step);        // forward, backward, gradient reduction
    if (update_->prepare(r.grads, params_, step))                 // unscale or skip, clip, check
      strategy_->apply(*ctx_, r.grads, step, lr);                 // optimizer step, or push to the servers
    const DeviceTraffic after = device_traffic();
    h2d_since_log_ += after.h2d_bytes - before.h2d_bytes + in_bytes;
    d2h_since_log_ += after.d2h_bytes - before.d2h_bytes;
    check_loss(r.loss, step);
    const int64_t done = step + 1;
    if (ctx_->profile && done == start_ + 1 && done < steps) {  // the profile is of the steady state
      std::lock_guard<std::mutex> lock(profile_.mu);
      profile_.by_op.clear();  // the first step: plans compiled, kernels chosen, pages first touched
      profile_steps_from_ = done;
    }
    if (done % c_.train.log_every == 0 || done == steps) log(done, lr);
    if (c_.train.eval_every > 0 && done % c_.train.eval_every == 0 && done != steps) evaluate(done);
    if (checkpoints && c_.train.checkpoint.every > 0 && done % c_.train.checkpoint.every == 0 && done != steps)
      save(done);
    if (done != steps && strategy_->agree_stop(*ctx_, preemption_signal() != 0)) {  // a signal: stop here
      res_.preempted = true;
      ++step;
      break;
    }
  }
  logging::end_progress();
  if (res_.preempted) {
    if (since_log_ > 0) log(step, sched_->lr(step - 1));
    if (checkpoints && last_saved_ != step) save(step);
    strategy_->finish(*ctx_);
    write_timeline();  // after finish(): parameter servers join it once every worker is done
    if (roles_.chief)
      logging::warn("stopped by a signal at step {} of {}{}; exit {}: continue with --resume", step, steps,
                checkpoints ? ", checkpoint written" : " (train.checkpoint.enabled is false: nothing saved)",
                kPreemptedExit);
    res_.steps = step;
    return res_;
  }
  EvalAcc final_acc = evaluate(steps);
  if (checkpoints && start_ < steps) save(steps);  // resumed at train.steps: that checkpoint is the one on disk
  strategy_->finish(*ctx_);
  write_timeline();
  res_.steps = steps;
  res_.eval_loss = final_acc.loss_sum / std::max<int64_t>(1, final_acc.count);
  res_.eval_accuracy = double(final_acc.correct) / std::max<int64_t>(1, final_acc.count);
  if (roles_.chief && ctx_->profile)
    print_profile(profile_, (std::filesystem::path(c_.train.run_dir) / "profile.json").string(),
                  steps - profile_steps_from_, ThreadPool::global().threads());
  if (roles_.chief)
    logging::info("done: {} steps in {:.1f}s, peak RSS {:.0f} MB; run folder {}", steps - start_, now_s() - t_start_,
              peak_rss_kb() / 1024.0, c_.train.run_dir);
  return res_;
}

// A PassModel: passes over the training split until it converges (train/model.h).
// Rank r of n takes rows [r·N/n, (r+1)·N/n); each pass's sums are totalled in f64
// over batches, then over ranks by one allreduce. A checkpoint (step = passes
// done) is written at the end, and every train.checkpoint.every passes.
TrainResult Trainer::Run::fit_passes() {
  const std::vector<Tensor> train = data_->train();
  const int64_t n = train[0].dim(0);
  const int64_t lo = n * rank_ / size_, hi = n * (rank_ + 1) / size_;
  const auto files = pass_->init(*g_, train, c_.train.seed, start_ == 0);
  if (roles_.chief && start_ == 0)
    for (const auto& kv : files) write_file_atomic((std::filesystem::path(c_.train.run_dir) / kv.first).string(), kv.second);
  const bool checkpoints = !c_.train.checkpoint.dir.empty();
  Executor ex(*g_, &ThreadPool::global());
  eval_ex_ = std::make_unique<Executor>(*g_, &ThreadPool::global());
  ex.set_host_arena(ctx_->host_arena);
  eval_ex_->set_host_arena(ctx_->host_arena);
  t_start_ = now_s();
  const int64_t passes = pass_->max_passes(), bs = c_.data.batch_size;
  std::vector<size_t> numel;
  for (const Value& v : mg_.statistics) numel.push_back(size_t(ft::numel(v.shape())));
  int64_t pass = start_;
  bool converged = false;
  while (pass < passes && !converged) {
    std::vector<std::vector<double>> tot(numel.size());
    for (size_t i = 0; i < tot.size(); ++i) tot[i].assign(numel[i], 0.0);
    for (int64_t b = lo; b < hi; b += bs) {
      const int64_t e = std::min(hi, b + bs);
      Executor::Feeds feeds;
      for (size_t i = 0; i < mg_.inputs.size(); ++i) {
        Shape sh = train[i].shape();
        const size_t row_bytes = train[i].bytes() / size_t(sh[0]);
        sh[0] = e - b;
        feeds.emplace_back(mg_.inputs[i], Tensor::view(const_cast<char*>(static_cast<const char*>(train[i].raw())) +
                                                           size_t(b) * row_bytes, sh, train[i].dtype()));
      }
      RunOptions ro;
      ro.step = pass;
      ro.training = false;
      const auto out = ex.run(feeds, mg_.statistics, ro);
      for (size_t i = 0; i < out.size(); ++i)
        for (size_t j = 0; j < numel[i]; ++j) tot[i][j] += out[i].at(int64_t(j));
    }
    std::vector<Tensor> totals;
    for (size_t i = 0; i < tot.size(); ++i) {
      world_->allreduce(tot[i].data(), int64_t(tot[i].size()), DType::F64, comm::ReduceOp::Sum);
      Tensor t = Tensor::empty(mg_.statistics[i].shape(), DType::F64);
      std::copy(tot[i].begin(), tot[i].end(), t.data<double>());
      totals.push_back(std::move(t));
    }
    const PassResult r = pass_->update(*g_, totals, pass);
    converged = r.converged;
    ++pass;
    if (roles_.chief) {
      const double wall = wall_now();
      nlohmann::json rec = {{"wall_time", wall}, {"step", pass}, {"epoch", pass}};
      std::string line = fmt::format("pass {}/{}", pass, passes);
      for (const auto& kv : r.metrics) {
        rec[kv.first] = kv.second;
        line += fmt::format(" {} {:.6g}", kv.first, kv.second);
        scalar("train/" + kv.first, pass, kv.second, wall);
      }
      metrics_->write(rec);
      logging::info("{}{}", line, converged ? " (converged)" : "");
    }
    if (checkpoints && c_.train.checkpoint.every > 0 && pass % c_.train.checkpoint.every == 0 && !converged &&
        pass < passes)
      save(pass);
  }
  EvalAcc final_acc = evaluate(pass);
  if (checkpoints && last_saved_ != pass) save(pass);
  res_.steps = pass;
  res_.eval_loss = final_acc.loss_sum / std::max<int64_t>(1, final_acc.count);
  res_.eval_accuracy = double(final_acc.correct) / std::max<int64_t>(1, final_acc.count);
  if (roles_.chief)
    logging::info("done: {} passes{} in {:.2f}s; run folder {}", pass - start_,
                  converged ? " (converged)" : " (model's pass limit)", now_s() - t_start_, c_.train.run_dir);
  return res_;
}

// The merged timeline (a collective over the world when tracing).
void Trainer::Run::write_timeline() {
  if (!timeline_) return;
  timeline_->add_graph(*g_, trace_, c_.data.batch_size);
  const size_t n = timeline_->write(c_.train.trace_file);
  if (rank_ == 0) {
    std::error_code ec;
    const auto bytes = std::filesystem::file_size(c_.train.trace_file, ec);
    logging::info("timeline: {} events of {} rank(s), {} -> {}", n, size_, human_bytes(double(bytes)),
              c_.train.trace_file);
  }
}

// --dry-run: the model, each rank's memory, the strategy's communication; no step.
void Trainer::Run::dry_run() {
  Executor::Feeds feeds;
  const data::Batch& b = loader_->next();
  for (size_t i = 0; i < mg_.inputs.size(); ++i) feeds.emplace_back(mg_.inputs[i], b[i]);
  const size_t arena = roles_.worker ? strategy_->arena_bytes(*ctx_, feeds) : 0;
  double param_bytes = 0;
  for (const Value& v : params_) param_bytes += double(g_->value(v).bytes());
  const double slot_bytes = param_bytes * double(opt_->slots().size());
  const auto arenas = world_->allgather_u64(arena);
  const auto pbytes = world_->allgather_u64(uint64_t(param_bytes));
  const auto sbytes = world_->allgather_u64(uint64_t(slot_bytes));
  const auto counts = world_->allgather_u64(uint64_t(param_count_));
  const std::vector<std::string> comm = strategy_->comm_plan(*ctx_);
  if (rank_ != 0) return;
  logging::info("dry run: model {} on {} rank(s), {}; nothing is trained", c_.model, size_, strategy_->name());
  logging::info("  {:<48} {:>16} {:>12}", "variable", "shape", "parameters");
  for (const Value& v : g_->variables()) {
    const Tensor& t = g_->value(v);
    logging::info("  {:<48} {:>16} {:>12}", v.name(), shape_str(t.shape()), thousands(t.numel()));
  }
  logging::info("  {:<48} {:>16} {:>12}", "total (trainable, all slices)", "", thousands(res_.parameters));
  logging::info("per rank: {:>4} {:>14} {:>14} {:>14} {:>16} {:>12}", "rank", "arena", "parameters", "gradients",
            "optimizer state", "params (#)");
  for (int r = 0; r < size_; ++r)
    logging::info("          {:>4} {:>14} {:>14} {:>14} {:>16} {:>12}", r, mib(double(arenas[size_t(r)])),
              mib(double(pbytes[size_t(r)])), mib(double(pbytes[size_t(r)])), mib(double(sbytes[size_t(r)])),
              thousands(int64_t(counts[size_t(r)])));
  logging::info("communication per step ({}):", strategy_->name());
  if (comm.empty()) logging::info("  none (one rank)");
  for (const std::string& line : comm) logging::info("  {}", line);
  logging::info("data: {} training examples, {} eval examples, {} steps per epoch; readable", loader_->size(),
            eval_cols_.empty() ? 0 : eval_cols_[0].dim(0), loader_->steps_per_epoch());
}

void Trainer::Run::scalar(const std::string& tag, int64_t step, double v, double wall) {
  if (events_) events_->scalar(tag, step, v, wall);
}

void Trainer::Run::check_loss(double loss, int64_t step) {
  if (!std::isfinite(loss))
    throw Error("step " + std::to_string(step + 1) + ": loss is " + std::to_string(loss) +
                " (lower optimizer.lr or set train.clip_norm)");
  if (step == start_) first_loss_ = loss;  // this run's first step, the yardstick for divergence
  loss_acc_ += loss;
  ++loss_n_;
  ++since_log_;
  res_.last_loss = loss;
}

// A progress line and a metrics record over the steps since the last one.
void Trainer::Run::log(int64_t done, double lr) {
  const int64_t steps = c_.train.steps;
  const int64_t global_batch = c_.data.batch_size * roles_.data_world;
  const double t = now_s();
  const long faults = minor_faults();
  const double faults_per_step = double(faults - faults_log_) / double(since_log_);
  faults_log_ = faults;
  const double sps = double(since_log_ * global_batch) / std::max(1e-9, t - t_log_);
  const double eta = double(steps - done) * (t - t_log_) / double(since_log_);
  const double mean_loss = loss_acc_ / double(loss_n_);
  if (roles_.chief && diverged(mean_loss, first_loss_)) {
    const std::string why = "step " + std::to_string(done) + ": loss " + fmt_g(mean_loss) + " is far above its start (" +
                            fmt_g(first_loss_) + "): training diverges; lower optimizer.lr (" +
                            c_.where("optimizer.lr") + ") or set train.clip_norm";
    if (c_.debug.check_numerics) throw Error(why + " (debug.check_numerics stops here)");
    if (!warned_divergence_) logging::warn("{}", why);
    warned_divergence_ = true;
  }
  if (roles_.chief) {
    const double wall = wall_now();
    nlohmann::json rec = {{"wall_time", wall}, {"step", done}, {"loss", mean_loss}, {"samples_per_sec", sps},
                          {"minor_faults_per_step", faults_per_step},
                          {"lr", lr}, {"epoch", data_position().epoch}, {"peak_rss_mb", peak_rss_kb() / 1024.0}};
    strategy_->log_fields(rec);
    if (c_.device != "cpu") {  // host<->device bytes of the training steps (not evaluation, checkpoints)
      rec["h2d_bytes_per_step"] = double(h2d_since_log_) / double(since_log_);
      rec["d2h_bytes_per_step"] = double(d2h_since_log_) / double(since_log_);
    }
    if (c_.precision != "fp32" || update_->scaling()) {
      rec["loss_scale"] = update_->scale();
      rec["skipped_steps"] = update_->skipped_steps();
    }
    metrics_->write(rec);
    scalar("loss", done, mean_loss, wall);
    scalar("learning_rate", done, lr, wall);
    scalar("samples_per_sec", done, sps, wall);
    if (rec.contains("loss_scale")) scalar("loss_scale", done, rec["loss_scale"].get<double>(), wall);
    if (rec.contains("ps_staleness")) scalar("ps_staleness_max", done, rec["ps_staleness"]["max"].get<double>(), wall);
    if (events_) events_->flush();
    logging::progress(fmt::format("step {:>6}/{}  loss {:.4f}  {:.4g} samples/s  lr {:.4g}  eta {:.0f}s", done, steps,
                              mean_loss, sps, lr, eta));
  }
  res_.samples_per_sec = sps;
  t_log_ = t;
  loss_acc_ = 0;
  loss_n_ = 0;
  since_log_ = 0;
  h2d_since_log_ = d2h_since_log_ = 0;
}

// Loss, accuracy and the model's metrics over the eval split (data.eval_examples of it).
EvalAcc Trainer::Run::evaluate(int64_t step) {
  if (!pass_) strategy_->sync_params(*ctx_);
  EvalAcc acc;
  if (!replica0_) return acc;
  std::vector<Tensor> cols = eval_cols_;
  const int64_t limit = c_.data.eval_examples;
  if (limit > 0 && limit < cols[0].dim(0))
    for (auto& t : cols) {
      Shape s = t.shape();
      s[0] = limit;
      t = Tensor::view(t.raw(), s, t.dtype());
    }
  std::vector<Value> fetch = {mg_.loss};
  const bool classify = mg_.logits.defined() && mg_.labels.defined();
  if (classify) fetch.insert(fetch.end(), {mg_.logits, mg_.labels});
  for (const auto& kv : mg_.metrics) fetch.push_back(kv.second);
  data::EvalIterator it(cols, c_.data.eval_batch_size);
  data::Batch b;
  while (it.next(b)) {
    Executor::Feeds feeds;
    for (size_t i = 0; i < mg_.inputs.size(); ++i) feeds.emplace_back(mg_.inputs[i], b[i]);
    RunOptions ro;
    ro.step = step;
    ro.training = false;
    ro.resources = &eval_res_;
    auto out = eval_ex_->run(feeds, fetch, ro);
    const int64_t before = acc.count;
    acc.add(classify ? &out[1] : nullptr, classify ? &out[2] : nullptr, out[0].item<float>(), b[0].dim(0));
    size_t k = classify ? 3 : 1;
    for (const auto& kv : mg_.metrics) acc.metric_sums[kv.first] += out[k++].item<float>() * double(acc.count - before);
  }
  logging::debug("eval: plan arena {}", human_bytes(double(eval_ex_->last_stats().arena_bytes)));
  const double n = double(std::max<int64_t>(1, acc.count));
  const double wall = wall_now();
  nlohmann::json rec = {{"wall_time", wall}, {"step", step}, {"eval", "test"}, {"loss", acc.loss_sum / n}};
  if (classify) rec["accuracy"] = double(acc.correct) / n;
  for (const auto& kv : acc.metric_sums) rec[kv.first] = kv.second / n;
  rec["examples"] = acc.count;
  if (!roles_.chief) return acc;
  metrics_->write(rec);
  std::string line = fmt::format("eval step {}: test loss {:.4f}", step, rec["loss"].get<double>());
  scalar("eval/loss", step, rec["loss"].get<double>(), wall);
  if (classify) {
    line += fmt::format(" accuracy {:.4f}", rec["accuracy"].get<double>());
    scalar("eval/accuracy", step, rec["accuracy"].get<double>(), wall);
  }
  for (const auto& kv : acc.metric_sums) {
    line += fmt::format(" {} {:.4g}", kv.first, kv.second / n);
    scalar("eval/" + kv.first, step, kv.second / n, wall);
  }
  if (events_) events_->flush();
  logging::info("{} ({} predictions)", line, acc.count);
  return acc;
}

// Resume: parameters, optimizer state, step and data position. The ranks that
// write checkpoints read them: the chief's replica, each rank its
// model-parallel slice. What they read reaches the other replicas over the
// data-parallel group of their slice, so only the writers' host needs the
// files. The steps are compared across ranks before anything is used, so a
// mixed set of slices, or an unreadable file, ends every rank alike.
void Trainer::Run::restore() {
  const std::string& dir = fo_.resume;
  const std::vector<uint64_t> chief = world_->allgather_u64(roles_.chief ? 1 : 0);
  const int root = int(std::find(chief.begin(), chief.end(), 1) - chief.begin()) / grid_.mp;  // its dp index
  if (root * grid_.mp >= size_) throw Error("resume: no rank is the chief");
  Checkpoint ck;
  std::string read_error, bytes;
  if (grid_.dp_index == root) {
    try {
      ck = CheckpointManager::load(dir, grid_.mp_index, grid_.mp);
      if (grid_.dp > 1) bytes = "C" + pack_checkpoint(ck);
    } catch (const std::exception& e) {
      read_error = e.what();
      bytes = "E" + read_error;
    }
  }
  if (grid_.dp > 1) {
    grid_.dp_comm->broadcast_bytes(bytes, root);
    if (grid_.dp_index != root) {
      if (bytes.empty() || bytes[0] != 'C') read_error = bytes.empty() ? "no checkpoint received" : bytes.substr(1);
      else ck = unpack_checkpoint(bytes.substr(1));
    }
    std::string().swap(bytes);
  }
  const std::vector<uint64_t> got = world_->allgather_u64(read_error.empty() ? uint64_t(ck.state.step) : ~uint64_t(0));
  if (!read_error.empty()) throw Error(read_error);
  for (int r = 0; r < size_; ++r)
    if (got[size_t(r)] == ~uint64_t(0)) throw Error("rank " + std::to_string(r) + " could not read its checkpoint");
  std::vector<int64_t> slice_steps(size_t(grid_.mp));
  for (int r = 0; r < size_; ++r) slice_steps[size_t(r % grid_.mp)] = int64_t(got[size_t(r)]);
  CheckpointManager::check_slices_agree(dir, slice_steps);
  const TrainState& ts = ck.state;
  if (ts.step > c_.train.steps)
    throw Error(dir + ": the checkpoint is at step " + std::to_string(ts.step) + ", past train.steps = " +
                std::to_string(c_.train.steps) + " (" + c_.where("train.steps") + "); raise train.steps to continue");
  load_variables(*g_, ck.model, dir);
  // Deterministic runs force their kernels; otherwise the run continues with the
  // kernels it had chosen, for the same bits.
  if (!c_.distributed.deterministic) ops::preset_kernel_choices(ts.kernel_choices);
  if (ts.data_index >= loader_->size())
    throw Error(dir + "/state.json: field 'data_index' = " + std::to_string(ts.data_index) +
                " is past the training set (" + std::to_string(loader_->size()) + " examples)");
  loader_->set_position({ts.data_epoch, ts.data_index});
  update_->restore(ts);
  optim::OptimizerState st;
  st.step = ts.optimizer_step;
  if (!fo_.reset_optimizer) {
    st.tensors = ck.optimizer;
    if (ts.optimizer_step > 0) {
      std::vector<std::string> names;
      for (const Value& v : params_) names.push_back(v.name());
      check_optimizer_state(dir + "/optimizer.safetensors", ck.optimizer, names, opt_->slots());
    }
    try {
      opt_->load_state(st);
    } catch (const Error& e) {
      throw Error(dir + "/optimizer.safetensors: " + e.what());
    }
  } else if (roles_.chief) {
    logging::info("optimizer state not restored (--reset-optimizer)");
  }
  start_ = last_saved_ = ts.step;
  if (roles_.chief) logging::info("resumed from {} at step {}", dir, start_);
}

void Trainer::Run::save(int64_t step) {
  last_saved_ = step;
  if (!pass_) strategy_->sync_params(*ctx_);
  if (!ckpt_) return;
  Checkpoint ck;
  for (const Value& v : g_->variables()) ck.model[v.name()] = g_->value(v);
  ck.files = data_->artifacts();
  ck.files["config.yaml"] = c_.raw.dump();
  optim::OptimizerState st = opt_->state();
  ck.optimizer = st.tensors;
  const auto pos = data_position();
  TrainState& ts = ck.state;
  ts.step = step;
  ts.optimizer_step = st.step;
  ts.data_epoch = pos.epoch;
  ts.data_index = pos.index;
  ts.mode = strategy_->name();
  ts.world = size_;
  ts.kernel_choices = ops::kernel_choice_winners();
  update_->save(ts);
  std::string where;
  if (grid_.mp > 1) {
    // Collective over the replica's model-parallel group: each slice is complete
    // on disk before the commit, and a failed slice fails them all.
    std::string err;
    try {
      ckpt_->write_slice(ck, grid_.mp_index, grid_.mp);
    } catch (const std::exception& e) {
      err = e.what();
    }
    const auto ok = grid_.mp_comm->allgather_u64(err.empty() ? 1 : 0);
    if (!err.empty()) throw Error(err);
    for (size_t i = 0; i < ok.size(); ++i)
      if (!ok[i]) throw Error("checkpoint step " + std::to_string(step) + ": slice mp" + std::to_string(i) + " failed");
    if (grid_.mp_index == 0) where = ckpt_->commit(step, grid_.mp);
    grid_.mp_comm->barrier();
  } else {
    where = ckpt_->save(ck);
  }
  if (roles_.chief) logging::info("checkpoint step {} -> {}", step, where);
}

Trainer::Trainer(RunConfig cfg, comm::CommPtr world) : cfg_(std::move(cfg)), world_(std::move(world)) {}
Trainer::~Trainer() = default;

TrainResult Trainer::fit(const FitOptions& opt) { return Run(cfg_, world_, opt).fit(); }

}  // namespace train
}  // namespace ft
