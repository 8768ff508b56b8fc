// scale_model.h — the arithmetic of bench/scale_plan: an α-β model of one
// training step at N ranks, from the parts measured at one rank.
//
//   allreduce (ring, n ranks, one link):  2(n-1)/n · bytes/β + 2(n-1)·α
//   hierarchical (n > ranks_per_node = r > 1, m = n/r nodes):
//       intra reduce-scatter  (r-1)/r · bytes/β_intra + (r-1)·α_intra
//     + inter ring over nodes on bytes/r:  2(m-1)/m · (bytes/r)/β_inter + 2(m-1)·α_inter
//     + intra allgather       (r-1)/r · bytes/β_intra + (r-1)·α_intra
//   overlap: bucket k starts at max(its gradients ready, bucket k-1 done), one
//            channel; exposed = max(0, last bucket done - backward done)
//   step = compute + exposed; efficiency = step(1) / step(N)
//   parameter servers (S servers, W workers, P parameter bytes): each worker
//       pushes and pulls P/S to every server; a server carries W · 2P/S, so
//       server time = W · 2P/(S·β) + 2α, the worker's own link 2P/β + 2S·α.
//
// Units: seconds and bytes inside; the cluster file says α in µs, β in GB/s
// (1e9 bytes/s). β is per rank and direction: inter.beta_gbs is a rank's share of
// its node's network (a node's ports' bandwidth / ranks_per_node).
//
// Cluster file (configs/clusters/*.yaml):
//   name: text
//   ranks_per_node: 8
//   cores_per_node: 2        # optional: more ranks than cores on a node share them
//   overlap: true            # optional: false = the allreduce blocks the compute thread
//   compute: {step_ms: 5.2}  # or {gemm_gflops: 19500}: exactly one
//   intra: {alpha_us: 5, beta_gbs: 300}
//   inter: {alpha_us: 10, beta_gbs: 25}
#pragma once

#include <string>
#include <vector>

namespace ft {
namespace train {
namespace scale {

struct Link {
  double alpha_s = 0;  // latency per message
  double beta = 0;     // bytes per second
};

struct Cluster {
  std::string file;
  std::string name;
  int ranks_per_node = 1;
  double step_ms = 0;      // one step's compute at one rank, measured for the config (0 = not given)
  double gemm_gflops = 0;  // per-rank matmul rate (0 = not given); compute = the graph's matmul FLOPs / rate
  Link intra, inter;
  int cores_per_node = 0;  // > 0: ranks beyond it on a node share the cores (compute scales by ranks/cores)
  bool overlap = true;     // false: the allreduce runs on the compute thread (flowtrain's shm path on one node)
  // One-line errors "<file>: key 'intra.beta_gbs' ..." for unknown, missing or bad keys.
  static Cluster load(const std::string& path);
};

double ring_allreduce_s(double bytes, int n, const Link& l);
// Ring within a node (n <= ranks_per_node), ring over nodes (ranks_per_node == 1),
// else hierarchical. n must be a multiple of ranks_per_node above it.
double allreduce_s(double bytes, int n, const Cluster& c);

struct Overlap {
  double comm_end_s = 0;   // when the last bucket's allreduce ends
  double exposed_s = 0;    // comm_end - backward_end, at least 0
  double comm_busy_s = 0;  // sum of the buckets' allreduce times
};
// ready_s[k]: when bucket k's last gradient exists; comm_s[k]: its allreduce time.
Overlap overlap(const std::vector<double>& ready_s, const std::vector<double>& comm_s, double backward_end_s);

struct PsTime {
  double server_s = 0;  // W · 2P/(S·β) + 2α: the busiest server's traffic per round of steps
  double worker_s = 0;  // 2P/β + 2S·α: one worker's own push and pull
};
PsTime ps_time(double param_bytes, int workers, int servers, const Link& l);
// sync: every worker waits for the round; async: a worker waits for its own
// transfer, and the servers' throughput caps the step rate.
double ps_step_s(double compute_s, const PsTime& t, bool sync);

// One timed allreduce (comm_bench's flowtrain column): ranks, bytes, seconds.
struct AllreduceSample {
  int ranks = 2;
  double bytes = 0, seconds = 0;
};
// α and β of the ring formula by least squares on relative error; samples more
// than 50% off the first fit (a noisy host's outliers) are dropped and the fit
// repeated. `kept`, when given, gets the number of samples of the final fit.
Link fit_link(const std::vector<AllreduceSample>& samples, int* kept = nullptr);
// comm_bench's output: the rank count from its header, bytes and the flowtrain
// (auto) time_us of every size line. Throws "<file>: ..." when there is none.
std::vector<AllreduceSample> read_comm_bench(const std::string& path);

}  // namespace scale
}  // namespace train
}  // namespace ft
