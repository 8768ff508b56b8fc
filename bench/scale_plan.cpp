// scale_plan.cpp — predicts a config's step time, exposed communication,
// scaling efficiency, samples/s and memory per rank at N ranks from a cluster
// description (configs/clusters/*.yaml) and the config's own graph:
//
//   scale_plan --config C.yaml --cluster configs/clusters/K.yaml [--ranks 1,2,4,...,1024]
//              [--set k=v ...] [--json FILE]
//   scale_plan --config C.yaml --calibrate-out this_machine.yaml --comm-bench np2.txt[,np4.txt]
//              --metrics RUN_DIR/metrics.jsonl [--shared-bench np4.txt] [--shared-metrics M1,M2,...]
//              [--ranks ...]
//   scale_plan --cluster K.yaml --fit-shared np4.txt
//   scale_plan --model-spec configs/models/M.yaml --cluster K.yaml [--bucket-mb 25] [...]
//   any of them with [--sigma-ms S] [--target N]
//
// --model-spec: a model the zoo does not build, given by its gradient tensors in
// backward order and one device's measured step (train/scale_model.h ModelSpec);
// no memory column. --sigma-ms (or the cluster's compute.sigma_ms, or the one
// --calibrate-out measures from the metrics records' spread) adds the straggler
// term σ·sqrt(2 ln N) as its own column. --target N tries bucket_mb in
// {1, 5, 10, 25, 50, 100} (allreduce) or ps servers 1..N/2 (ps modes) at N ranks
// and prints the best with its dominant term, and for models with tensor-parallel
// layers the best distributed.model_parallel among the powers of two up to a node.
// With model_parallel = k > 1 the graph is the first rank's share; its mp_allreduce
// and mp_allgather outputs are priced within the group and added to the step
// (train/scale_model.h mp_collectives_s), N ranks being N/k replicas.
// distributed.deterministic: the reduce-scatter/allgather after the step, not
// overlapped (train/scale_model.h deterministic_reduce_s). A model file's
// tensor_parallel, pipeline, global_batch and overlap_grad_sync: train/scale_model.h ModelSpec.
//
// --calibrate-out writes a cluster file for this host and predicts with it: α
// and β fitted to comm_bench's flowtrain (auto) column (train/scale_model.h
// fit_link), compute.step_ms = batch / the median samples_per_sec of a one-rank
// run's metrics (its first record, the warm-up, left out), all ranks on this
// node (ranks_per_node = the largest of --ranks), shared_cores = its hardware
// threads with the fitted β as a core's copy rate, overlap false (on one node the shared-memory allreduce runs on the
// executor's thread, docs/PERFORMANCE.md). With --shared-bench np4.txt (a comm_bench at more
// ranks than the host's cores) the copy rate and the scheduling delay per collective are fitted
// to it instead (train/scale_model.h fit_shared_cores); with --shared-metrics a.jsonl,b.jsonl,...
// (one-rank runs of the config started together, more than the cores) compute_share is
// o · the one-rank step / their median step.
//   scale_plan --cluster K.yaml --fit-shared np4.txt prints the same fit for the link that
// comm_bench crosses (inter when its ranks span nodes), the file's other figures taken as known.
//
// The graph is built through the registry as the Trainer builds it
// (train::build_model, then gradients()); the backward order and the buckets
// are the allreduce strategy's own (train::plan_gradient_buckets). The step's
// compute is the cluster's compute.step_ms (one rank, measured for this config),
// or the graph's matmul/conv FLOPs (forward and backward, batch resolved) at
// compute.gemm_gflops (the nodes the step runs). It is split into forward and backward by those FLOPs; a
// gradient is ready when the backward FLOPs up to its node (node id order, the
// order backward is built in) are done; a bucket when its last gradient is.
// The α-β arithmetic is train/scale_model.h.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <thread>
#include <nlohmann/json.hpp>

#include "comm/comm_ops.h"
#include "comm/mp_ops.h"
#include "optim/factory.h"
#include "train/config.h"
#include "train/registry.h"
#include "train/scale_model.h"
#include "train/strategy.h"

using namespace ft;
using namespace ft::train;

namespace {

Shape resolved(Shape s, int64_t batch) {
  for (auto& d : s)
    if (d < 0) d = batch;
  return s;
}

// Build-time shapes with the unknown dims made concrete: -1 is the batch in a
// placeholder, but a reshape's -1 is whatever is left (BERT's (-1, hidden) is
// batch·seq), so shapes follow the graph in id order: a reshape infers its -1
// from its input, reshape_like takes the other input's shape, a matmul's output
// comes from its operands, and any other op with unknown dims takes an input's
// shape of the same pattern, else the batch.
class Shapes {
 public:
  Shapes(const Graph& g, int64_t batch) {
    s_.resize(size_t(g.num_nodes()));
    for (int id = 0; id < g.num_nodes(); ++id) {
      const Node& n = g.node(id);
      auto& outs = s_[size_t(id)];
      for (const Shape& o : n.out_shapes) {
        if (fully_defined(o)) { outs.push_back(o); continue; }
        Shape r = resolved(o, batch);
        if (n.op == "reshape" && !n.inputs.empty()) {
          const int64_t total = numel(in(n, 0));
          int64_t known = 1;
          for (int64_t d : o) known *= d < 0 ? 1 : d;
          for (size_t i = 0; i < o.size(); ++i) r[i] = o[i] < 0 ? total / std::max<int64_t>(1, known) : o[i];
        } else if (n.op == "reshape_like" && n.inputs.size() == 2) {
          r = in(n, 1);
        } else if (n.op == "matmul") {
          const Shape a = in(n, 0), b = in(n, 1);
          const bool ta = n.attrs.b("transpose_a", false), tb = n.attrs.b("transpose_b", false);
          r = Shape(a.begin(), a.end() - 2);
          r.push_back(ta ? a[a.size() - 1] : a[a.size() - 2]);
          r.push_back(tb ? b[b.size() - 2] : b[b.size() - 1]);
        } else {
          for (size_t i = 0; i < n.inputs.size(); ++i)
            if (g.node(n.inputs[i].node).out_shapes[size_t(n.inputs[i].index)] == o) {
              r = in(n, i);
              break;
            }
        }
        outs.push_back(r);
      }
    }
  }
  const Shape& out(int id, size_t k = 0) const { return s_[size_t(id)][k]; }
  const Shape& in(const Node& n, size_t i) const { return s_[size_t(n.inputs[i].node)][size_t(n.inputs[i].index)]; }

 private:
  std::vector<std::vector<Shape>> s_;
};

// Multiply-adds, times 2, of a matmul, conv2d or conv2d gradient node; 0 for every other op.
double node_flops(const Shapes& sh, const Node& n) {
  if (n.op == "matmul") {
    const Shape a = sh.in(n, 0);
    const int64_t k = n.attrs.b("transpose_a", false) ? a[a.size() - 2] : a.back();
    return 2.0 * double(numel(sh.out(n.id))) * double(k);
  }
  // conv2d (x, w), conv2d_grad_input (dy, w, x), conv2d_grad_filter (dy, x, w), w (O, C, kh, kw):
  // each element of the conv's output pairs with C·kh·kw products, in all three.
  if (n.op == "conv2d") {
    const Shape w = sh.in(n, 1);
    return 2.0 * double(numel(sh.out(n.id))) * double(w[1] * w[2] * w[3]);
  }
  if (n.op == "conv2d_grad_input" || n.op == "conv2d_grad_filter") {
    const Shape w = sh.in(n, n.op == "conv2d_grad_input" ? 1 : 2);
    return 2.0 * double(numel(sh.in(n, 0))) * double(w[1] * w[2] * w[3]);
  }
  return 0;
}

std::vector<int> parse_ranks(const std::string& s) {
  std::vector<int> v;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t end = s.find(',', pos);
    if (end == std::string::npos) end = s.size();
    const std::string item = s.substr(pos, end - pos);
    char* e = nullptr;
    const long n = std::strtol(item.c_str(), &e, 10);
    if (item.empty() || *e || n < 1 || n > 1 << 20) throw Error("--ranks: '" + item + "' is not a rank count");
    v.push_back(int(n));
    pos = end + 1;
  }
  return v;
}

// A run's metrics records: samples_per_sec and step of each training record, the
// first (the warm-up) left out when there are more.
void read_rates(const std::string& metrics, std::vector<double>& sps, std::vector<double>& steps) {
  std::ifstream m(metrics);
  if (!m) throw Error(metrics + ": cannot read the metrics");
  int line_no = 0;
  for (std::string line; std::getline(m, line);) {
    ++line_no;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception&) {
      throw Error(metrics + ":" + std::to_string(line_no) + ": not valid JSON");
    }
    if (j.contains("samples_per_sec") && !j.contains("eval")) {
      sps.push_back(j["samples_per_sec"].get<double>());
      steps.push_back(j.contains("step") ? j["step"].get<double>() : 0.0);
    }
  }
  if (sps.size() > 1) {  // the first interval holds the warm-up
    sps.erase(sps.begin());
    steps.erase(steps.begin());
  }
  if (sps.empty()) throw Error(metrics + ": no record with samples_per_sec");
}

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// --calibrate-out: the cluster file of this host (see the top of the file).
void calibrate(const std::string& out, const std::string& comm_bench_files, const std::string& metrics,
               const RunConfig& rc, int max_ranks, const std::string& shared_bench,
               const std::vector<std::string>& shared_metrics) {
  std::vector<scale::AllreduceSample> samples;
  std::string sources;
  for (size_t pos = 0; pos <= comm_bench_files.size();) {
    size_t end = comm_bench_files.find(',', pos);
    if (end == std::string::npos) end = comm_bench_files.size();
    const std::string f = comm_bench_files.substr(pos, end - pos);
    auto s = scale::read_comm_bench(f);
    sources += (sources.empty() ? "" : ", ") + f + fmt::format(" ({} ranks)", s.front().ranks);
    samples.insert(samples.end(), s.begin(), s.end());
    pos = end + 1;
  }
  int kept = 0;
  const scale::Link l = scale::fit_link(samples, &kept);
  std::vector<double> sps, steps;
  read_rates(metrics, sps, steps);
  const double sigma_ms = scale::step_sigma_s(sps, steps, double(rc.data.batch_size)) * 1e3;
  std::sort(sps.begin(), sps.end());
  const double median = sps[sps.size() / 2];
  const double step_ms = double(rc.data.batch_size) * 1e3 / median;
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  // The shared cores: a core's copy rate is the fitted β, and no scheduling delay,
  // unless a comm_bench at more ranks than cores measures both (fit_shared_cores).
  double copy_gbs = l.beta / 1e9, sched_us = 0;
  std::string shared_note = "the copy rates are the fitted β (the\n#   shared-memory allreduce is a core's copies, "
                            "measured with a core per rank), no scheduling delay";
  if (!shared_bench.empty()) {
    const auto s = scale::read_comm_bench(shared_bench);
    scale::Cluster c;
    c.ranks_per_node = std::max(max_ranks, s.front().ranks);
    c.cores_per_node = int(cores);
    c.intra = c.inter = l;
    const scale::SharedFit sf = scale::fit_shared_cores(s, c);
    copy_gbs = sf.copy > 0 ? sf.copy / 1e9 : 0.0;
    sched_us = sf.sched_s * 1e6;
    max_ranks = c.ranks_per_node;
    shared_note = fmt::format("intra_copy_gbs and intra_sched_us fitted to\n#   {} ({} ranks on {} cores, o = {:g}; "
                              "train/scale_model.h fit_shared_cores)", shared_bench, s.front().ranks, cores, sf.over);
  }
  // Time-sliced compute: s one-rank runs started together (no communication) on the cores.
  double compute_share = 1;
  if (!shared_metrics.empty()) {
    double step_o = 0;
    for (const std::string& p : shared_metrics) {
      std::vector<double> r, st;
      read_rates(p, r, st);
      step_o += double(rc.data.batch_size) * 1e3 / median_of(r) / double(shared_metrics.size());
    }
    const double o = double(shared_metrics.size()) / double(cores);
    if (o <= 1) throw Error(fmt::format("--shared-metrics: {} runs do not oversubscribe this host's {} cores",
                                        shared_metrics.size(), cores));
    compute_share = std::min(1.0, o * step_ms / step_o);
    shared_note += fmt::format(";\n#   compute_share: {} one-rank runs together (o = {:g}), {:.4f} ms a step against "
                               "o · {:.4f}", shared_metrics.size(), o, step_o, step_ms);
  }
  const std::string copy_keys = copy_gbs > 0 ? fmt::format("intra_copy_gbs: {:.4f}, inter_copy_gbs: {:.4f}, ", copy_gbs,
                                                            copy_gbs) : std::string();
  std::ofstream f(out);
  f << fmt::format(
      "# This host, calibrated by scale_plan --calibrate-out.\n"
      "#   α, β: fitted to the flowtrain (auto) column of {} ({} of {} sizes kept)\n"
      "#   compute.step_ms: batch {} / median samples_per_sec {:.0f} of {} (one rank); sigma_ms: the\n"
      "#   spread of its records' step times, times sqrt(steps per record)\n"
      "#   every rank on this node; overlap false: on one node the shared-memory allreduce runs on the\n"
      "#   executor's thread\n"
      "#   shared_cores: the host's hardware threads; {}\n"
      "name: this machine\n"
      "ranks_per_node: {}\n"
      "shared_cores: {{cores: {}, {}intra_sched_us: {:.1f}, inter_sched_us: {:.1f}, compute_share: {:.4f}}}\n"
      "overlap: false\n"
      "compute: {{step_ms: {:.4f}, sigma_ms: {:.4f}}}\n"
      "intra: {{alpha_us: {:.3f}, beta_gbs: {:.4f}}}\n"
      "inter: {{alpha_us: {:.3f}, beta_gbs: {:.4f}}}\n",
      sources, kept, samples.size(), rc.data.batch_size, median, metrics, shared_note, max_ranks, cores, copy_keys,
      sched_us, sched_us, compute_share, step_ms, sigma_ms,
      l.alpha_s * 1e6, l.beta / 1e9, l.alpha_s * 1e6, l.beta / 1e9);
  if (!f) throw Error(out + ": cannot write the cluster file");
  fmt::print("# calibrated {}: α {:.3f} µs, β {:.4f} GB/s ({} of {} comm_bench sizes), step_ms {:.4f}, shared cores: "
             "copy {:.4f} GB/s, scheduling delay {:.1f} µs per collective, compute share {:.4f}\n", out,
             l.alpha_s * 1e6, l.beta / 1e9, kept, samples.size(), step_ms, copy_gbs, sched_us, compute_share);
}

std::string mib(double b) { return fmt::format("{:.1f}", b / double(1 << 20)); }



// The config's step as a Workload: the graph as the Trainer builds it, the
// strategy's backward order, compute from the cluster (see the top of the file).
struct ConfigWork {
  scale::Workload w;
  double fwd_flops = 0, bwd_flops = 0, t_fwd = 0, t_bwd = 0;
  size_t params = 0, slots = 0, arena = 0, arena_n = 0;
  std::string arena_note;
  bool tensor_parallel = false;
  std::vector<scale::MpCollective> mp_ops;  // model parallel: the step's mp_allreduce/mp_allgather nodes
  double mp_reduce_bytes = 0, mp_gather_bytes = 0, full_flops = 0;
  scale::Link mp_link;
};

// A profiled run's kernel time per op type (train.profile writes RUN_DIR/profile.json).
struct OpProfile {
  std::string file;
  std::map<std::string, double> ms_per_step;  // op type -> kernel ms per step, summed over threads
  double total_ms = 0;
  static OpProfile load(const std::string& path) {
    OpProfile p;
    p.file = path;
    std::ifstream in(path);
    if (!in) throw Error(path + ": cannot open the profile");
    nlohmann::json j;
    try {
      in >> j;
    } catch (const std::exception& e) {
      throw Error(path + ": not a profile (JSON): " + e.what());
    }
    if (!j.is_object() || !j.contains("steps") || !j["steps"].is_number() || j["steps"].get<double>() <= 0 ||
        !j.contains("ops") || !j["ops"].is_object())
      throw Error(path + ": a profile needs 'steps' > 0 and 'ops' (train --set train.profile=true writes one)");
    const double steps = j["steps"].get<double>();
    for (auto it = j["ops"].begin(); it != j["ops"].end(); ++it) {
      if (!it.value().contains("ms") || !it.value()["ms"].is_number())
        throw Error(path + ": op '" + it.key() + "' has no number 'ms'");
      // A fused step's time goes to the op the graph has at its heart: the graph
      // (which this weighs node by node) holds conv2d, add, relu, not the fusion.
      static const std::map<std::string, std::string> fused_into = {
          {"conv2d_bias_act", "conv2d"}, {"matmul_bias_act", "matmul"}, {"max_pool2d_grad_relu", "max_pool2d_grad"},
          {"sparse_softmax_cross_entropy_grad_cast", "sparse_softmax_cross_entropy_grad"},
          {"sparse_softmax_cross_entropy_grad_bias", "sparse_softmax_cross_entropy_grad"}};
      const auto f = fused_into.find(it.key());
      const double ms = it.value()["ms"].get<double>() / steps;
      p.ms_per_step[f == fused_into.end() ? it.key() : f->second] += ms;
      p.total_ms += ms;
    }
    if (p.total_ms <= 0) throw Error(path + ": the profile holds no kernel time");
    return p;
  }
};

// The matmul/conv FLOPs of the whole (unsplit) model's training step.
double step_flops(const Config& cfg, const RunConfig& rc) {
  Graph g(rc.train.seed);
  const ModelGraph mg = build_model(g, cfg);
  const std::vector<Value> grads = gradients(mg.loss, g.trainable());
  Executor::Feeds feeds;
  for (const Value& v : mg.inputs)
    feeds.emplace_back(v, Tensor::empty(resolved(v.shape(), rc.data.batch_size), v.dtype()));
  std::vector<Value> fetch = {mg.loss};
  fetch.insert(fetch.end(), grads.begin(), grads.end());
  const Shapes shapes(g, rc.data.batch_size);
  double f = 0;
  for (int id : Executor(g).order(feeds, fetch)) f += node_flops(shapes, g.node(id));
  return f;
}

ConfigWork config_work(const Config& cfg, const RunConfig& rc, const scale::Cluster& cl,
                       const OpProfile* prof = nullptr) {
  ConfigWork cw;
  scale::Workload& w = cw.w;
  w.mode = rc.distributed.mode;
  w.batch = rc.data.batch_size;
  w.servers = rc.distributed.ps.servers;
  cw.tensor_parallel = model_entry(cfg).tensor_parallel;
  const int64_t batch = w.batch;
  const int mp = rc.distributed.model_parallel;
  w.mp = mp;
  // The graph, as the Trainer builds it (fp32; train/trainer.cpp build_graph):
  // with model_parallel > 1, the first rank's share of it.
  Graph g(rc.train.seed);
  const ModelGraph mg = build_model(g, cfg, nn::TensorParallel{mp, 0});
  const std::vector<Value> params = g.trainable();
  cw.params = params.size();
  const int loss_node = mg.loss.node();
  const std::vector<Value> grads = gradients(mg.loss, params);
  GradientPlan plan = plan_gradient_buckets(params, grads, rc.distributed.bucket_mb);
  const std::vector<comm::Bucket> buckets = plan.bucketer.buckets();

  // FLOPs of the nodes the training step runs (the executor's order for the loss
  // and the gradients): forward = up to the loss node, backward = the nodes
  // gradients() added after it.
  Executor::Feeds feeds;
  for (const Value& v : mg.inputs) feeds.emplace_back(v, Tensor::empty(resolved(v.shape(), batch), v.dtype()));
  std::vector<Value> fetch = {mg.loss};
  fetch.insert(fetch.end(), grads.begin(), grads.end());
  std::vector<double> node_f(size_t(g.num_nodes()), 0.0);
  const Shapes shapes(g, batch);
  const std::vector<int> step_nodes = Executor(g).order(feeds, fetch);
  for (int id : step_nodes) {
    const Node& nd = g.node(id);
    node_f[size_t(id)] = node_flops(shapes, nd);
    if (comm::is_mp_collective(nd.op))
      cw.mp_ops.push_back({nd.op == "mp_allgather", double(numel(shapes.out(id))) *
                                                        double(dtype_size(nd.out_dtypes.empty() ? DType::F32 : nd.out_dtypes[0]))});
  }
  if (prof) {
    // Weights from the profile instead of FLOPs: each op type's measured time per
    // step, shared among its nodes by their FLOPs (matmul, conv) or evenly.
    if (mp > 1) throw Error(prof->file + ": --profile models model_parallel 1 only");
    std::map<std::string, std::pair<double, int>> type_sum;  // op -> FLOPs, nodes
    for (int id : step_nodes) {
      auto& t = type_sum[g.node(id).op];
      t.first += node_f[size_t(id)];
      ++t.second;
    }
    std::vector<double> wt(size_t(g.num_nodes()), 0.0);
    for (int id : step_nodes) {
      const std::string& op = g.node(id).op;
      auto it = prof->ms_per_step.find(op);
      if (it == prof->ms_per_step.end()) continue;
      const auto& t = type_sum[op];
      wt[size_t(id)] = it->second * (t.first > 0 ? node_f[size_t(id)] / t.first : 1.0 / t.second);
    }
    node_f = wt;
  }
  std::vector<double> cum(size_t(g.num_nodes()), 0.0);  // backward FLOPs (or profiled ms) up to node id
  double& fwd = cw.fwd_flops;
  double& bwd = cw.bwd_flops;
  for (int id = 0; id < g.num_nodes(); ++id) {
    if (id <= loss_node) fwd += node_f[size_t(id)];
    else bwd += node_f[size_t(id)];
    cum[size_t(id)] = bwd;
  }
  for (const Value& p : params) w.param_bytes += double(g.value(p).bytes());
  if (fwd + bwd <= 0 && cl.step_ms <= 0 && !prof)
    throw Error(cl.file + ": key 'compute.gemm_gflops': the graph has no matmul or conv2d to time; give compute.step_ms");
  w.compute_s = cl.step_ms > 0 ? cl.step_ms * 1e-3
               : prof      ? (fwd + bwd) * 1e-3  // the profile's kernel ms per step
                           : (fwd + bwd) / (cl.gemm_gflops * 1e9);
  if (mp > 1 && cl.step_ms > 0) {
    // compute.step_ms is the whole model at one rank: a rank's share is its FLOPs' share.
    cw.full_flops = step_flops(cfg, rc);
    if (cw.full_flops > 0) w.compute_s *= (fwd + bwd) / cw.full_flops;
  }
  // The mp collectives within a group on one node (consecutive ranks), or across nodes if it spans them.
  cw.mp_link = mp <= cl.ranks_per_node ? cl.intra : cl.inter;
  for (const scale::MpCollective& o : cw.mp_ops) (o.allgather ? cw.mp_gather_bytes : cw.mp_reduce_bytes) += o.bytes;
  w.mp_s = scale::mp_collectives_s(cw.mp_ops, mp, cw.mp_link);
  // Forward/backward split by FLOPs; without any, backward by parameter bytes over 2/3 of the step.
  const double bwd_share = fwd + bwd > 0 ? bwd / (fwd + bwd) : 2.0 / 3.0;
  cw.t_fwd = w.compute_s * (1 - bwd_share);
  cw.t_bwd = w.compute_s * bwd_share;
  double bytes_so_far = 0;
  for (size_t m = 0; m < plan.order.size(); ++m) {  // the bucketer's tensors: backward order
    const int gi = plan.order[m];
    const double b = double(plan.bucketer.tensors()[m].bytes);
    bytes_so_far += b;
    const double share = bwd > 0 ? cum[size_t(grads[size_t(gi)].node())] / bwd : bytes_so_far / w.param_bytes;
    w.grad_bytes.push_back(b);
    w.grad_ready_s.push_back(cw.t_fwd + cw.t_bwd * share);
  }

  // Memory per rank: parameters, gradients, optimizer slots, the executor's planned arena.
  cw.slots = optim::make_optimizer(rc.optimizer.options)->slots().size();
  // One rank fetches the loss and the gradients; more ranks fetch the bucket
  // nodes' outputs, so the graph gets the strategy's rewrite (one allreduce
  // node per bucket, the loss in the last) and is planned again.
  try {
    cw.arena = Executor(g).stats(feeds, fetch).arena_bytes;
    if (w.mode == "allreduce-sync") {
      std::vector<Value> reduced;
      for (size_t b = 0; b < buckets.size(); ++b) {
        std::vector<Value> in;
        for (int m : buckets[b].members) in.push_back(grads[size_t(plan.order[size_t(m)])]);
        if (b + 1 == buckets.size()) in.push_back(mg.loss);
        for (const Value& v : comm::allreduce(g, in, int64_t(b), comm::ReduceOp::Mean)) reduced.push_back(v);
      }
      cw.arena_n = Executor(g).stats(feeds, reduced).arena_bytes;
    } else {
      cw.arena_n = cw.arena;
    }
  } catch (const Error& e) {
    cw.arena_note = std::string(" (arena not planned: ") + e.what() + ")";
  }
  return cw;
}

// --target N: the best bucket_mb (allreduce) or ps server count, and the mp degree.
void suggest(const scale::Workload& w0, double bucket_mb, const scale::Cluster& cl, int n, bool tensor_parallel,
             const std::string& model) {
  const scale::Row one1 = scale::predict(w0, scale::bucket(w0, bucket_mb), cl, std::max(1, w0.mp));
  scale::Row one = one1;
  if (!one.ok) one.step_s = w0.compute_s + w0.mp_s;  // ps: no worker at one rank, the compute alone
  auto say = [&](const std::string& what, const scale::Row& r, const scale::Row& now) {
    fmt::print("# suggest at {} ranks: {} -> step {:.3f} ms, efficiency {:.1f}% (now {:.3f} ms, {:.1f}%); "
               "dominant: {}\n", n, what, r.step_s * 1e3, 100 * one.step_s / r.step_s, now.step_s * 1e3,
               100 * one.step_s / now.step_s, r.dominant);
  };
  if (w0.mode == "allreduce-sync") {
    const scale::Row now = scale::predict(w0, scale::bucket(w0, bucket_mb), cl, n);
    double best_mb = -1;
    scale::Row best;
    std::string tried;
    std::vector<double> sizes = {1, 5, 10, 25, 50, 100};
    if (std::find(sizes.begin(), sizes.end(), bucket_mb) == sizes.end()) sizes.push_back(bucket_mb);
    std::sort(sizes.begin(), sizes.end());
    for (double mb : sizes) {
      const scale::Row r = scale::predict(w0, scale::bucket(w0, mb), cl, n);
      tried += fmt::format("{}{:g}: {:.3f}", tried.empty() ? "" : ", ", mb, r.step_s * 1e3);
      if (best_mb < 0 || r.step_s < best.step_s * (1 - 1e-9)) best_mb = mb, best = r;
    }
    say(fmt::format("bucket_mb {:g}{}", best_mb, best_mb == bucket_mb ? " (the config's)" : ""), best, now);
    fmt::print("#   step ms by bucket_mb: {}\n", tried);
    const scale::Row small = scale::predict(w0, scale::bucket(w0, sizes.front()), cl, n);
    std::string why;
    if (best.exposed_s <= 0) why = "every allreduce hides behind backward at this size";
    else if (best_mb == sizes.front()) why = "small buckets start their allreduce earlier behind backward, and at this rank count their 2(n-1)·α per bucket costs less than the wait";
    else if (best_mb == sizes.back()) why = "latency dominates: each bucket pays 2(n-1)·α on the ring, so fewer, larger buckets win";
    else why = fmt::format("a balance: below it the buckets' 2(n-1)·α each grow (α exposes {:.1f} ms at {:g} MiB), above it the "
                           "first allreduce starts later behind backward", small.alpha_part_s * 1e3, sizes.front());
    fmt::print("#   why: {}; what is left is {}\n", why, best.dominant);
  } else if (n >= 2) {
    const scale::Row now = scale::predict(w0, {}, cl, n);
    scale::Row best;
    int best_s = 0;
    for (int s = 1; s <= std::max(1, n / 2); ++s) {
      scale::Workload w = w0;
      w.servers = s;
      const scale::Row r = scale::predict(w, {}, cl, n);
      if (r.ok && (best_s == 0 || r.samples_per_s > best.samples_per_s * (1 + 1e-9))) best_s = s, best = r;
    }
    if (best_s > 0) {
      say(fmt::format("distributed.ps.servers {} (of 1..{}), {:.0f} samples/s", best_s, std::max(1, n / 2),
                      best.samples_per_s), best, now);
      fmt::print("#   why: {}\n", best.server_bound ? "the servers still carry W·2P/S each: more servers cost "
                                                      "workers, fewer overload the servers"
                                                    : "past this count a worker's own link (2P/β + 2S·α) is the "
                                                      "bound, and each server more is a worker less");
    }
  }
  if (!tensor_parallel) fmt::print("# suggest mp degree: 1 (model {} has no tensor-parallel layers)\n", model);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"scale_plan: predict a config's step time, efficiency, samples/s and memory at N ranks (flowtrain)",
               "scale_plan"};
  std::string config_path, cluster_path, ranks_s = "1,2,4,8,16,32,64,128,256,512,1024", json_out, profile_path;
  std::string calibrate_out, comm_bench_s, metrics_path, spec_path, shared_bench, fit_shared;
  std::vector<std::string> sets, shared_metrics;
  double sigma_ms = -1, spec_bucket_mb = 25;
  int target = 0;
  auto* config_opt = app.add_option("--config,-c", config_path, "YAML config file")->check(CLI::ExistingFile);
  auto* spec_opt = app.add_option("--model-spec", spec_path,
                                  "a model given by its gradient tensors and one device's step (configs/models/*.yaml)")
                       ->check(CLI::ExistingFile)
                       ->excludes(config_opt);
  auto* cluster_opt = app.add_option("--cluster", cluster_path, "cluster description (configs/clusters/*.yaml)")
                          ->check(CLI::ExistingFile);
  auto* cal = app.add_option("--calibrate-out", calibrate_out,
                             "write a cluster file for this host from --comm-bench and --metrics, and predict with it")
                  ->excludes(cluster_opt)
                  ->excludes(spec_opt);
  app.add_option("--comm-bench", comm_bench_s, "comm_bench outputs (mpirun -np N comm_bench > F), comma-separated")
      ->needs(cal);
  app.add_option("--metrics", metrics_path, "metrics.jsonl of a one-rank train run of the config")
      ->needs(cal)
      ->check(CLI::ExistingFile);
  app.add_option("--shared-bench", shared_bench,
                 "with --calibrate-out: a comm_bench at more ranks than this host's cores, for the shared cores' copy "
                 "rate and scheduling delay per collective")
      ->needs(cal)
      ->check(CLI::ExistingFile);
  app.add_option("--shared-metrics", shared_metrics,
                 "with --calibrate-out: metrics.jsonl of one-rank runs of the config started together, more than this "
                 "host's cores, for the shared cores' compute_share (comma-separated)")
      ->needs(cal)
      ->delimiter(',');
  app.add_option("--fit-shared", fit_shared,
                 "with --cluster: fit the copy rate and the scheduling delay of the link this comm_bench (more ranks "
                 "than the cluster's shared cores) crosses, the file's other figures known; print them and exit")
      ->needs(cluster_opt)
      ->check(CLI::ExistingFile);
  app.add_option("--ranks", ranks_s, "rank counts, comma-separated");
  app.add_option("--set", sets, "override a config key: --set distributed.bucket_mb=4 (repeatable)")->needs(config_opt);
  app.add_option("--bucket-mb", spec_bucket_mb, "with --model-spec: the fusion bucket size (default 25)")
      ->needs(spec_opt)
      ->check(CLI::Range(0.0, 1e6));
  app.add_option("--sigma-ms", sigma_ms, "a rank's step-time standard deviation (overrides compute.sigma_ms)")
      ->check(CLI::Range(0.0, 1e9));
  app.add_option("--target", target, "suggest bucket_mb, ps servers and the mp degree for this rank count")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--json", json_out, "also write the table as JSON (scripts/plot_scale.py draws it)");
  app.add_option("--profile", profile_path,
                 "profile.json of a one-rank run with train.profile=true: per-op kernel times replace FLOPs for "
                 "the forward/backward split and the gradients' ready times (and the step, without compute.step_ms)")
      ->needs(config_opt)
      ->check(CLI::ExistingFile);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "scale_plan: %s (see scale_plan --help)\n", e.what());
    return 2;
  }
  if (!fit_shared.empty()) {
    try {
      const scale::Cluster c = scale::Cluster::load(cluster_path);
      const scale::SharedFit f = scale::fit_shared_cores(scale::read_comm_bench(fit_shared), c);
      const char* link = f.inter ? "inter" : "intra";
      fmt::print("{}_copy_gbs: {:.4f}\n{}_sched_us: {:.1f}\n# {} at o = {:g} on {}: the {} link's copies at {:.4f} GB/s "
                 "and a scheduling delay of {:.1f} µs per collective\n", link, f.copy / 1e9, link, f.sched_s * 1e6,
                 fit_shared, f.over, cluster_path, link, f.copy / 1e9, f.sched_s * 1e6);
      return 0;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "scale_plan: %s\n", e.what());
      return 1;
    }
  }
  if (config_path.empty() && spec_path.empty()) {
    std::fprintf(stderr, "scale_plan: --config or --model-spec is required (see scale_plan --help)\n");
    return 2;
  }
  if (cluster_path.empty() && calibrate_out.empty()) {
    std::fprintf(stderr, "scale_plan: --cluster or --calibrate-out is required (see scale_plan --help)\n");
    return 2;
  }
  if (!calibrate_out.empty() && (comm_bench_s.empty() || metrics_path.empty())) {
    std::fprintf(stderr, "scale_plan: --calibrate-out needs --comm-bench and --metrics (see scale_plan --help)\n");
    return 2;
  }
  try {
    std::vector<int> ranks = parse_ranks(ranks_s);
    scale::Workload w;
    double bucket_mb = spec_bucket_mb;
    std::string model_name, source;
    bool tensor_parallel = false;
    scale::Cluster cl;
    ConfigWork cw;
    OpProfile prof;
    if (!spec_path.empty()) {
      const scale::ModelSpec spec = scale::ModelSpec::load(spec_path);
      cl = scale::Cluster::load(cluster_path);
      w = scale::workload_of(spec, &cl);
      model_name = spec.name;
      source = spec_path;
      fmt::print("# scale_plan: {} ({}), allreduce-sync, batch {} per rank, bucket_mb {:g}\n", spec_path, spec.name,
                 spec.batch, bucket_mb);
      fmt::print("# {} gradient tensors, {} MiB ({:g} bytes per parameter); one device's step {:.3f} ms (the "
                 "model file's), backward {:.0f}% of it, spread evenly over the tensors\n",
                 spec.tensor_params.size(), mib(w.param_bytes), spec.gradient_bytes, spec.step_s * 1e3,
                 100 * spec.backward_share);
      if (spec.global_batch > 0)
        fmt::print("# global batch {}: a replica runs global/(replicas·{}) micro-batches per step, the gradients ready "
                   "in the last\n", spec.global_batch, spec.batch);
      if (!spec.overlap_grad_sync) fmt::print("# overlap_grad_sync false: the gradient sync starts after backward\n");
      if (spec.tp > 1) {
        const auto ops = scale::tp_collectives(spec);
        fmt::print("# tensor parallel {}: a device computes {:.3f} ms per micro-batch and holds {} MiB of gradients; {} "
                   "allreduces of {} MiB per micro-batch ({} layers x {}) on the {} link: {:.3f} ms on the critical "
                   "path; N ranks are N/{} replicas\n",
                   spec.tp, w.compute_s * 1e3, mib(w.param_bytes), ops.size(), mib(ops.empty() ? 0 : ops[0].bytes),
                   spec.tp_layers, spec.allreduces_per_layer, spec.tp <= cl.ranks_per_node ? "intra-node" : "inter-node",
                   w.mp_s * 1e3, w.mp);
      }
      if (spec.stages > 1)
        fmt::print("# pipeline {} stages (1F1B): a device computes {:.3f} ms per micro-batch; {} MiB per micro-batch at "
                   "a stage boundary, {:.3f} ms each way on the {} link; bubble (stages-1)·micro-batch; N ranks are "
                   "N/{} replicas\n",
                   spec.stages, w.compute_s * 1e3, mib(spec.pp_bytes), w.p2p_s * 1e3,
                   w.mp <= cl.ranks_per_node ? "intra-node" : "inter-node", w.mp);
    } else {
      const Config cfg = Config::load(config_path, sets);
      const RunConfig rc(cfg);
      if (!calibrate_out.empty()) {
        calibrate(calibrate_out, comm_bench_s, metrics_path, rc, *std::max_element(ranks.begin(), ranks.end()),
                  shared_bench, shared_metrics);
        cluster_path = calibrate_out;
      }
      cl = scale::Cluster::load(cluster_path);
      const std::string mode = rc.distributed.mode;
      if (mode != "allreduce-sync" && mode != "ps-sync" && mode != "ps-async")
        rc.fail("distributed.mode", "= " + mode + ": scale_plan models allreduce-sync, ps-sync and ps-async");
      if (rc.precision != "fp32")
        fmt::print("# precision {}: modelled as fp32 (the variables and their gradients are f32; compute.step_ms "
                   "should be measured in {})\n", rc.precision, rc.precision);
      if (!profile_path.empty()) prof = OpProfile::load(profile_path);
      cw = config_work(cfg, rc, cl, profile_path.empty() ? nullptr : &prof);
      w = cw.w;
      if (rc.distributed.deterministic && mode != "allreduce-sync")
        rc.fail("distributed.deterministic", ": scale_plan models deterministic mode with allreduce-sync only");
      w.deterministic = rc.distributed.deterministic;
      bucket_mb = rc.distributed.bucket_mb;
      model_name = rc.model;
      source = config_path;
      tensor_parallel = cw.tensor_parallel;
      fmt::print("# scale_plan: {} ({}), {}, batch {} per rank, bucket_mb {:g}\n", config_path, rc.model, mode,
                 w.batch, bucket_mb);
      fmt::print("# {} parameters, {} MiB; {} per step: forward {:.3g}, backward {:.3g}\n", cw.params,
                 mib(w.param_bytes), profile_path.empty() ? "matmul/conv FLOPs" : "profiled kernel ms", cw.fwd_flops,
                 cw.bwd_flops);
      if (w.mp > 1)
        fmt::print("# model parallel {}: a rank holds its share ({} matmul/conv FLOPs of the whole model's {:.4g}); "
                   "{} mp collectives per step ({} MiB allreduced, {} MiB gathered) on the {} link: {:.3f} ms on the "
                   "critical path; N ranks are N/{} replicas\n",
                   w.mp, fmt::format("{:.4g}", cw.fwd_flops + cw.bwd_flops),
                   cw.full_flops > 0 ? cw.full_flops : step_flops(cfg, rc), cw.mp_ops.size(),
                   mib(cw.mp_reduce_bytes), mib(cw.mp_gather_bytes), w.mp <= cl.ranks_per_node ? "intra-node" : "inter-node",
                   w.mp_s * 1e3, w.mp);
      fmt::print("# compute per step {:.3f} ms ({}), forward {:.3f} ms, backward {:.3f} ms\n", w.compute_s * 1e3,
                 cl.step_ms > 0 ? std::string("compute.step_ms") + (profile_path.empty() ? "" : ", split by " + profile_path)
                 : !profile_path.empty() ? "kernel time per step in " + profile_path
                                : fmt::format("{:.4g} FLOPs at {} GFLOP/s", cw.fwd_flops + cw.bwd_flops, cl.gemm_gflops),
                 cw.t_fwd * 1e3, cw.t_bwd * 1e3);
    }
    if (sigma_ms >= 0) cl.sigma_s = sigma_ms * 1e-3;
    const scale::Buckets buckets = scale::bucket(w, bucket_mb);

    fmt::print("# cluster {} ({}): {} ranks per node{}, intra α {:.1f} µs β {:.2f} GB/s, inter α {:.1f} µs β {:.2f} GB/s{}\n",
               cl.name, cl.file, cl.ranks_per_node,
               cl.cores_per_node > 0
                   ? (cl.shared_nodes > 1 ? fmt::format(", {} nodes sharing {} cores", cl.shared_nodes, cl.cores_per_node)
                                          : fmt::format(" on {} cores", cl.cores_per_node)) +
                         (cl.intra_copy > 0 || cl.inter_copy > 0
                              ? fmt::format(" (copies {:.2f}/{:.2f} GB/s a core intra/inter)", cl.intra_copy / 1e9,
                                            cl.inter_copy / 1e9)
                              : std::string())
                   : std::string(),
               cl.intra.alpha_s * 1e6, cl.intra.beta / 1e9, cl.inter.alpha_s * 1e6, cl.inter.beta / 1e9,
               cl.overlap ? "" : ", no overlap (comm on the compute thread)");
    fmt::print("# straggler: σ {:.3f} ms per rank step{}\n", cl.sigma_s * 1e3,
               cl.sigma_s > 0 ? ", the step waits for the slowest: + σ·sqrt(2 ln N)" : " (none given: column 0)");
    if (w.deterministic) {
      fmt::print("# deterministic: after the whole step, an alltoall of each rank's {} MiB partial in shards, a tree "
                 "sum per shard and an allgather, on the compute thread (no overlap; buckets unused); compute.step_ms "
                 "should be measured in deterministic mode\n", mib(w.param_bytes));
    } else if (w.mode == "allreduce-sync") {
      fmt::print("# {} buckets (backward order, the strategy's bucketing):\n", buckets.bytes.size());
      if (buckets.bytes.size() <= 40)
        for (size_t b = 0; b < buckets.bytes.size(); ++b)
          fmt::print("#   bucket {}: {} MiB, ready at {:.3f} ms\n", b, mib(buckets.bytes[b]), buckets.ready_s[b] * 1e3);
    } else {
      fmt::print("# {} parameter server(s) of the N ranks; the others are workers\n", w.servers);
    }
    if (spec_path.empty())
      fmt::print("# memory per rank: parameters + gradients + {} optimizer slot(s) + the executor's arena, {} MiB at "
                 "one rank, {} MiB above{}{}\n", cw.slots, mib(double(cw.arena)),
                 mib(double(w.deterministic ? cw.arena : cw.arena_n)), cw.arena_note,
                 w.deterministic ? " (deterministic: the step's own fetch, no bucket nodes, planned at the full batch; "
                                   "the reduction's flat buffers, a few times the gradients, are not counted)"
                                 : "");

    if (cl.cores_per_node > 0 && (cl.intra_copy > 0 || cl.inter_copy > 0 || cl.intra_sched_s > 0 || cl.inter_sched_s > 0))
      fmt::print("# shared cores: exposed_ms includes the comm copies' added time (o - 1)·copy and the collectives' "
                 "scheduling delay (o - 1)·d·(buckets + 1) when the cores are oversubscribed (json copy_ms, sched_ms)\n");
    nlohmann::json out = {{"config", source}, {"cluster", cl.name}, {"mode", w.mode}, {"rows", nlohmann::json::array()}};
    fmt::print("{:>6} {:>10} {:>11} {:>12} {:>13} {:>10} {:>12} {:>11}  {}\n", "ranks", "step_ms", "compute_ms",
               "straggler_ms", "exposed_ms", "effic.", "samples/s", "mem_MiB", "dominant");
    // The baseline: one replica (mp ranks), its compute alone for ps.
    const scale::Row one = scale::predict(w, buckets, cl, std::max(1, w.mp));
    const double step1 = one.ok ? one.step_s : w.compute_s + w.mp_s;
    for (int n : ranks) {
      const scale::Row r = scale::predict(w, buckets, cl, n);
      if (!r.ok) {
        fmt::print("{:>6} {:>10}  ({})\n", n, "-", r.dominant);
        continue;
      }
      double mem = -1;
      if (spec_path.empty())
        mem = w.mode == "allreduce-sync"
                  ? w.param_bytes * double(2 + cw.slots) + double(n > 1 && !w.deterministic ? cw.arena_n : cw.arena)
                  : w.param_bytes * 2 + double(cw.arena);  // a worker; a server holds 1/servers of params and slots
      // A fixed global batch: per-replica samples/s against one replica's (its step grows with the batch it runs).
      const double effic = w.global_batch > 0 ? r.samples_per_s / (double(n) / std::max(1, w.mp)) / one.samples_per_s
                                              : step1 / r.step_s;
      const std::string eff = fmt::format("{:.1f}%", 100 * effic);
      fmt::print("{:>6} {:>10.3f} {:>11.3f} {:>12.3f} {:>13.3f} {:>10} {:>12.0f} {:>11}  {}\n", n, r.step_s * 1e3,
                 r.compute_s * 1e3, r.straggler_s * 1e3, (r.exposed_s + r.copy_s + r.sched_s) * 1e3, eff, r.samples_per_s,
                 mem >= 0 ? mib(mem) : std::string("-"), r.dominant);
      nlohmann::json row = {{"ranks", n}, {"step_ms", r.step_s * 1e3}, {"compute_ms", r.compute_s * 1e3},
                            {"straggler_ms", r.straggler_s * 1e3}, {"exposed_ms", r.exposed_s * 1e3},
                            {"copy_ms", r.copy_s * 1e3}, {"sched_ms", r.sched_s * 1e3}, {"efficiency", effic},
                            {"samples_per_sec", r.samples_per_s}, {"dominant", r.dominant}};
      row["memory_mib"] = mem >= 0 ? nlohmann::json(mem / double(1 << 20)) : nlohmann::json(nullptr);
      out["rows"].push_back(row);
    }
    if (target > 0) suggest(w, bucket_mb, cl, target, tensor_parallel, model_name);
    if (target > 0 && tensor_parallel) {
      // The mp degrees: powers of two up to a node and the target that the model's shapes divide.
      int best_mp = 0;
      scale::Row best;
      std::string tried;
      for (int k = 1; k <= std::min(cl.ranks_per_node, target); k *= 2) {
        if (target % k != 0) continue;
        std::vector<std::string> s2 = sets;
        s2.push_back("distributed.model_parallel=" + std::to_string(k));
        try {
          const Config c2 = Config::load(config_path, s2);
          const RunConfig r2(c2);
          const ConfigWork w2 = config_work(c2, r2, cl, profile_path.empty() ? nullptr : &prof);
          const scale::Row r = scale::predict(w2.w, scale::bucket(w2.w, bucket_mb), cl, target);
          tried += fmt::format("{}{}: {:.0f}", tried.empty() ? "" : ", ", k, r.samples_per_s);
          if (r.ok && (best_mp == 0 || r.samples_per_s > best.samples_per_s * (1 + 1e-9))) best_mp = k, best = r;
        } catch (const std::exception& e) {
          tried += fmt::format("{}{}: not built ({})", tried.empty() ? "" : ", ", k, e.what());
        }
      }
      if (best_mp > 0) {
        fmt::print("# suggest mp degree at {} ranks: {} -> {:.0f} samples/s, step {:.3f} ms; dominant: {}\n", target,
                   best_mp, best.samples_per_s, best.step_s * 1e3, best.dominant);
        fmt::print("#   samples/s by mp degree: {}\n", tried);
        fmt::print("#   why: {}\n",
                   best_mp == 1 ? "at the same data.batch_size, mp k leaves N/k replicas: a share's shorter compute does not make up for the replicas given up and the mp collectives"
                                : "the smaller share and the smaller data-parallel allreduce (fewer replicas, a 1/mp "
                                  "share of the gradients) outweigh the mp collectives on the critical path");
      }
    }
    if (!json_out.empty()) {
      std::ofstream f(json_out);
      if (!(f << out.dump(2) << "\n")) throw Error(json_out + ": cannot write the JSON table");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "scale_plan: %s\n", e.what());
    return 1;
  }
  return 0;
}
