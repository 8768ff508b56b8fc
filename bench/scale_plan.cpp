// scale_plan.cpp — predicts a config's step time, exposed communication,
// scaling efficiency, samples/s and memory per rank at N ranks from a cluster
// description (configs/clusters/*.yaml) and the config's own graph:
//
//   scale_plan --config C.yaml --cluster configs/clusters/K.yaml [--ranks 1,2,4,...,1024]
//              [--set k=v ...] [--json FILE]
//   scale_plan --config C.yaml --calibrate-out this_machine.yaml --comm-bench np2.txt[,np4.txt]
//              --metrics RUN_DIR/metrics.jsonl [--ranks ...]
//
// --calibrate-out writes a cluster file for this host and predicts with it: α
// and β fitted to comm_bench's flowtrain (auto) column (train/scale_model.h
// fit_link), compute.step_ms = batch / the median samples_per_sec of a one-rank
// run's metrics (its first record, the warm-up, left out), all ranks on this
// node (ranks_per_node = the largest of --ranks), cores_per_node = its hardware
// threads, overlap false (on one node the shared-memory allreduce runs on the
// executor's thread, docs/PERFORMANCE.md).
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
#include <thread>
#include <nlohmann/json.hpp>

#include "comm/comm_ops.h"
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

// --calibrate-out: the cluster file of this host (see the top of the file).
void calibrate(const std::string& out, const std::string& comm_bench_files, const std::string& metrics,
               const RunConfig& rc, int max_ranks) {
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
  std::vector<double> sps;
  std::ifstream m(metrics);
  int line_no = 0;
  for (std::string line; std::getline(m, line);) {
    ++line_no;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception&) {
      throw Error(metrics + ":" + std::to_string(line_no) + ": not valid JSON");
    }
    if (j.contains("samples_per_sec") && !j.contains("eval")) sps.push_back(j["samples_per_sec"].get<double>());
  }
  if (sps.size() > 1) sps.erase(sps.begin());  // the first interval holds the warm-up
  if (sps.empty()) throw Error(metrics + ": no record with samples_per_sec");
  std::sort(sps.begin(), sps.end());
  const double median = sps[sps.size() / 2];
  const double step_ms = double(rc.data.batch_size) * 1e3 / median;
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  std::ofstream f(out);
  f << fmt::format(
      "# This host, calibrated by scale_plan --calibrate-out.\n"
      "#   α, β: fitted to the flowtrain (auto) column of {} ({} of {} sizes kept)\n"
      "#   compute.step_ms: batch {} / median samples_per_sec {:.0f} of {} (one rank)\n"
      "#   every rank on this node; overlap false: on one node the shared-memory allreduce runs on the\n"
      "#   executor's thread\n"
      "name: this machine\n"
      "ranks_per_node: {}\n"
      "cores_per_node: {}\n"
      "overlap: false\n"
      "compute: {{step_ms: {:.4f}}}\n"
      "intra: {{alpha_us: {:.3f}, beta_gbs: {:.4f}}}\n"
      "inter: {{alpha_us: {:.3f}, beta_gbs: {:.4f}}}\n",
      sources, kept, samples.size(), rc.data.batch_size, median, metrics, max_ranks, cores, step_ms,
      l.alpha_s * 1e6, l.beta / 1e9, l.alpha_s * 1e6, l.beta / 1e9);
  if (!f) throw Error(out + ": cannot write the cluster file");
  fmt::print("# calibrated {}: α {:.3f} µs, β {:.4f} GB/s ({} of {} comm_bench sizes), step_ms {:.4f}\n", out,
             l.alpha_s * 1e6, l.beta / 1e9, kept, samples.size(), step_ms);
}

std::string mib(double b) { return fmt::format("{:.1f}", b / double(1 << 20)); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"scale_plan: predict a config's step time, efficiency, samples/s and memory at N ranks (flowtrain)",
               "scale_plan"};
  std::string config_path, cluster_path, ranks_s = "1,2,4,8,16,32,64,128,256,512,1024", json_out;
  std::string calibrate_out, comm_bench_s, metrics_path;
  std::vector<std::string> sets;
  app.add_option("--config,-c", config_path, "YAML config file")->required()->check(CLI::ExistingFile);
  auto* cluster_opt = app.add_option("--cluster", cluster_path, "cluster description (configs/clusters/*.yaml)")
                          ->check(CLI::ExistingFile);
  auto* cal = app.add_option("--calibrate-out", calibrate_out,
                             "write a cluster file for this host from --comm-bench and --metrics, and predict with it")
                  ->excludes(cluster_opt);
  app.add_option("--comm-bench", comm_bench_s, "comm_bench outputs (mpirun -np N comm_bench > F), comma-separated")
      ->needs(cal);
  app.add_option("--metrics", metrics_path, "metrics.jsonl of a one-rank train run of the config")
      ->needs(cal)
      ->check(CLI::ExistingFile);
  app.add_option("--ranks", ranks_s, "rank counts, comma-separated");
  app.add_option("--set", sets, "override a config key: --set distributed.bucket_mb=4 (repeatable)");
  app.add_option("--json", json_out, "also write the table as JSON (scripts/plot_scale.py draws it)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "scale_plan: %s (see scale_plan --help)\n", e.what());
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
    const Config cfg = Config::load(config_path, sets);
    const RunConfig rc(cfg);
    const std::vector<int> ranks = parse_ranks(ranks_s);
    if (!calibrate_out.empty()) {
      calibrate(calibrate_out, comm_bench_s, metrics_path, rc, *std::max_element(ranks.begin(), ranks.end()));
      cluster_path = calibrate_out;
    }
    const scale::Cluster cl = scale::Cluster::load(cluster_path);
    const std::string mode = rc.distributed.mode;
    if (rc.distributed.model_parallel > 1)
      rc.fail("distributed.model_parallel", "> 1: scale_plan does not model model-parallel collectives yet");
    if (rc.distributed.deterministic)
      rc.fail("distributed.deterministic", ": scale_plan models the bucketed allreduce, not the deterministic allgather");
    if (mode != "allreduce-sync" && mode != "ps-sync" && mode != "ps-async")
      rc.fail("distributed.mode", "= " + mode + ": scale_plan models allreduce-sync, ps-sync and ps-async");
    const int64_t batch = rc.data.batch_size;
    if (rc.precision != "fp32")
      fmt::print("# precision {}: modelled as fp32 (the variables and their gradients are f32; compute.step_ms "
                 "should be measured in {})\n", rc.precision, rc.precision);

    // The graph, as the Trainer builds it (fp32; train/trainer.cpp build_graph).
    Graph g(rc.train.seed);
    const ModelGraph mg = build_model(g, cfg);
    const std::vector<Value> params = g.trainable();
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
    for (int id : Executor(g).order(feeds, fetch)) node_f[size_t(id)] = node_flops(shapes, g.node(id));
    std::vector<double> cum(size_t(g.num_nodes()), 0.0);  // backward FLOPs up to node id
    double fwd = 0, bwd = 0;
    for (int id = 0; id < g.num_nodes(); ++id) {
      if (id <= loss_node) fwd += node_f[size_t(id)];
      else bwd += node_f[size_t(id)];
      cum[size_t(id)] = bwd;
    }
    double param_bytes = 0;
    for (const Value& p : params) param_bytes += double(g.value(p).bytes());
    if (fwd + bwd <= 0 && cl.step_ms <= 0)
      throw Error(cl.file + ": key 'compute.gemm_gflops': the graph has no matmul or conv2d to time; give compute.step_ms");
    const double compute_s = cl.step_ms > 0 ? cl.step_ms * 1e-3 : (fwd + bwd) / (cl.gemm_gflops * 1e9);
    // Forward/backward split by FLOPs; without any, backward by parameter bytes over 2/3 of the step.
    const double bwd_share = fwd + bwd > 0 ? bwd / (fwd + bwd) : 2.0 / 3.0;
    const double t_fwd = compute_s * (1 - bwd_share), t_bwd = compute_s * bwd_share;
    std::vector<double> ready(buckets.size());
    double bytes_so_far = 0;
    for (size_t b = 0; b < buckets.size(); ++b) {
      double r = 0;
      for (int m : buckets[b].members) {
        const int gi = plan.order[size_t(m)];
        bytes_so_far += double(plan.bucketer.tensors()[size_t(m)].bytes);
        const double share = bwd > 0 ? cum[size_t(grads[size_t(gi)].node())] / bwd : bytes_so_far / param_bytes;
        r = std::max(r, t_fwd + t_bwd * share);
      }
      ready[b] = r;
    }
    if (!ready.empty()) ready.back() = compute_s;  // the loss rides in the last bucket: it waits for the whole step

    // Memory per rank: parameters, gradients, optimizer slots, the executor's planned arena.
    const size_t slots = optim::make_optimizer(rc.optimizer.options)->slots().size();
    // One rank fetches the loss and the gradients; more ranks fetch the bucket
    // nodes' outputs, so the graph gets the strategy's rewrite (one allreduce
    // node per bucket, the loss in the last) and is planned again.
    size_t arena = 0, arena_n = 0;
    std::string arena_note;
    try {
      arena = Executor(g).stats(feeds, fetch).arena_bytes;
      if (mode == "allreduce-sync") {
        std::vector<Value> reduced;
        for (size_t b = 0; b < buckets.size(); ++b) {
          std::vector<Value> in;
          for (int m : buckets[b].members) in.push_back(grads[size_t(plan.order[size_t(m)])]);
          if (b + 1 == buckets.size()) in.push_back(mg.loss);
          for (const Value& v : comm::allreduce(g, in, int64_t(b), comm::ReduceOp::Mean)) reduced.push_back(v);
        }
        arena_n = Executor(g).stats(feeds, reduced).arena_bytes;
      } else {
        arena_n = arena;
      }
    } catch (const Error& e) {
      arena_note = std::string(" (arena not planned: ") + e.what() + ")";
    }

    fmt::print("# scale_plan: {} ({}), {}, batch {} per rank, bucket_mb {}\n", config_path, rc.model, mode, batch,
               rc.distributed.bucket_mb);
    fmt::print("# cluster {} ({}): {} ranks per node{}, intra α {:.1f} µs β {:.2f} GB/s, inter α {:.1f} µs β {:.2f} GB/s{}\n",
               cl.name, cl.file, cl.ranks_per_node,
               cl.cores_per_node > 0 ? fmt::format(" on {} cores", cl.cores_per_node) : std::string(),
               cl.intra.alpha_s * 1e6, cl.intra.beta / 1e9, cl.inter.alpha_s * 1e6, cl.inter.beta / 1e9,
               cl.overlap ? "" : ", no overlap (comm on the compute thread)");
    fmt::print("# {} parameters, {} MiB; matmul/conv FLOPs per step: forward {:.3g}, backward {:.3g}\n",
               params.size(), mib(param_bytes), fwd, bwd);
    fmt::print("# compute per step {:.3f} ms ({}), forward {:.3f} ms, backward {:.3f} ms\n", compute_s * 1e3,
               cl.step_ms > 0 ? "compute.step_ms" : fmt::format("{:.4g} FLOPs at {} GFLOP/s", fwd + bwd, cl.gemm_gflops),
               t_fwd * 1e3, t_bwd * 1e3);
    if (mode == "allreduce-sync") {
      fmt::print("# {} buckets (backward order, strategy's plan):\n", buckets.size());
      for (size_t b = 0; b < buckets.size(); ++b)
        fmt::print("#   bucket {}: {} tensors, {} MiB, ready at {:.3f} ms\n", b, buckets[b].members.size(),
                   mib(double(buckets[b].bytes)), ready[b] * 1e3);
    } else {
      fmt::print("# {} parameter server(s) of the N ranks; the others are workers\n", rc.distributed.ps.servers);
    }
    fmt::print("# memory per rank: parameters + gradients + {} optimizer slot(s) + the executor's arena, {} MiB at "
               "one rank, {} MiB above{}\n", slots, mib(double(arena)), mib(double(arena_n)), arena_note);

    nlohmann::json out = {{"config", config_path}, {"cluster", cl.name}, {"mode", mode}, {"rows", nlohmann::json::array()}};
    fmt::print("{:>6} {:>10} {:>11} {:>13} {:>10} {:>12} {:>11}  {}\n", "ranks", "step_ms", "compute_ms",
               "exposed_ms", "effic.", "samples/s", "mem_MiB", "dominant");
    const double step1 = compute_s;  // one rank: no communication
    for (int n : ranks) {
      // Oversubscription: more ranks on a node than cores share them.
      const int on_node = std::min(n, cl.ranks_per_node);
      const double share = cl.cores_per_node > 0 ? std::max(1.0, double(on_node) / cl.cores_per_node) : 1.0;
      const double comp = compute_s * share;
      double step = comp, exposed = 0, lat = 0, bw = 0, samples = 0, mem = 0;
      std::string note;
      if (mode == "allreduce-sync") {
        std::vector<double> comm_s(buckets.size()), rd(ready);
        scale::Cluster lat_only = cl, bw_only = cl;
        lat_only.intra.beta = lat_only.inter.beta = std::numeric_limits<double>::infinity();
        bw_only.intra.alpha_s = bw_only.inter.alpha_s = 0;
        for (size_t b = 0; b < buckets.size(); ++b) {
          const double bytes = double(buckets[b].bytes) + (b + 1 == buckets.size() ? 4.0 : 0.0);  // + the loss
          comm_s[b] = scale::allreduce_s(bytes, n, cl);
          lat += scale::allreduce_s(bytes, n, lat_only);
          bw += scale::allreduce_s(bytes, n, bw_only);
          rd[b] *= share;
        }
        const scale::Overlap o = scale::overlap(rd, comm_s, comp);
        exposed = cl.overlap ? o.exposed_s : o.comm_busy_s;
        step = comp + exposed;
        samples = double(n) * double(batch) / step;
        mem = param_bytes * double(2 + slots) + double(n > 1 ? arena_n : arena);
      } else {
        const int servers = rc.distributed.ps.servers, workers = n - servers;
        if (workers < 1) {
          fmt::print("{:>6} {:>10}  (needs more ranks than distributed.ps.servers)\n", n, "-");
          continue;
        }
        const scale::Link& l = n > cl.ranks_per_node ? cl.inter : cl.intra;
        const scale::PsTime t = scale::ps_time(param_bytes, workers, servers, l);
        step = scale::ps_step_s(comp, t, mode == "ps-sync");
        exposed = step - comp;
        const scale::PsTime tl = scale::ps_time(param_bytes, workers, servers, {l.alpha_s, std::numeric_limits<double>::infinity()});
        lat = std::max(tl.server_s, tl.worker_s);
        bw = std::max(t.server_s, t.worker_s) - lat;
        note = t.server_s > t.worker_s ? " at the servers" : " on a worker's link";
        samples = double(workers) * double(batch) / step;
        mem = param_bytes * 2 + double(arena);  // a worker; a server holds 1/servers of params and slots
      }
      // The larger of compute and exposed communication; the communication's own
      // larger part (α: messages, β: bytes) as well once it shows at all.
      const std::string part = lat > bw ? "latency (α)" : "bandwidth (β)";
      const std::string dom = exposed <= 0 ? "compute (comm hidden)"
                              : comp >= exposed ? "compute; comm mostly " + part + note
                                                : "comm " + part + note;
      const std::string eff = fmt::format("{:.1f}%", 100 * step1 / step);
      fmt::print("{:>6} {:>10.3f} {:>11.3f} {:>13.3f} {:>10} {:>12.0f} {:>11}  {}\n", n, step * 1e3, comp * 1e3,
                 exposed * 1e3, eff, samples, mib(mem), dom);
      out["rows"].push_back({{"ranks", n}, {"step_ms", step * 1e3}, {"compute_ms", comp * 1e3},
                             {"exposed_ms", exposed * 1e3}, {"efficiency", step1 / step},
                             {"samples_per_sec", samples}, {"memory_mib", mem / double(1 << 20)}, {"dominant", dom}});
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
