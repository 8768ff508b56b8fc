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

// σ = 1 ms: the slowest of 8 ranks is sqrt(2 ln 8) = 2.0393 σ late, of 4
// sqrt(2 ln 4) = 1.6651 σ; one rank waits for nobody.
TEST(ScaleModel, StragglerByHand) {
  EXPECT_EQ(straggler_s(1e-3, 1), 0.0);
  EXPECT_NEAR(straggler_s(1e-3, 8), 2.039334e-3, 1e-9);
  EXPECT_NEAR(straggler_s(1e-3, 4), 1.665109e-3, 1e-9);
  EXPECT_EQ(straggler_s(0, 1024), 0.0);
}

// Batch 100 at 1000 and 500 samples/s: step times 0.1 and 0.2 s, sample
// standard deviation 0.0707107 s; records 10 steps apart: σ = 0.0707107·sqrt(10) = 0.2236068 s.
TEST(ScaleModel, StepSigmaFromMetricsByHand) {
  EXPECT_NEAR(step_sigma_s({1000, 500}, {10, 20}, 100), 0.2236068, 1e-6);
  EXPECT_NEAR(step_sigma_s({1000, 500}, {}, 100), 0.0707107, 1e-6);
  EXPECT_EQ(step_sigma_s({1000}, {10}, 100), 0.0);
}

// The OverlapByHand buckets through predict, 4 ranks on one node: compute 1.5 ms,
// exposed 0.52 ms; α part 0.12 ms and β part 0.9 ms of the 1.02 ms busy, scaled to
// the 0.52 exposed. With σ = 1 ms the step gains 1.6651 ms and the straggler dominates.
TEST(ScaleModel, PredictAllreduceByHand) {
  Cluster c;
  c.ranks_per_node = 4;
  c.intra = c.inter = link(10, 10);
  Workload w;
  w.batch = 32;
  w.compute_s = 1.5e-3;
  w.grad_bytes = {4e6, 2e6 - 4};  // the loss's 4 bytes ride in the last bucket
  w.grad_ready_s = {1.0e-3, 1.2e-3};
  const Buckets b = bucket(w, 0);  // threshold 0: one tensor per bucket
  ASSERT_EQ(b.bytes.size(), 2u);
  EXPECT_DOUBLE_EQ(b.bytes[1], 2e6);
  EXPECT_DOUBLE_EQ(b.ready_s[1], 1.5e-3);  // the last bucket waits for the whole step
  Row r = predict(w, b, c, 4);
  EXPECT_NEAR(r.exposed_s, 0.52e-3, 1e-12);
  EXPECT_NEAR(r.step_s, 2.02e-3, 1e-12);
  EXPECT_NEAR(r.alpha_part_s, 0.52e-3 * 0.12 / 1.02, 1e-12);
  EXPECT_NEAR(r.beta_part_s, 0.52e-3 * 0.90 / 1.02, 1e-12);
  EXPECT_NEAR(r.samples_per_s, 4 * 32 / 2.02e-3, 1e-6);
  c.sigma_s = 1e-3;
  r = predict(w, b, c, 4);
  EXPECT_NEAR(r.straggler_s, 1.665109e-3, 1e-9);
  EXPECT_NEAR(r.step_s, 2.02e-3 + 1.665109e-3, 1e-9);
  EXPECT_EQ(r.dominant, "straggler");
  EXPECT_EQ(predict(w, b, c, 1).step_s, 1.5e-3);
  // One bucket of 25 MiB: both tensors, ready with the step.
  const Buckets one = bucket(w, 25);
  ASSERT_EQ(one.bytes.size(), 1u);
  EXPECT_DOUBLE_EQ(one.bytes[0], 6e6);
}

// ParameterServerContentionByHand through predict: 10 ranks, 2 servers, 8
// workers, one rank per node: sync step 0.1 + 0.08002 s, the servers the bound.
TEST(ScaleModel, PredictParameterServerByHand) {
  Cluster c;
  c.ranks_per_node = 1;
  c.intra = c.inter = link(10, 10);
  c.sigma_s = 1e-3;
  Workload w;
  w.mode = "ps-sync";
  w.batch = 10;
  w.compute_s = 0.1;
  w.param_bytes = 1e8;
  w.servers = 2;
  Row r = predict(w, {}, c, 10);
  EXPECT_TRUE(r.server_bound);
  EXPECT_NEAR(r.step_s, 0.1 + straggler_s(1e-3, 10) + 0.08002, 1e-12);
  EXPECT_NEAR(r.samples_per_s, 8 * 10 / r.step_s, 1e-9);
  EXPECT_EQ(r.dominant, "compute; then server contention");
  w.mode = "ps-async";  // nobody waits: no straggler; compute + own 0.02004 s link, above the servers' 0.08002
  r = predict(w, {}, c, 10);
  EXPECT_EQ(r.straggler_s, 0.0);
  EXPECT_NEAR(r.step_s, 0.12004, 1e-12);
  w.compute_s = 0.01;
  w.mode = "ps-sync";
  EXPECT_EQ(predict(w, {}, c, 10).dominant, "server contention");
  EXPECT_FALSE(predict(w, {}, c, 2).ok);  // 2 servers leave no worker
}

// step_ms 100, backward 60% spread over 3 tensors: ready at 60, 80 and 100 ms;
// fp16 gradients: 2 bytes per parameter.
TEST(ScaleModel, ModelSpecFile) {
  const std::string p = write("m_ok.yaml",
                              "name: toy\nbatch: 64\nstep_ms: 100\ngradient_bytes: 2\nbackward_share: 0.6\n"
                              "layers: [4e6, {params: 1e6, repeat: 2}]\n");
  const ModelSpec m = ModelSpec::load(p);
  EXPECT_EQ(m.name, "toy");
  ASSERT_EQ(m.tensor_params.size(), 3u);
  const Workload w = workload_of(m);
  EXPECT_DOUBLE_EQ(w.param_bytes, 12e6);
  EXPECT_NEAR(w.grad_ready_s[0], 0.06, 1e-12);
  EXPECT_NEAR(w.grad_ready_s[1], 0.08, 1e-12);
  EXPECT_NEAR(w.grad_ready_s[2], 0.10, 1e-12);
  EXPECT_DOUBLE_EQ(w.grad_bytes[0], 8e6);
  // images_per_sec: 128 at batch 64 is a 0.5 s step; params split over equal tensors.
  const ModelSpec e = ModelSpec::load(write("m_eq.yaml", "batch: 64\nimages_per_sec: 128\nparams: 9e6\ntensors: 3\n"));
  EXPECT_DOUBLE_EQ(e.step_s, 0.5);
  EXPECT_DOUBLE_EQ(e.tensor_params[2], 3e6);
}

TEST(ScaleModel, ModelSpecErrorsNameKeyAndFile) {
  auto err = [](const std::string& name, const std::string& text) {
    const std::string p = write(name, text);
    try {
      ModelSpec::load(p);
    } catch (const Error& e) {
      const std::string s = e.what();
      EXPECT_NE(s.find(p), std::string::npos) << s;
      EXPECT_EQ(s.find('\n'), std::string::npos) << s;
      return s;
    }
    return std::string();
  };
  EXPECT_NE(err("m1.yaml", "batch: 8\nstep_ms: 1\nimages_per_sec: 5\nparams: 10\n").find("exactly one of"),
            std::string::npos);
  EXPECT_NE(err("m2.yaml", "batch: 8\nstep_ms: 1\nlayers: [5, {params: x}]\n").find("'layers[1].params' = x"),
            std::string::npos);
  EXPECT_NE(err("m3.yaml", "batch: 8\nstep_ms: 1\nlayers: [5]\nparams: 3\n").find("excludes"), std::string::npos);
  EXPECT_NE(err("m4.yaml", "batch: 8\nstep_ms: 1\nbogus: 3\n").find("unknown key 'bogus'"), std::string::npos);
  EXPECT_NE(err("m5.yaml", "step_ms: 1\nparams: 3\n").find("missing key 'batch'"), std::string::npos);
}

// α 10 µs, β 10 GB/s. Two 1 MB allreduces in a group of 2: 2·1/2·1e6/1e10 + 2·10 µs
// = 120 µs each; a 4 MB allgather in a group of 4: 3/4·4e6/1e10 + 3·10 µs = 330 µs.
TEST(ScaleModel, ModelParallelCollectivesByHand) {
  const Link l = link(10, 10);
  EXPECT_NEAR(mp_collectives_s({{false, 1e6}, {false, 1e6}}, 2, l), 240e-6, 1e-12);
  EXPECT_NEAR(mp_collectives_s({{true, 4e6}}, 4, l), 330e-6, 1e-12);
  EXPECT_EQ(mp_collectives_s({{false, 1e6}}, 1, l), 0.0);
}

// mp 2 on nodes of 4: 8 ranks are 4 replicas, 2 per node, so the 8 MB gradient
// allreduce is hierarchical over 2 nodes of 2: reduce-scatter 1/2·8e6/1e11 + 1 µs
// = 41 µs, inter ring on 4 MB 2·1/2·4e6/1e10 + 2·10 µs = 420 µs, allgather 41 µs:
// 502 µs, all exposed (one bucket at the end). Step = compute 1 ms + mp 0.2 ms + 0.502 ms.
TEST(ScaleModel, PredictModelParallelByHand) {
  Cluster c;
  c.ranks_per_node = 4;
  c.intra = link(1, 100);
  c.inter = link(10, 10);
  Workload w;
  w.batch = 16;
  w.compute_s = 1e-3;
  w.mp = 2;
  w.mp_s = 0.2e-3;
  w.grad_bytes = {8e6 - 4};
  w.grad_ready_s = {1e-3};
  const Buckets b = bucket(w, 25);
  const Row r = predict(w, b, c, 8);
  EXPECT_NEAR(r.exposed_s, 502e-6, 1e-12);
  EXPECT_NEAR(r.step_s, 1.702e-3, 1e-12);
  EXPECT_NEAR(r.samples_per_s, 4 * 16 / 1.702e-3, 1e-6);  // 4 replicas
  EXPECT_NEAR(predict(w, b, c, 2).step_s, 1.2e-3, 1e-12);  // one replica: compute + mp
  EXPECT_FALSE(predict(w, b, c, 3).ok);                     // 3 ranks are not whole groups of 2
}

// Deterministic mode on nodes of 4, intra α 10 µs β 1 GB/s, inter α 20 µs β 0.5 GB/s,
// 8 MB of gradients. 4 ranks: shards of 2 MB, each exchange 3·(10 µs + 2 ms) =
// 6.03 ms, twice, + the loss's log2(4)·10 µs: 12.08 ms. 8 ranks (2 nodes): shards of
// 1 MB, 3·(10 µs + 1 ms) + 4·(20 µs + 2 ms) = 11.11 ms, twice, + 2·10 + 1·20 µs:
// 22.26 ms. In predict it is not overlapped: step = compute 10 ms + 12.08 ms at 4.
TEST(ScaleModel, DeterministicReduceByHand) {
  Cluster c;
  c.ranks_per_node = 4;
  c.intra = link(10, 1);
  c.inter = link(20, 0.5);
  EXPECT_NEAR(deterministic_reduce_s(8e6, 4, c), 12.08e-3, 1e-12);
  EXPECT_NEAR(deterministic_reduce_s(8e6, 8, c), 22.26e-3, 1e-12);
  EXPECT_EQ(deterministic_reduce_s(8e6, 1, c), 0.0);
  Workload w;
  w.batch = 16;
  w.compute_s = 10e-3;
  w.param_bytes = 8e6;
  w.grad_bytes = {4e6, 4e6 - 4};
  w.grad_ready_s = {5e-3, 10e-3};
  w.deterministic = true;
  const Row r = predict(w, bucket(w, 0), c, 4);
  EXPECT_NEAR(r.exposed_s, 12.08e-3, 1e-12);
  EXPECT_NEAR(r.step_s, 22.08e-3, 1e-12);
  EXPECT_NEAR(r.alpha_part_s, 2 * 3 * 10e-6 + 20e-6, 1e-12);  // 80 µs of latency
  EXPECT_NEAR(r.samples_per_s, 4 * 16 / 22.08e-3, 1e-6);
  EXPECT_EQ(r.dominant, "comm β (bandwidth)");
}

// A tensor-parallel model file: micro-batch 8, one device's whole-model step 100 ms
// (backward half of it), two tensors of 4e6 parameters, fp16 gradients, tp 2 over
// 3 layers of hidden 1000 at sequence 100. A device computes 50 ms and holds 4 MB of
// each tensor's gradients (8 MB); per micro-batch 3·4 = 12 allreduces of
// 8·100·1000·2 = 1.6 MB in pairs on NVLink-like α 5 µs β 100 GB/s:
// 2·1/2·1.6e6/1e11 + 2·5 µs = 26 µs each, 312 µs. 8 ranks on nodes of 4 are 4
// replicas, 2 per node: the 8 MB allreduce is hierarchical over 2 nodes,
// 1/2·8e6/1e11 + 5 µs = 45 µs, inter (α 10 µs, β 10 GB/s) on 4 MB 400 + 20 µs, 45 µs:
// 510 µs. Global batch 64: 16 per replica, 2 micro-batches, so compute 100 ms and
// tp 624 µs; overlap_grad_sync false, so all 510 µs are exposed:
// step 100 + 0.624 + 0.510 ms. At 2 ranks (one replica) 8 micro-batches, no allreduce.
TEST(ScaleModel, TensorParallelModelSpecByHand) {
  const ModelSpec m = ModelSpec::load(write(
      "m_tp.yaml", "name: tp toy\nbatch: 8\nstep_ms: 100\nbackward_share: 0.5\ngradient_bytes: 2\n"
                   "layers: [4e6, 4e6]\nglobal_batch: 64\noverlap_grad_sync: false\n"
                   "tensor_parallel: {tp: 2, layers: 3, hidden: 1000, seq_len: 100, activation_bytes: 2}\n"));
  ASSERT_EQ(tp_collectives(m).size(), 12u);
  EXPECT_DOUBLE_EQ(tp_collectives(m)[0].bytes, 1.6e6);
  Cluster c;
  c.ranks_per_node = 4;
  c.intra = link(5, 100);
  c.inter = link(10, 10);
  const Workload w = workload_of(m, &c);
  EXPECT_EQ(w.mp, 2);
  EXPECT_NEAR(w.compute_s, 0.05, 1e-15);
  EXPECT_NEAR(w.mp_s, 312e-6, 1e-12);
  EXPECT_DOUBLE_EQ(w.param_bytes, 8e6);
  EXPECT_NEAR(w.grad_ready_s[0], 0.0375, 1e-15);
  EXPECT_FALSE(w.overlap);
  const Buckets b = bucket(w, 25);
  ASSERT_EQ(b.bytes.size(), 1u);
  Row r = predict(w, b, c, 8);
  EXPECT_NEAR(r.compute_s, 0.1, 1e-12);
  EXPECT_NEAR(r.mp_s, 624e-6, 1e-12);
  EXPECT_NEAR(r.exposed_s, 510e-6, 1e-9);
  EXPECT_NEAR(r.step_s, 0.1 + 624e-6 + 510e-6, 1e-9);
  EXPECT_NEAR(r.samples_per_s, 64 / r.step_s, 1e-6);
  r = predict(w, b, c, 2);
  EXPECT_NEAR(r.step_s, 0.4 + 8 * 312e-6, 1e-12);
  EXPECT_FALSE(predict(w, b, c, 6).ok);  // 3 replicas do not divide 64 into micro-batches of 8
  // The same without tensor_parallel: one device per replica, no tp term.
  const Workload w1 = workload_of(ModelSpec::load(write("m_tp1.yaml", "batch: 8\nstep_ms: 100\nparams: 8e6\n")), &c);
  EXPECT_EQ(w1.mp, 1);
  EXPECT_EQ(w1.mp_s, 0.0);
}

TEST(ScaleModel, TensorParallelModelSpecErrors) {
  auto err = [](const std::string& name, const std::string& text) {
    const std::string p = write(name, text);
    try {
      ModelSpec::load(p);
    } catch (const Error& e) {
      const std::string s = e.what();
      EXPECT_NE(s.find(p), std::string::npos) << s;
      EXPECT_EQ(s.find('\n'), std::string::npos) << s;
      return s;
    }
    return std::string();
  };
  EXPECT_NE(err("t1.yaml", "batch: 8\nstep_ms: 1\nparams: 3\ntensor_parallel: {tp: 2}\n")
                .find("missing key 'tensor_parallel.layers'"),
            std::string::npos);
  EXPECT_NE(err("t2.yaml", "batch: 8\nstep_ms: 1\nparams: 3\ntensor_parallel: {tp: 2, layers: 1, hidden: 4, "
                           "seq_len: 2, heads: 3}\n")
                .find("unknown key 'tensor_parallel.heads'"),
            std::string::npos);
  EXPECT_NE(err("t3.yaml", "batch: 8\nstep_ms: 1\nparams: 3\nglobal_batch: 12\n").find("not a multiple of 'batch'"),
            std::string::npos);
  EXPECT_NE(err("t4.yaml", "batch: 8\nstep_ms: 1\nparams: 3\noverlap_grad_sync: maybe\n").find("not true or false"),
            std::string::npos);
}

// A pipelined model file: micro-batch 8, one device's step 120 ms, 12e6 parameters in 2
// tensors (fp16 gradients), global batch 32, 3 stages with 8·100·1000·2 = 1.6 MB at a
// boundary. A device computes 40 ms per micro-batch and holds 1/3 of the gradients
// (8 MB); a transfer is 5 µs + 1.6e6/1e11 = 21 µs on the node's link. One replica (3
// ranks): 4 micro-batches, compute 160 ms, pipeline 2·40 ms + (4+2)·2·21 µs = 80.252 ms.
// 6 ranks on nodes of 6: 2 replicas on one node, 2 micro-batches each: compute 80 ms,
// pipeline 80 ms + 4·2·21 µs, then the 8 MB ring allreduce of 2, 2·1/2·8e6/1e11 + 2·5 µs
// = 90 µs, after backward.
TEST(ScaleModel, PipelineModelSpecByHand) {
  const ModelSpec m = ModelSpec::load(write(
      "m_pp.yaml", "batch: 8\nstep_ms: 120\nbackward_share: 0.5\nparams: 12e6\ntensors: 2\ngradient_bytes: 2\n"
                   "global_batch: 32\npipeline: {stages: 3, hidden: 1000, seq_len: 100}\n"));
  EXPECT_EQ(m.stages, 3);
  EXPECT_DOUBLE_EQ(m.pp_bytes, 1.6e6);
  Cluster c;
  c.ranks_per_node = 6;
  c.intra = link(5, 100);
  c.inter = link(10, 10);
  const Workload w = workload_of(m, &c);
  EXPECT_EQ(w.mp, 3);
  EXPECT_NEAR(w.compute_s, 0.04, 1e-15);
  EXPECT_NEAR(w.p2p_s, 21e-6, 1e-15);
  EXPECT_DOUBLE_EQ(w.param_bytes, 8e6);
  const Buckets b = bucket(w, 25);
  Row r = predict(w, b, c, 3);
  EXPECT_NEAR(r.compute_s, 0.16, 1e-12);
  EXPECT_NEAR(r.pipeline_s, 0.080252, 1e-12);
  EXPECT_NEAR(r.step_s, 0.240252, 1e-12);
  EXPECT_EQ(r.dominant, "compute; then pipeline bubble");
  r = predict(w, b, c, 6);
  EXPECT_NEAR(r.pipeline_s, 0.080168, 1e-12);
  EXPECT_NEAR(r.exposed_s, 90e-6, 1e-9);
  EXPECT_NEAR(r.step_s, 0.160258, 1e-9);
  EXPECT_NEAR(r.samples_per_s, 32 / r.step_s, 1e-6);
  EXPECT_NE(std::string([] {
              try {
                ModelSpec::load(write("m_pp_bad.yaml", "batch: 8\nstep_ms: 1\nparams: 3\npipeline: {stages: 2}\n"));
              } catch (const Error& e) {
                return std::string(e.what());
              }
              return std::string();
            }())
                .find("missing key 'pipeline.hidden'"),
            std::string::npos);
}

// Two "nodes" of 2 ranks on one machine's 2 cores (shared_cores: cores 2, nodes 2,
// intra copies 4 GB/s, inter copies 1 GB/s), compute 10 ms at one rank, one
// bucket of 8 MB ready when backward ends; intra α 0, β 4 GB/s; inter α 10 µs, β 1 GB/s.
//   n = 4: s = 4, o = 4·1/2 = 2, compute 20 ms;
//     hierarchical: reduce-scatter 1/2·8e6/4e9 = 1 ms, inter ring on 4 MB over 2 nodes
//     2·1/2·4e6/1e9 + 2·10 µs = 4.02 ms, allgather 1 ms: 6.02 ms, not overlapped;
//     copies: intra 2·1/2·8e6 = 8 MB / 4e9 = 2 ms, inter 2·1/2·4e6 = 4 MB / 1e9 = 4 ms;
//     + (2 - 1)·6 ms; step = 20 + 6.02 + 6 = 32.02 ms.
//   n = 2 (one node): s = 2, o = 1: compute 10 ms + ring 2·1/2·8e6/4e9 = 2 ms, no copy term.
TEST(ScaleModel, SharedCoresByHand) {
  const std::string path = write("shared.yaml",
                                 "ranks_per_node: 2\n"
                                 "shared_cores: {cores: 2, nodes: 2, intra_copy_gbs: 4, inter_copy_gbs: 1}\n"
                                 "compute: {step_ms: 10}\n"
                                 "intra: {alpha_us: 0, beta_gbs: 4}\n"
                                 "inter: {alpha_us: 10, beta_gbs: 1}\n");
  const Cluster c = Cluster::load(path);
  EXPECT_EQ(c.cores_per_node, 2);
  EXPECT_EQ(c.shared_nodes, 2);
  EXPECT_EQ(core_share(c, 4).sharing, 4);
  EXPECT_DOUBLE_EQ(core_share(c, 4).over, 2.0);
  EXPECT_DOUBLE_EQ(core_share(c, 2).over, 1.0);
  double in = 0, out = 0;
  allreduce_copy_bytes(8e6, 4, c, in, out);
  EXPECT_DOUBLE_EQ(in, 8e6);
  EXPECT_DOUBLE_EQ(out, 4e6);
  Workload w;
  w.batch = 128;
  w.compute_s = 0.010;
  w.param_bytes = 8e6;
  Buckets b;
  b.bytes = {8e6};
  b.ready_s = {0.010};
  Row r = predict(w, b, c, 4);
  EXPECT_DOUBLE_EQ(r.oversub, 2.0);
  EXPECT_NEAR(r.compute_s, 0.020, 1e-12);
  EXPECT_NEAR(r.exposed_s, 6.02e-3, 1e-12);
  EXPECT_NEAR(r.copy_s, 6e-3, 1e-12);
  EXPECT_NEAR(r.step_s, 0.03202, 1e-12);
  EXPECT_NEAR(r.samples_per_s, 4 * 128 / 0.03202, 1e-6);
  r = predict(w, b, c, 2);
  EXPECT_NEAR(r.step_s, 0.012, 1e-12);
  EXPECT_EQ(r.copy_s, 0.0);
  // Three threads a rank on 2 cores: o = 2·3/2 = 3 already at one node.
  Cluster t = c;
  t.threads_per_rank = 3;
  EXPECT_DOUBLE_EQ(core_share(t, 2).over, 3.0);
  EXPECT_NE(load_error(write("shared_both.yaml", "ranks_per_node: 2\ncores_per_node: 2\nshared_cores: {cores: 2}\n"
                                                 "compute: {step_ms: 1}\nintra: {alpha_us: 1, beta_gbs: 1}\n"
                                                 "inter: {alpha_us: 1, beta_gbs: 1}\n"))
                .find("not both"),
            std::string::npos);
}

// The scheduling delay per collective on shared cores, the cluster of
// SharedCoresByHand with intra_sched_us 300 and inter_sched_us 2000; one bucket,
// so a step makes 2 collectives (the bucket and the step-boundary agreement);
// then the same with compute_share 0.8.
//   n = 4 (crosses the 2 "nodes"), o = 2: sched = (2-1)·2000 µs·2 = 4 ms;
//     step = 20 + 6.02 + 6 + 4 = 36.02 ms.
//   n = 2 (one node), o = 1: no delay; step 12 ms as before.
//   n = 2 with three threads a rank: o = 3, within the node: (3-1)·300 µs·2 = 1.2 ms;
//     compute 30 ms, ring 2 ms, copies (3-1)·(8e6/4e9) = 4 ms: step 37.2 ms.
TEST(ScaleModel, SchedDelayByHand) {
  const Cluster c = Cluster::load(write("sched.yaml",
                                        "ranks_per_node: 2\n"
                                        "shared_cores: {cores: 2, nodes: 2, intra_copy_gbs: 4, inter_copy_gbs: 1,\n"
                                        "               intra_sched_us: 300, inter_sched_us: 2000}\n"
                                        "compute: {step_ms: 10}\n"
                                        "intra: {alpha_us: 0, beta_gbs: 4}\n"
                                        "inter: {alpha_us: 10, beta_gbs: 1}\n"));
  EXPECT_DOUBLE_EQ(c.intra_sched_s, 300e-6);
  EXPECT_DOUBLE_EQ(c.inter_sched_s, 2000e-6);
  EXPECT_DOUBLE_EQ(sched_delay_s(4, c), 2000e-6);
  EXPECT_DOUBLE_EQ(sched_delay_s(2, c), 300e-6);
  EXPECT_EQ(sched_delay_s(1, c), 0.0);
  Workload w;
  w.batch = 128;
  w.compute_s = 0.010;
  w.param_bytes = 8e6;
  Buckets b;
  b.bytes = {8e6};
  b.ready_s = {0.010};
  Row r = predict(w, b, c, 4);
  EXPECT_NEAR(r.sched_s, 4e-3, 1e-12);
  EXPECT_NEAR(r.step_s, 0.03602, 1e-12);
  r = predict(w, b, c, 2);
  EXPECT_EQ(r.sched_s, 0.0);
  EXPECT_NEAR(r.step_s, 0.012, 1e-12);
  Cluster t = c;
  t.threads_per_rank = 3;
  r = predict(w, b, t, 2);
  EXPECT_NEAR(r.sched_s, 1.2e-3, 1e-12);
  EXPECT_NEAR(r.copy_s, 4e-3, 1e-12);
  EXPECT_NEAR(r.step_s, 0.0372, 1e-12);
  // compute_share 0.8: at n = 4 (o = 2) compute is 10·2/0.8 = 25 ms, step 25 + 6.02 + 6 + 4 = 41.02 ms;
  // at n = 2 (o = 1) the cores are not time-sliced: 12 ms as before.
  Cluster k = c;
  k.compute_share = 0.8;
  r = predict(w, b, k, 4);
  EXPECT_NEAR(r.compute_s, 0.025, 1e-12);
  EXPECT_NEAR(r.step_s, 0.04102, 1e-12);
  EXPECT_NEAR(predict(w, b, k, 2).step_s, 0.012, 1e-12);
  EXPECT_DOUBLE_EQ(Cluster::load(write("share.yaml", "ranks_per_node: 2\n"
                                                    "shared_cores: {cores: 2, compute_share: 0.87}\n"
                                                    "compute: {step_ms: 1}\nintra: {alpha_us: 1, beta_gbs: 1}\n"
                                                    "inter: {alpha_us: 1, beta_gbs: 1}\n"))
                       .compute_share,
                   0.87);
}

// fit_shared_cores recovers d and the copy rate from times made by the model:
//   one node of 4 ranks on 2 cores (o = 2), α 0, β 4 GB/s, d 500 µs, copy 2 GB/s:
//     t(S) = 2·3/4·S/4e9 + 500 µs + 1.5·S/2e9;
//   two nodes of 2 (4 ranks on 2 cores), intra copy 4 GB/s known, d 2 ms, inter copy 0.2 GB/s:
//     t(S) = hierarchical(S) + S/4e9 + 2 ms + (S/2)/0.2e9.
TEST(ScaleModel, FitSharedCoresRecoversTheTerms) {
  Cluster one;
  one.ranks_per_node = 4;
  one.cores_per_node = 2;
  one.intra = one.inter = {0, 4e9};
  std::vector<AllreduceSample> s;
  for (double S = 8192; S <= 4194304; S *= 2) s.push_back({4, S, 1.5 * S / 4e9 + 500e-6 + 1.5 * S / 2e9});
  SharedFit f = fit_shared_cores(s, one);
  EXPECT_FALSE(f.inter);
  EXPECT_DOUBLE_EQ(f.over, 2.0);
  EXPECT_NEAR(f.sched_s, 500e-6, 1e-12);
  EXPECT_NEAR(f.copy, 2e9, 1e-3);

  Cluster two;
  two.ranks_per_node = 2;
  two.cores_per_node = 2;
  two.shared_nodes = 2;
  two.intra = {1e-6, 4e9};
  two.inter = {10e-6, 1e9};
  two.intra_copy = 4e9;
  s.clear();
  for (double S = 8192; S <= 4194304; S *= 2)
    s.push_back({4, S, allreduce_s(S, 4, two) + S / 4e9 + 2e-3 + (S / 2) / 0.2e9});
  f = fit_shared_cores(s, two);
  EXPECT_TRUE(f.inter);
  EXPECT_NEAR(f.sched_s, 2e-3, 1e-12);
  EXPECT_NEAR(f.copy, 0.2e9, 1e-3);
  // A comm_bench that does not oversubscribe the cores has nothing to fit.
  s = {{2, 8192, 1e-3}, {2, 16384, 2e-3}};
  EXPECT_THROW(fit_shared_cores(s, one), Error);
}
