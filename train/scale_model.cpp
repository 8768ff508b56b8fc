// scale_model.cpp — the α-β step model and the cluster file (scale_model.h).
#include "train/scale_model.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <set>

#include "comm/bucketing.h"
#include "core/tensor.h"

namespace ft {
namespace train {
namespace scale {

namespace {

std::string where(const std::string& file, const YAML::Node& n) {
  const YAML::Mark m = n.Mark();
  return m.line >= 0 ? file + ":" + std::to_string(m.line + 1) : file;
}

double number(const std::string& file, const YAML::Node& n, const std::string& key, double lo, double hi) {
  double v = 0;
  try {
    v = n.as<double>();
  } catch (const YAML::Exception&) {
    throw Error(where(file, n) + ": key '" + key + "' = " + (n.IsScalar() ? n.Scalar() : "(not a scalar)") +
                " is not a number");
  }
  if (!(v >= lo && v <= hi))
    throw Error(where(file, n) + ": key '" + key + "' = " + n.Scalar() + fmt::format(" is out of range [{:g}, {:g}]", lo, hi));
  return v;
}

void only_keys(const std::string& file, const YAML::Node& map, const std::string& prefix,
               const std::set<std::string>& known) {
  for (const auto& kv : map) {
    const std::string k = kv.first.as<std::string>();
    if (!known.count(k)) {
      std::string list;
      for (const auto& s : known) list += (list.empty() ? "" : ", ") + prefix + s;
      throw Error(where(file, kv.first) + ": unknown key '" + prefix + k + "' (known: " + list + ")");
    }
  }
}

Link link(const std::string& file, const YAML::Node& root, const std::string& name) {
  const YAML::Node n = root[name];
  if (!n) throw Error(file + ": missing key '" + name + "' (a map of alpha_us and beta_gbs)");
  if (!n.IsMap()) throw Error(where(file, n) + ": key '" + name + "' must be a map of alpha_us and beta_gbs");
  only_keys(file, n, name + ".", {"alpha_us", "beta_gbs"});
  for (const char* k : {"alpha_us", "beta_gbs"})
    if (!n[k]) throw Error(where(file, n) + ": missing key '" + name + "." + k + "'");
  Link l;
  l.alpha_s = number(file, n["alpha_us"], name + ".alpha_us", 0, 1e7) * 1e-6;
  l.beta = number(file, n["beta_gbs"], name + ".beta_gbs", 1e-6, 1e6) * 1e9;
  return l;
}

// A YAML file, or an error naming it (and the line, for a syntax error).
YAML::Node load_yaml(const std::string& path, const std::string& what) {
  try {
    return YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw Error(path + ": cannot read the " + what);
  } catch (const YAML::Exception& e) {
    throw Error(path + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

}  // namespace

Cluster Cluster::load(const std::string& path) {
  const YAML::Node root = load_yaml(path, "cluster file");
  if (!root.IsMap()) throw Error(path + ": a cluster file is a map (name, ranks_per_node, compute, intra, inter)");
  only_keys(path, root, "", {"name", "ranks_per_node", "cores_per_node", "shared_cores", "overlap", "compute", "intra", "inter"});
  Cluster c;
  c.file = path;
  c.name = root["name"] ? root["name"].as<std::string>() : path;
  if (!root["ranks_per_node"]) throw Error(path + ": missing key 'ranks_per_node'");
  c.ranks_per_node = int(number(path, root["ranks_per_node"], "ranks_per_node", 1, 1024));
  if (root["cores_per_node"]) c.cores_per_node = int(number(path, root["cores_per_node"], "cores_per_node", 1, 1 << 20));
  if (const YAML::Node sc = root["shared_cores"]) {
    if (!sc.IsMap()) throw Error(where(path, sc) + ": key 'shared_cores' must be a map (cores, nodes, ...)");
    if (root["cores_per_node"]) throw Error(where(path, sc) + ": give cores_per_node or shared_cores, not both");
    only_keys(path, sc, "shared_cores.", {"cores", "nodes", "threads_per_rank", "intra_copy_gbs", "inter_copy_gbs",
                                             "intra_sched_us", "inter_sched_us", "compute_share"});
    if (!sc["cores"]) throw Error(where(path, sc) + ": missing key 'shared_cores.cores'");
    c.cores_per_node = int(number(path, sc["cores"], "shared_cores.cores", 1, 1 << 20));
    if (sc["nodes"]) c.shared_nodes = int(number(path, sc["nodes"], "shared_cores.nodes", 1, 1 << 20));
    if (sc["threads_per_rank"])
      c.threads_per_rank = int(number(path, sc["threads_per_rank"], "shared_cores.threads_per_rank", 1, 1024));
    if (sc["intra_copy_gbs"]) c.intra_copy = number(path, sc["intra_copy_gbs"], "shared_cores.intra_copy_gbs", 1e-6, 1e6) * 1e9;
    if (sc["inter_copy_gbs"]) c.inter_copy = number(path, sc["inter_copy_gbs"], "shared_cores.inter_copy_gbs", 1e-6, 1e6) * 1e9;
    if (sc["compute_share"]) c.compute_share = number(path, sc["compute_share"], "shared_cores.compute_share", 1e-3, 1);
    if (sc["intra_sched_us"]) c.intra_sched_s = number(path, sc["intra_sched_us"], "shared_cores.intra_sched_us", 0, 1e9) * 1e-6;
    if (sc["inter_sched_us"]) c.inter_sched_s = number(path, sc["inter_sched_us"], "shared_cores.inter_sched_us", 0, 1e9) * 1e-6;
  }
  if (root["overlap"]) {
    try {
      c.overlap = root["overlap"].as<bool>();
    } catch (const YAML::Exception&) {
      throw Error(where(path, root["overlap"]) + ": key 'overlap' = " + root["overlap"].Scalar() + " is not true or false");
    }
  }
  const YAML::Node comp = root["compute"];
  if (!comp) throw Error(path + ": missing key 'compute' (step_ms or gemm_gflops)");
  if (!comp.IsMap()) throw Error(where(path, comp) + ": key 'compute' must be a map (step_ms or gemm_gflops)");
  only_keys(path, comp, "compute.", {"step_ms", "gemm_gflops", "sigma_ms"});
  if (comp["sigma_ms"]) c.sigma_s = number(path, comp["sigma_ms"], "compute.sigma_ms", 0, 1e9) * 1e-3;
  if (comp["step_ms"]) c.step_ms = number(path, comp["step_ms"], "compute.step_ms", 1e-6, 1e9);
  if (comp["gemm_gflops"]) c.gemm_gflops = number(path, comp["gemm_gflops"], "compute.gemm_gflops", 1e-6, 1e9);
  if ((c.step_ms > 0) == (c.gemm_gflops > 0))
    throw Error(where(path, comp) + ": key 'compute' needs exactly one of compute.step_ms and compute.gemm_gflops");
  c.intra = link(path, root, "intra");
  c.inter = link(path, root, "inter");
  return c;
}

double ring_allreduce_s(double bytes, int n, const Link& l) {
  if (n <= 1) return 0;
  const double k = double(n - 1);
  return 2 * k / n * bytes / l.beta + 2 * k * l.alpha_s;
}

double allreduce_s(double bytes, int n, const Cluster& c) {
  const int r = c.ranks_per_node;
  if (n <= 1) return 0;
  if (n <= r) return ring_allreduce_s(bytes, n, c.intra);
  if (r == 1) return ring_allreduce_s(bytes, n, c.inter);
  if (n % r != 0)
    throw Error(c.file + ": " + std::to_string(n) + " ranks are not a multiple of ranks_per_node = " +
                std::to_string(r));
  const int m = n / r;
  const double rs = double(r - 1) / r * bytes / c.intra.beta + double(r - 1) * c.intra.alpha_s;  // reduce-scatter
  return rs + ring_allreduce_s(bytes / r, m, c.inter) + rs;                                     // + allgather
}

Overlap overlap(const std::vector<double>& ready_s, const std::vector<double>& comm_s, double backward_end_s) {
  FT_CHECK(ready_s.size() == comm_s.size(), "overlap: one ready time per bucket");
  Overlap o;
  double free_at = 0;
  for (size_t k = 0; k < ready_s.size(); ++k) {
    free_at = std::max(ready_s[k], free_at) + comm_s[k];
    o.comm_busy_s += comm_s[k];
  }
  o.comm_end_s = free_at;
  o.exposed_s = std::max(0.0, free_at - backward_end_s);
  return o;
}

PsTime ps_time(double param_bytes, int workers, int servers, const Link& l) {
  PsTime t;
  if (workers < 1 || servers < 1) return t;
  t.server_s = double(workers) * 2 * param_bytes / (double(servers) * l.beta) + 2 * l.alpha_s;
  t.worker_s = 2 * param_bytes / l.beta + 2 * double(servers) * l.alpha_s;
  return t;
}

double ps_step_s(double compute_s, const PsTime& t, bool sync) {
  if (sync) return compute_s + std::max(t.server_s, t.worker_s);
  return std::max(compute_s + t.worker_s, t.server_s);
}

double straggler_s(double sigma_s, int n) {
  return n > 1 ? sigma_s * std::sqrt(2 * std::log(double(n))) : 0.0;
}

double step_sigma_s(const std::vector<double>& sps, const std::vector<double>& steps, double batch) {
  if (sps.size() < 2) return 0;
  double mean = 0, var = 0;
  for (double x : sps) mean += batch / x;
  mean /= double(sps.size());
  for (double x : sps) var += (batch / x - mean) * (batch / x - mean);
  var /= double(sps.size() - 1);
  const size_t k = steps.size();
  const double per_record = k >= 2 && steps[k - 1] > steps[k - 2] ? steps[k - 1] - steps[k - 2] : 1.0;
  return std::sqrt(var * per_record);
}

ModelSpec ModelSpec::load(const std::string& path) {
  const YAML::Node root = load_yaml(path, "model description");
  if (!root.IsMap()) throw Error(path + ": a model description is a map (name, batch, images_per_sec or step_ms, layers)");
  only_keys(path, root, "",
            {"name", "batch", "images_per_sec", "step_ms", "gradient_bytes", "backward_share", "layers", "params",
             "tensors", "global_batch", "overlap_grad_sync", "tensor_parallel", "pipeline"});
  ModelSpec m;
  m.file = path;
  m.name = root["name"] ? root["name"].as<std::string>() : path;
  if (!root["batch"]) throw Error(path + ": missing key 'batch' (per device)");
  m.batch = int64_t(number(path, root["batch"], "batch", 1, 1e9));
  if (bool(root["images_per_sec"]) == bool(root["step_ms"]))
    throw Error(path + ": needs exactly one of 'images_per_sec' and 'step_ms' (one device's step)");
  if (root["step_ms"]) m.step_s = number(path, root["step_ms"], "step_ms", 1e-6, 1e9) * 1e-3;
  else m.step_s = double(m.batch) / number(path, root["images_per_sec"], "images_per_sec", 1e-6, 1e12);
  if (root["gradient_bytes"]) m.gradient_bytes = number(path, root["gradient_bytes"], "gradient_bytes", 1, 8);
  if (root["backward_share"]) m.backward_share = number(path, root["backward_share"], "backward_share", 0, 1);
  const YAML::Node layers = root["layers"];
  if (layers && (root["params"] || root["tensors"]))
    throw Error(where(path, layers) + ": key 'layers' excludes 'params' and 'tensors'");
  if (layers) {
    if (!layers.IsSequence() || layers.size() == 0)
      throw Error(where(path, layers) + ": key 'layers' must be a list of parameter counts (backward order)");
    for (size_t i = 0; i < layers.size(); ++i) {
      const YAML::Node e = layers[i];
      const std::string key = "layers[" + std::to_string(i) + "]";
      if (e.IsMap()) {
        only_keys(path, e, key + ".", {"params", "repeat"});
        if (!e["params"]) throw Error(where(path, e) + ": missing key '" + key + ".params'");
        const double p = number(path, e["params"], key + ".params", 1, 1e13);
        const int r = e["repeat"] ? int(number(path, e["repeat"], key + ".repeat", 1, 1e6)) : 1;
        for (int k = 0; k < r; ++k) m.tensor_params.push_back(p);
      } else {
        m.tensor_params.push_back(number(path, e, key, 1, 1e13));
      }
    }
  } else {
    if (!root["params"]) throw Error(path + ": missing key 'layers' (or 'params' with 'tensors')");
    const double p = number(path, root["params"], "params", 1, 1e13);
    const int t = root["tensors"] ? int(number(path, root["tensors"], "tensors", 1, 1e6)) : 1;
    m.tensor_params.assign(size_t(t), p / t);
  }
  if (root["global_batch"]) {
    m.global_batch = int64_t(number(path, root["global_batch"], "global_batch", 1, 1e12));
    if (m.global_batch % m.batch != 0)
      throw Error(where(path, root["global_batch"]) + ": key 'global_batch' = " + root["global_batch"].Scalar() +
                  " is not a multiple of 'batch' (the micro-batch) = " + std::to_string(m.batch));
  }
  if (root["overlap_grad_sync"]) {
    try {
      m.overlap_grad_sync = root["overlap_grad_sync"].as<bool>();
    } catch (const YAML::Exception&) {
      throw Error(where(path, root["overlap_grad_sync"]) + ": key 'overlap_grad_sync' = " +
                  root["overlap_grad_sync"].Scalar() + " is not true or false");
    }
  }
  if (const YAML::Node tp = root["tensor_parallel"]) {
    if (!tp.IsMap())
      throw Error(where(path, tp) + ": key 'tensor_parallel' must be a map (tp, layers, hidden, seq_len)");
    only_keys(path, tp, "tensor_parallel.", {"tp", "layers", "hidden", "seq_len", "activation_bytes", "allreduces_per_layer"});
    for (const char* k : {"tp", "layers", "hidden", "seq_len"})
      if (!tp[k]) throw Error(where(path, tp) + ": missing key 'tensor_parallel." + k + "'");
    m.tp = int(number(path, tp["tp"], "tensor_parallel.tp", 1, 1024));
    m.tp_layers = int(number(path, tp["layers"], "tensor_parallel.layers", 1, 1e6));
    m.hidden = number(path, tp["hidden"], "tensor_parallel.hidden", 1, 1e9);
    m.seq_len = number(path, tp["seq_len"], "tensor_parallel.seq_len", 1, 1e9);
    if (tp["activation_bytes"])
      m.activation_bytes = number(path, tp["activation_bytes"], "tensor_parallel.activation_bytes", 1, 8);
    if (tp["allreduces_per_layer"])
      m.allreduces_per_layer = int(number(path, tp["allreduces_per_layer"], "tensor_parallel.allreduces_per_layer", 0, 1e3));
  }
  if (const YAML::Node pp = root["pipeline"]) {
    if (!pp.IsMap()) throw Error(where(path, pp) + ": key 'pipeline' must be a map (stages, hidden, seq_len)");
    only_keys(path, pp, "pipeline.", {"stages", "hidden", "seq_len", "activation_bytes"});
    for (const char* k : {"stages", "hidden", "seq_len"})
      if (!pp[k]) throw Error(where(path, pp) + ": missing key 'pipeline." + k + "'");
    m.stages = int(number(path, pp["stages"], "pipeline.stages", 1, 1024));
    const double ab = pp["activation_bytes"] ? number(path, pp["activation_bytes"], "pipeline.activation_bytes", 1, 8) : 2;
    m.pp_bytes = double(m.batch) * number(path, pp["seq_len"], "pipeline.seq_len", 1, 1e9) *
                 number(path, pp["hidden"], "pipeline.hidden", 1, 1e9) * ab;
  }
  return m;
}

std::vector<MpCollective> tp_collectives(const ModelSpec& m) {
  std::vector<MpCollective> ops;
  if (m.tp <= 1) return ops;
  const double bytes = double(m.batch) * m.seq_len * m.hidden * m.activation_bytes;
  ops.assign(size_t(m.tp_layers) * size_t(m.allreduces_per_layer), MpCollective{false, bytes});
  return ops;
}

double deterministic_reduce_s(double bytes, int n, const Cluster& c) {
  if (n <= 1) return 0;
  const int r = std::min(n, c.ranks_per_node);
  if (n > r && n % r != 0)
    throw Error(c.file + ": " + std::to_string(n) + " ranks are not a multiple of ranks_per_node = " +
                std::to_string(r));
  const double shard = bytes / n;
  const double phase = double(r - 1) * (c.intra.alpha_s + shard / c.intra.beta) +
                       double(n - r) * (c.inter.alpha_s + shard / c.inter.beta);
  const double loss = std::log2(double(r)) * c.intra.alpha_s + std::log2(double(n / r)) * c.inter.alpha_s;
  return 2 * phase + loss;
}

Workload workload_of(const ModelSpec& m, const Cluster* c) {
  Workload w;
  w.batch = m.batch;
  w.global_batch = m.global_batch;
  w.overlap = m.overlap_grad_sync;
  w.mp = m.tp * m.stages;
  w.stages = m.stages;
  w.compute_s = m.step_s / w.mp;
  // A stage's share of the layers' tp collectives, per micro-batch.
  if (c && m.tp > 1)
    w.mp_s = mp_collectives_s(tp_collectives(m), m.tp, m.tp <= c->ranks_per_node ? c->intra : c->inter) / m.stages;
  if (c && m.stages > 1) {
    const Link& l = w.mp <= c->ranks_per_node ? c->intra : c->inter;
    w.p2p_s = l.alpha_s + m.pp_bytes / l.beta;
  }
  const double fwd = w.compute_s * (1 - m.backward_share), bwd = w.compute_s * m.backward_share;
  const size_t k = m.tensor_params.size();
  for (size_t i = 0; i < k; ++i) {
    w.grad_bytes.push_back(m.tensor_params[i] * m.gradient_bytes / w.mp);
    w.grad_ready_s.push_back(fwd + bwd * double(i + 1) / double(k));
    w.param_bytes += w.grad_bytes.back();
  }
  return w;
}

Buckets bucket(const Workload& w, double bucket_mb) {
  FT_CHECK(w.grad_bytes.size() == w.grad_ready_s.size(), "bucket: one ready time per gradient");
  comm::GradientBucketer b(size_t(bucket_mb * 1024 * 1024));
  for (size_t i = 0; i < w.grad_bytes.size(); ++i)
    b.add("g" + std::to_string(i), {1}, DType::F32, size_t(std::max(1.0, w.grad_bytes[i])));
  Buckets out;
  for (const comm::Bucket& k : b.buckets()) {
    double r = 0;
    for (int m : k.members) r = std::max(r, w.grad_ready_s[size_t(m)]);
    out.bytes.push_back(double(k.bytes));
    out.ready_s.push_back(r);
  }
  if (!out.ready_s.empty()) {
    out.bytes.back() += 4;  // the loss
    out.ready_s.back() = w.compute_s;
  }
  return out;
}

double mp_collectives_s(const std::vector<MpCollective>& ops, int mp, const Link& l) {
  if (mp <= 1) return 0;
  double t = 0;
  const double k = double(mp - 1);
  for (const MpCollective& o : ops)
    t += o.allgather ? k / mp * o.bytes / l.beta + k * l.alpha_s : ring_allreduce_s(o.bytes, mp, l);
  return t;
}

CoreShare core_share(const Cluster& c, int n) {
  CoreShare s;
  if (c.cores_per_node <= 0) return s;
  s.sharing = std::min(n, c.ranks_per_node * c.shared_nodes);
  s.over = std::max(1.0, double(s.sharing) * c.threads_per_rank / c.cores_per_node);
  return s;
}

void allreduce_copy_bytes(double bytes, int n, const Cluster& c, double& intra, double& inter) {
  intra = inter = 0;
  const int r = c.ranks_per_node;
  if (n <= 1) return;
  if (n <= r) {
    intra = 2.0 * (n - 1) / n * bytes;
  } else if (r == 1) {
    inter = 2.0 * (n - 1) / n * bytes;
  } else {
    const int m = n / r;
    intra = 2.0 * (r - 1) / r * bytes;
    inter = 2.0 * (m - 1) / m * (bytes / r);
  }
}

double sched_delay_s(int n, const Cluster& c) {
  if (n <= 1) return 0;
  return n > c.ranks_per_node ? c.inter_sched_s : c.intra_sched_s;
}

Row predict(const Workload& w, const Buckets& b, const Cluster& c0, int n) {
  Row r;
  r.ranks = n;
  if (w.mp > 1 && n % w.mp != 0) {
    r.ok = false;
    r.dominant = "not a multiple of the mp degree " + std::to_string(w.mp);
    return r;
  }
  // The data-parallel allreduce: over the replicas, ranks_per_node/mp of them per node.
  Cluster c = c0;
  if (w.mp > 1) c.ranks_per_node = std::max(1, c0.ranks_per_node / w.mp);
  const int dp = n / std::max(1, w.mp);
  // A fixed global batch: the replica's share of it, as micro-batches of w.batch.
  double f = 1;
  int64_t replica_batch = w.batch;
  if (w.global_batch > 0) {
    if (w.global_batch % (int64_t(dp) * w.batch) != 0) {
      r.ok = false;
      r.dominant = fmt::format("global batch {} is not {} replicas times a whole number of micro-batches of {}",
                               w.global_batch, dp, w.batch);
      return r;
    }
    replica_batch = w.global_batch / dp;
    f = double(replica_batch) / double(w.batch);
  }
  // Oversubscription: more ranks (times their threads) than the cores they share.
  const double share = core_share(c0, n).over;
  r.oversub = share;
  // Time-sliced cores run their ranks at compute_share of a core in total.
  const double slow = share > 1 ? share / c0.compute_share : 1.0;
  r.compute_s = w.compute_s * slow * f;
  r.mp_s = w.mp_s * f;
  if (w.stages > 1)
    r.pipeline_s = double(w.stages - 1) * w.compute_s * slow + (f + double(w.stages - 1)) * 2 * w.p2p_s;
  const bool waits = w.mode != "ps-async";
  r.straggler_s = waits ? straggler_s(c.sigma_s, n) : 0.0;
  const double base = r.compute_s + r.mp_s + r.pipeline_s + r.straggler_s;
  Cluster lat_only = c, bw_only = c;
  lat_only.intra.beta = lat_only.inter.beta = std::numeric_limits<double>::infinity();
  bw_only.intra.alpha_s = bw_only.inter.alpha_s = 0;
  double samples_ranks = dp;
  if (w.mode == "allreduce-sync" && w.deterministic) {
    r.exposed_s = deterministic_reduce_s(w.param_bytes, dp, c);
    r.step_s = base + r.exposed_s;
    r.alpha_part_s = deterministic_reduce_s(w.param_bytes, dp, lat_only);
    r.beta_part_s = r.exposed_s - r.alpha_part_s;
  } else if (w.mode == "allreduce-sync") {
    std::vector<double> comm_s(b.bytes.size()), rd(b.ready_s);
    double lat = 0, bw = 0;
    for (size_t k = 0; k < b.bytes.size(); ++k) {
      comm_s[k] = allreduce_s(b.bytes[k], dp, c);
      lat += allreduce_s(b.bytes[k], dp, lat_only);
      bw += allreduce_s(b.bytes[k], dp, bw_only);
      rd[k] = rd[k] * slow + (r.compute_s - w.compute_s * slow) + r.pipeline_s;  // in the last micro-batch
    }
    const Overlap o = overlap(rd, comm_s, r.compute_s + r.pipeline_s);
    // No core is free for the comm when the shared cores are oversubscribed.
    r.exposed_s = c.overlap && w.overlap && share <= 1 ? o.exposed_s : o.comm_busy_s;
    if (share > 1 && (c.intra_copy > 0 || c.inter_copy > 0)) {
      double copy = 0;
      for (double bytes : b.bytes) {
        double in = 0, out = 0;
        allreduce_copy_bytes(bytes, dp, c, in, out);
        if (c.intra_copy > 0) copy += in / c.intra_copy;
        if (c.inter_copy > 0) copy += out / c.inter_copy;
      }
      r.copy_s = (share - 1) * copy;
    }
    // A wait for a descheduled peer per collective: the buckets and the step-boundary agreement.
    if (share > 1 && dp > 1) r.sched_s = (share - 1) * sched_delay_s(dp, c) * double(b.bytes.size() + 1);
    r.step_s = base + r.exposed_s + r.copy_s + r.sched_s;
    const double f = lat + bw > 0 ? r.exposed_s / (lat + bw) : 0.0;
    r.alpha_part_s = lat * f;
    r.beta_part_s = bw * f;
  } else {
    const int workers = n - w.servers;
    if (workers < 1) {
      r.ok = false;
      r.dominant = "needs more ranks than ps servers";
      return r;
    }
    const Link& l = n > c.ranks_per_node ? c.inter : c.intra;
    const PsTime t = ps_time(w.param_bytes, workers, w.servers, l);
    const PsTime tl = ps_time(w.param_bytes, workers, w.servers, {l.alpha_s, std::numeric_limits<double>::infinity()});
    r.server_bound = t.server_s > t.worker_s;
    if (w.mode == "ps-sync") {
      r.step_s = base + std::max(t.server_s, t.worker_s);
    } else {
      r.step_s = std::max(r.compute_s + r.mp_s + r.pipeline_s + t.worker_s, t.server_s);
    }
    r.exposed_s = r.step_s - base;
    const double lat = std::max(tl.server_s, tl.worker_s), tot = std::max(t.server_s, t.worker_s);
    const double f = tot > 0 ? r.exposed_s / tot : 0.0;
    r.alpha_part_s = lat * f;
    r.beta_part_s = (tot - lat) * f;
    samples_ranks = workers;
  }
  r.samples_per_s = samples_ranks * double(replica_batch) / r.step_s;
  // The dominant term: compute when it outweighs all the overheads together,
  // else the largest overhead.
  std::vector<std::pair<double, std::string>> over = {{r.straggler_s, "straggler"}, {r.mp_s, "mp collectives"},
                                                      {r.pipeline_s, "pipeline bubble"},
                                                      {r.copy_s, "comm copies on shared cores"},
                                                      {r.sched_s, "scheduling delay on shared cores"}};
  if (r.server_bound) over.push_back({r.exposed_s, "server contention"});
  else {
    over.push_back({r.alpha_part_s, "comm α (latency)"});
    over.push_back({r.beta_part_s, "comm β (bandwidth)"});
  }
  double sum = 0;
  for (const auto& o : over) sum += o.first;
  const auto top = *std::max_element(over.begin(), over.end(),
                                     [](const auto& a, const auto& x) { return a.first < x.first; });
  if (sum <= 0) r.dominant = "compute (comm hidden)";
  else if (r.compute_s >= sum) r.dominant = "compute; then " + top.second;
  else r.dominant = top.second;
  return r;
}

namespace {
// Weighted least squares for t = x0·a + x1·c over rows (a, c, t), weight 1/t.
bool solve2(const std::vector<std::array<double, 3>>& rows, double& x0, double& x1) {
  double s00 = 0, s01 = 0, s11 = 0, r0 = 0, r1 = 0;
  for (const auto& r : rows) {
    const double a = r[0] / r[2], c = r[1] / r[2];
    s00 += a * a; s01 += a * c; s11 += c * c; r0 += a; r1 += c;
  }
  const double det = s00 * s11 - s01 * s01;
  if (rows.size() < 2 || std::fabs(det) < 1e-300) return false;
  x0 = (r0 * s11 - r1 * s01) / det;
  x1 = (s00 * r1 - s01 * r0) / det;
  return true;
}
}  // namespace

Link fit_link(const std::vector<AllreduceSample>& samples, int* kept) {
  std::vector<std::array<double, 3>> rows;
  for (const AllreduceSample& x : samples)
    if (x.ranks > 1 && x.seconds > 0)
      rows.push_back({2.0 * (x.ranks - 1) / x.ranks * x.bytes, 2.0 * (x.ranks - 1), x.seconds});
  double inv_beta = 0, alpha = 0;
  if (!solve2(rows, inv_beta, alpha)) throw Error("fit_link: needs at least two allreduce sizes of more than one rank");
  std::vector<std::array<double, 3>> good;
  for (const auto& r : rows)
    if (std::fabs(inv_beta * r[0] + alpha * r[1] - r[2]) <= 0.5 * r[2]) good.push_back(r);
  if (good.size() >= 2 && good.size() < rows.size()) solve2(good, inv_beta, alpha);
  else good = rows;
  if (!(inv_beta > 0)) throw Error("fit_link: the times do not grow with the size; no bandwidth to fit");
  if (kept) *kept = int(good.size());
  return {std::max(0.0, alpha), 1.0 / inv_beta};
}

std::vector<AllreduceSample> read_comm_bench(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw Error(path + ": cannot read the comm_bench output");
  std::vector<AllreduceSample> out;
  int ranks = 0;
  for (std::string line; std::getline(f, line);) {
    int n = 0;
    if (std::sscanf(line.c_str(), "# flowtrain comm_bench: allreduce sum, float, %d ranks", &n) == 1) ranks = n;
    char size[32], type[16];
    long long count = 0;
    double us = 0;
    if (line.rfind("#", 0) != 0 && std::sscanf(line.c_str(), " %31s %lld %15s | %lf", size, &count, type, &us) == 4 &&
        std::string(type) == "float")
      out.push_back({ranks, double(count) * 4, us * 1e-6});
  }
  if (ranks < 2 || out.empty())
    throw Error(path + ": no comm_bench table (a header '# flowtrain comm_bench: ... N ranks' and size lines)");
  return out;
}

SharedFit fit_shared_cores(const std::vector<AllreduceSample>& samples, const Cluster& c) {
  SharedFit f;
  // rows: (o-1), (o-1)·bytes on the fitted link, t - model without them, weight 1/t
  std::vector<std::array<double, 4>> rows;
  for (const AllreduceSample& x : samples) {
    if (x.ranks < 2 || !(x.seconds > 0)) continue;
    const double o = core_share(c, x.ranks).over;
    if (!(o > 1)) throw Error(fmt::format("fit_shared_cores: {} ranks do not oversubscribe the cluster's {} cores",
                                          x.ranks, c.cores_per_node));
    f.over = o;
    f.inter = x.ranks > c.ranks_per_node;
    double in = 0, out = 0;
    allreduce_copy_bytes(x.bytes, x.ranks, c, in, out);
    const double known = f.inter && c.intra_copy > 0 ? (o - 1) * in / c.intra_copy : 0.0;
    rows.push_back({o - 1, (o - 1) * (f.inter ? out : in), x.seconds - allreduce_s(x.bytes, x.ranks, c) - known,
                    1.0 / x.seconds});
  }
  double s00 = 0, s01 = 0, s11 = 0, r0 = 0, r1 = 0;
  for (const auto& r : rows) {
    const double w2 = r[3] * r[3];
    s00 += r[0] * r[0] * w2; s01 += r[0] * r[1] * w2; s11 += r[1] * r[1] * w2;
    r0 += r[0] * r[2] * w2; r1 += r[1] * r[2] * w2;
  }
  const double det = s00 * s11 - s01 * s01;
  if (rows.size() < 2 || std::fabs(det) < 1e-300)
    throw Error("fit_shared_cores: needs at least two allreduce sizes of more than one rank");
  double d = (r0 * s11 - r1 * s01) / det, inv_copy = (s00 * r1 - s01 * r0) / det;
  // A negative part is noise: refit the other alone.
  if (inv_copy <= 0) { inv_copy = 0; d = r0 / s00; }
  if (d < 0) { d = 0; inv_copy = std::max(0.0, r1 / s11); }
  f.sched_s = d;
  f.copy = inv_copy > 0 ? 1.0 / inv_copy : 0.0;
  return f;
}

}  // namespace scale
}  // namespace train
}  // namespace ft
