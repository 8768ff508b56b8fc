// config_schema.cpp — every configuration key: type, default, allowed values, meaning.
#include <sstream>

#include "train/config.h"

namespace ft {
namespace train {

const std::vector<KeySpec>& base_schema() {
  using K = KeyType;
  static const std::vector<KeySpec> s = {
      {"model.type", K::String, "mlp", "", -1e300, 1e300, "model, by its registered name (mlp, cnn, bert, linear_classifier, linear_regressor, dnn_classifier, dnn_regressor, kmeans, naive_bayes, or a user's)"},
      {"data.type", K::String, "", "", -1e300, 1e300, "dataset, by its registered name (mnist, mlm_corpus, csv, libsvm, or a user's); empty = the model's own"},
      {"data.dir", K::String, "data/mnist", "", -1e300, 1e300, "dataset folder (MNIST IDX files, or corpus.txt for bert)"},
      {"data.batch_size", K::Int, "128", "", 1, 1e7, "per-rank batch size (global batch = ranks x this)"},
      {"data.eval_batch_size", K::Int, "500", "", 1, 1e7, "evaluation batch size"},
      {"data.eval_examples", K::Int, "0", "", 0, 1e9, "evaluate on at most this many examples (0 = all)"},
      {"data.prefetch", K::Bool, "true", "", -1e300, 1e300, "load the next batch on a background thread"},
      {"train.steps", K::Int, "2000", "", 1, 1e12, "optimizer steps"},
      {"train.log_every", K::Int, "50", "", 1, 1e12, "steps between progress lines and metrics records"},
      {"train.eval_every", K::Int, "0", "", 0, 1e12, "steps between evaluations (0 = only at the end)"},
      {"train.run_dir", K::String, "", "", -1e300, 1e300,
       "the run folder: config.yaml, metrics.jsonl, TensorBoard events, checkpoints/, trace.json, vocab.txt (empty = $FT_RUNS_ROOT or runs, then the config file's name)"},
      {"train.log_level", K::String, "info", "debug|info|warn|error", -1e300, 1e300,
       "least severe log lines shown (--verbose = debug, --quiet = warn)"},
      {"train.tensorboard", K::Bool, "true", "", -1e300, 1e300, "write TensorBoard scalars (events.out.tfevents.*) to the run folder"},
      {"train.metrics_file", K::String, "", "", -1e300, 1e300, "JSON-lines metrics log (empty = RUN_DIR/metrics.jsonl)"},
      {"train.checkpoint.enabled", K::Bool, "true", "", -1e300, 1e300, "write checkpoints (false = none)"},
      {"train.checkpoint.dir", K::String, "", "", -1e300, 1e300, "checkpoint folder (empty = RUN_DIR/checkpoints)"},
      {"train.checkpoint.every", K::Int, "0", "", 0, 1e12, "steps between checkpoints (0 = only at the end and on preemption)"},
      {"train.checkpoint.keep", K::Int, "3", "", 1, 1e6, "checkpoints kept (the oldest written are deleted, never the newest)"},
      {"train.seed", K::Int, "42", "", 0, 9.2e18, "seed of initialization, shuffling, dropout and masking"},
      {"train.threads", K::Int, "0", "", 0, 4096, "threads per rank (0 = cores / ranks on this node)"},
      {"train.clip_norm", K::Float, "0.0", "", 0, 1e30, "clip gradients by global norm (0 = off)"},
      {"train.loss_scale", K::Float, "0", "", 0, 1e30,
       "initial dynamic loss scale (0 = 65536 for precision fp16, off for fp32 and bf16)"},
      {"train.loss_scale_window", K::Int, "2000", "", 1, 1e12, "clean steps after which the loss scale doubles"},
      {"train.trace", K::Bool, "false", "", -1e300, 1e300,
       "record a timeline of every rank (Chrome/Perfetto trace) in RUN_DIR/trace.json"},
      {"train.trace_file", K::String, "", "", -1e300, 1e300, "timeline file instead of RUN_DIR/trace.json (implies train.trace)"},
      {"train.trace_steps", K::Int, "20", "", 1, 1e9, "steps recorded in the timeline"},
      {"train.profile", K::Bool, "false", "", -1e300, 1e300, "print time per op type at the end (the first step left out)"},
      {"optimizer.type", K::String, "momentum", "sgd|momentum|adam|adamw|lamb", -1e300, 1e300, "update rule"},
      {"optimizer.lr", K::Float, "0.05", "", 0, 1e6, "peak learning rate"},
      {"optimizer.momentum", K::Float, "0.9", "", 0, 1, "momentum coefficient"},
      {"optimizer.nesterov", K::Bool, "false", "", -1e300, 1e300, "Nesterov momentum"},
      {"optimizer.beta1", K::Float, "0.9", "", 0, 1, "Adam/LAMB beta1"},
      {"optimizer.beta2", K::Float, "0.999", "", 0, 1, "Adam/LAMB beta2"},
      {"optimizer.eps", K::Float, "1e-8", "", 0, 1, "Adam/LAMB epsilon"},
      {"optimizer.weight_decay", K::Float, "0.0", "", 0, 1e3, "weight decay (L2 for sgd/momentum, decoupled for adamw/lamb)"},
      {"optimizer.schedule.type", K::String, "constant", "constant|step|warmup_linear|warmup_cosine", -1e300, 1e300,
       "learning-rate schedule"},
      {"optimizer.schedule.warmup", K::Int, "0", "", 0, 1e12, "warmup steps"},
      {"optimizer.schedule.step_size", K::Int, "1000", "", 1, 1e12, "step schedule: steps between decays"},
      {"optimizer.schedule.gamma", K::Float, "0.1", "", 0, 1, "step schedule: decay factor"},
      {"optimizer.schedule.min_lr", K::Float, "0.0", "", 0, 1e6, "floor of decaying schedules"},
      {"distributed.mode", K::String, "allreduce-sync", "", -1e300, 1e300,
       "how ranks cooperate, by registered strategy name: allreduce-sync, ps-async, ps-sync (one process runs allreduce-sync on a world of 1)"},
      {"distributed.bucket_mb", K::Float, "25", "", 0.001, 1e6, "allreduce fusion bucket size (MiB)"},
      {"distributed.allreduce_algorithm", K::String, "auto", "auto|shm|ring|mpi", -1e300, 1e300,
       "host allreduce: auto = shared memory among the ranks of a node (hierarchical across nodes), else a ring from 16 MiB, else MPI_Allreduce"},
      {"distributed.deterministic", K::Bool, "false", "", -1e300, 1e300,
       "bit-identical results for any power-of-two rank count at a fixed global batch"},
      {"distributed.micro_batch", K::Int, "0", "", 0, 1e7,
       "deterministic mode: fixed micro-batch size (0 = global batch / 8)"},
      {"distributed.backend", K::String, "auto", "auto|mpi|nccl", -1e300, 1e300,
       "allreduce-sync transport: mpi (host buffers), nccl (device buffers; CUDA build and GPU), auto = nccl when the graph runs on cuda"},
      {"distributed.stall_warning_s", K::Float, "60", "", 0.001, 1e9, "warn when a collective waits longer than this"},
      {"distributed.stall_timeout_s", K::Float, "0", "", 0, 1e9,
       "end the job when a gradient bucket's allreduce (allreduce-sync) waits this long, or a ps server or worker hears nothing from its peer this long (ps-async, ps-sync), naming the rank, its host and the ranks missing (0 = never; the ps modes then end at stall_warning_s)"},
      {"distributed.model_parallel", K::Int, "1", "", 1, 1e6, "model-parallel group size (must divide the world)"},
      {"distributed.ps.servers", K::Int, "1", "", 1, 1e6, "parameter-server ranks (ranks 0..servers-1)"},
      {"distributed.ps.staleness", K::Int, "4", "", 0, 1e12, "ps-async: max steps a worker may run ahead of the slowest"},
      {"distributed.ps.chunk_mb", K::Float, "4", "", 0.0001, 1e6, "variables above this are split in chunks across servers"},
      {"device", K::String, "cpu", "cpu|cuda|standin", -1e300, 1e300, "where nodes run (ops without a kernel there fall back to cpu); standin: host memory behind the device interface, the whole device path without a GPU"},
      {"precision", K::String, "fp32", "fp32|fp16|bf16", -1e300, 1e300, "matmul/conv precision (fp32 master weights and optimizer state; fp16/bf16: allreduce-sync only)"},
      {"debug.slow_rank", K::Int, "-1", "", -1, 1e9, "rank to slow down (-1 = none)"},
      {"debug.slow_ms", K::Int, "0", "", 0, 1e9, "milliseconds added to each step of debug.slow_rank"},
      {"debug.slow_checkpoint_ms", K::Int, "0", "", 0, 1e9, "milliseconds of pause inside each checkpoint write (tests)"},
      {"debug.check_numerics", K::Bool, "false", "", -1e300, 1e300, "stop with the name of the first non-finite gradient"},
  };
  return s;
}

std::string schema_markdown() {
  std::ostringstream o;
  o << "| key | type | default | allowed | meaning |\n| --- | --- | --- | --- | --- |\n";
  for (const auto& k : schema()) {
    const char* t = k.type == KeyType::Int ? "int" : k.type == KeyType::Float ? "float"
                  : k.type == KeyType::Bool ? "bool" : k.type == KeyType::String ? "string" : "int list";
    std::string allowed = k.choices;
    for (auto& ch : allowed) if (ch == '|') ch = ',';
    if (allowed.empty() && (k.type == KeyType::Int || k.type == KeyType::Float || k.type == KeyType::IntList)) {
      std::ostringstream r;
      if (k.min > -1e299) r << ">= " << k.min;
      if (k.max < 1e299) r << (k.min > -1e299 ? ", " : "") << "<= " << k.max;
      allowed = r.str();
    }
    o << "| `" << k.key << "` | " << t << " | `" << (k.def.empty() ? "\"\"" : k.def) << "` | " << allowed << " | "
      << k.doc << " |\n";
  }
  return o.str();
}

}  // namespace train
}  // namespace ft
