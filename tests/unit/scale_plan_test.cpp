// scale_plan_test.cpp — the step model of bench/scale_plan (train/scale_model.h)
// on cases worked by hand, and the cluster file's errors.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "core/tensor.h"
#include "train/scale_model.h"

using namespace ft;
using namespace ft::train::scale;

namespace {

Link link(double alpha_us, double beta_gbs) { return {alpha_us * 1e-6, beta_gbs * 1e9}; }

std::string write(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << text;
  return path;
}

std::string load_error(const std::string& path) {
  try {
    Cluster::load(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

// n = 4, α = 10 µs, β = 10 GB/s: 2·3/4 · bytes/1e10 + 2·3·10 µs.
TEST(ScaleModel, RingByHand) {
  const Link l = link(10, 10);
  EXPECT_NEAR(ring_allreduce_s(4e6, 4, l), 0.66e-3, 1e-12);  // 0.6 ms + 0.06 ms
  EXPECT_NEAR(ring_allreduce_s(2e6, 4, l), 0.36e-3, 1e-12);  // 0.3 ms + 0.06 ms
  EXPECT_EQ(ring_allreduce_s(4e6, 1, l), 0.0);
}

// Two buckets of 4 MB and 2 MB, ready at 1.0 ms and at the end of backward
// (1.5 ms): bucket 0 runs 1.00-1.66 ms, bucket 1 waits for the channel and runs
// 1.66-2.02 ms, so 0.52 ms are exposed and the step is 1.5 + 0.52 = 2.02 ms.
TEST(ScaleModel, OverlapByHand) {
  const Link l = link(10, 10);
  const std::vector<double> comm = {ring_allreduce_s(4e6, 4, l), ring_allreduce_s(2e6, 4, l)};
  Overlap o = overlap({1.0e-3, 1.5e-3}, comm, 1.5e-3);
  EXPECT_NEAR(o.comm_end_s, 2.02e-3, 1e-12);
  EXPECT_NEAR(o.exposed_s, 0.52e-3, 1e-12);
  EXPECT_NEAR(o.comm_busy_s, 1.02e-3, 1e-12);
  EXPECT_NEAR(1.5e-3 + o.exposed_s, 2.02e-3, 1e-12);
  // Bucket 0 ready early (0.2 ms) is hidden: only the last bucket's 0.36 ms shows.
  o = overlap({0.2e-3, 1.5e-3}, comm, 1.5e-3);
  EXPECT_NEAR(o.comm_end_s, 1.86e-3, 1e-12);
  EXPECT_NEAR(o.exposed_s, 0.36e-3, 1e-12);
  // Nothing to reduce: nothing exposed.
  EXPECT_EQ(overlap({}, {}, 1.5e-3).exposed_s, 0.0);
}

// 8 ranks, 4 per node, 8 MB; intra α 1 µs β 100 GB/s, inter α 10 µs β 10 GB/s:
// reduce-scatter 3/4·8e6/1e11 + 3 µs = 63 µs, inter ring over 2 nodes on 2 MB
// 2·1/2·2e6/1e10 + 2·10 µs = 220 µs, allgather 63 µs: 346 µs.
TEST(ScaleModel, HierarchicalByHand) {
  Cluster c;
  c.ranks_per_node = 4;
  c.intra = link(1, 100);
  c.inter = link(10, 10);
  EXPECT_NEAR(allreduce_s(8e6, 8, c), 346e-6, 1e-12);
  EXPECT_NEAR(allreduce_s(8e6, 4, c), 126e-6, 1e-12);  // within a node: 1.5·8e6/1e11 + 6 µs
  EXPECT_NEAR(allreduce_s(8e6, 2, c), ring_allreduce_s(8e6, 2, c.intra), 1e-15);
  EXPECT_THROW(allreduce_s(8e6, 6, c), Error);  // 6 ranks are not whole nodes of 4
  c.ranks_per_node = 1;
  EXPECT_NEAR(allreduce_s(8e6, 8, c), ring_allreduce_s(8e6, 8, c.inter), 1e-15);
}

// P = 100 MB, 8 workers, 2 servers, α 10 µs, β 10 GB/s: a server carries
// 8·2·50 MB = 800 MB: 80 ms + 20 µs; a worker's own link 200 MB: 20 ms + 2·2·10 µs.
TEST(ScaleModel, ParameterServerContentionByHand) {
  const PsTime t = ps_time(1e8, 8, 2, link(10, 10));
  EXPECT_NEAR(t.server_s, 0.08002, 1e-12);
  EXPECT_NEAR(t.worker_s, 0.02004, 1e-12);
  EXPECT_NEAR(ps_step_s(0.1, t, true), 0.18002, 1e-12);   // sync: compute + the busiest server
  EXPECT_NEAR(ps_step_s(0.1, t, false), 0.12004, 1e-12);  // async: compute + own transfer, above the servers' cap
  EXPECT_NEAR(ps_step_s(0.01, t, false), 0.08002, 1e-12);  // async, servers saturated
}

TEST(ScaleModel, ClusterFile) {
  const std::string ok = write("c_ok.yaml",
                               "name: t\nranks_per_node: 8\ncompute: {step_ms: 12.5}\n"
                               "intra: {alpha_us: 2, beta_gbs: 150}\ninter: {alpha_us: 5, beta_gbs: 25}\n");
  Cluster c = Cluster::load(ok);
  EXPECT_EQ(c.ranks_per_node, 8);
  EXPECT_DOUBLE_EQ(c.step_ms, 12.5);
  EXPECT_DOUBLE_EQ(c.intra.alpha_s, 2e-6);
  EXPECT_DOUBLE_EQ(c.inter.beta, 25e9);
}

TEST(ScaleModel, ClusterFileErrorsNameKeyAndFile) {
  const std::string body = "ranks_per_node: 2\ncompute: {step_ms: 1}\ninter: {alpha_us: 5, beta_gbs: 25}\n";
  std::string p = write("c_missing.yaml", body);
  std::string e = load_error(p);
  EXPECT_NE(e.find(p), std::string::npos) << e;
  EXPECT_NE(e.find("missing key 'intra'"), std::string::npos) << e;

  p = write("c_unknown.yaml", body + "intra: {alpha_us: 1, beta_gbs: 9, bogus: 1}\n");
  e = load_error(p);
  EXPECT_NE(e.find(p + ":4"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown key 'intra.bogus'"), std::string::npos) << e;

  p = write("c_nan.yaml", body + "intra: {alpha_us: 1, beta_gbs: fast}\n");
  e = load_error(p);
  EXPECT_NE(e.find("key 'intra.beta_gbs' = fast is not a number"), std::string::npos) << e;

  p = write("c_both.yaml", "ranks_per_node: 2\ncompute: {step_ms: 1, gemm_gflops: 5}\n"
                           "intra: {alpha_us: 1, beta_gbs: 9}\ninter: {alpha_us: 5, beta_gbs: 25}\n");
  e = load_error(p);
  EXPECT_NE(e.find("exactly one of compute.step_ms and compute.gemm_gflops"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;  // one line
}

// Exact samples of α = 3 µs, β = 5 GB/s at 2 and 4 ranks give them back; a 1 ms
// outlier (a noisy host) is dropped.
TEST(ScaleModel, FitLinkRecoversAlphaBeta) {
  const Link truth = link(3, 5);
  std::vector<AllreduceSample> s;
  for (int n : {2, 4})
    for (double b = 8192; b <= 4e6; b *= 2) s.push_back({n, b, ring_allreduce_s(b, n, truth)});
  int kept = 0;
  Link l = fit_link(s, &kept);
  EXPECT_NEAR(l.alpha_s, 3e-6, 1e-12);
  EXPECT_NEAR(l.beta, 5e9, 1e-3);
  EXPECT_EQ(kept, int(s.size()));
  s.push_back({2, 16384, 1e-3});
  l = fit_link(s, &kept);
  EXPECT_NEAR(l.alpha_s, 3e-6, 1e-9);
  EXPECT_NEAR(l.beta / 5e9, 1.0, 1e-3);
  EXPECT_EQ(kept, int(s.size()) - 1);
  EXPECT_THROW(fit_link({{2, 8192, 1e-5}}), Error);
}

TEST(ScaleModel, ReadCommBench) {
  const std::string p = write("cb.txt",
                              "# flowtrain comm_bench: allreduce sum, float, 2 ranks, warmup 5, iters 20\n"
                              "#      size      count  type |   time_us\n"
                              "         8K       2048 float |       5.0     1.65      1.65      0 |       9.0\n"
                              "         1M     262144 float |     218.1     4.81      4.81      0 |     864.0\n"
                              "  one by one :  204954.2 us\n");
  auto s = read_comm_bench(p);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[1].ranks, 2);
  EXPECT_DOUBLE_EQ(s[1].bytes, 1048576.0);
  EXPECT_DOUBLE_EQ(s[1].seconds, 218.1e-6);
  EXPECT_THROW(read_comm_bench(write("cb_empty.txt", "nothing\n")), Error);
}
