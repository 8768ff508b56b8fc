// scale_model.cpp — the α-β step model and the cluster file (scale_model.h).
#include "train/scale_model.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>

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

}  // namespace

Cluster Cluster::load(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw Error(path + ": cannot read the cluster file");
  } catch (const YAML::Exception& e) {
    throw Error(path + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  if (!root.IsMap()) throw Error(path + ": a cluster file is a map (name, ranks_per_node, compute, intra, inter)");
  only_keys(path, root, "", {"name", "ranks_per_node", "cores_per_node", "overlap", "compute", "intra", "inter"});
  Cluster c;
  c.file = path;
  c.name = root["name"] ? root["name"].as<std::string>() : path;
  if (!root["ranks_per_node"]) throw Error(path + ": missing key 'ranks_per_node'");
  c.ranks_per_node = int(number(path, root["ranks_per_node"], "ranks_per_node", 1, 1024));
  if (root["cores_per_node"]) c.cores_per_node = int(number(path, root["cores_per_node"], "cores_per_node", 1, 1 << 20));
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
  only_keys(path, comp, "compute.", {"step_ms", "gemm_gflops"});
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

}  // namespace scale
}  // namespace train
}  // namespace ft
