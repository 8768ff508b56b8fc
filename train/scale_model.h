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
//                            # (the same as shared_cores: {cores: 2, nodes: 1})
//   shared_cores:            # optional: the physical cores that the ranks of `nodes`
//     cores: 2               #   consecutive nodes share (nodes > 1: "hosts" on one machine)
//     nodes: 2               #   optional (default 1)
//     threads_per_rank: 1    #   optional: a rank's compute threads (default 1)
//     intra_copy_gbs: 6.8    #   optional: bytes/s (1e9) a core copies carrying intra traffic
//     inter_copy_gbs: 1.0    #   optional: the same for inter-node traffic (TCP's copies)
//     intra_sched_us: 400    #   optional: a collective's scheduling delay per call on
//     inter_sched_us: 2000   #   oversubscribed cores, within a node / across nodes
//     compute_share: 0.87    #   optional: the share of a core's speed that the ranks
//                            #   time-slicing on it get in total (default 1)
//   overlap: true            # optional: false = the allreduce blocks the compute thread
//   compute: {step_ms: 5.2}  # or {gemm_gflops: 19500}: exactly one
//                            # optional sigma_ms: a rank's step-time standard deviation (straggler term)
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
  int cores_per_node = 0;  // > 0: the physical cores that shared_nodes nodes' ranks share (0: not shared)
  int shared_nodes = 1;    // shared_cores.nodes
  int threads_per_rank = 1;
  double intra_copy = 0, inter_copy = 0;  // bytes/s a core copies for the links (0: no copy term)
  double intra_sched_s = 0, inter_sched_s = 0;  // a collective's scheduling delay per call at o = 2 (0: none)
  double compute_share = 1;  // oversubscribed cores: the share of their speed the ranks get in total
  bool overlap = true;     // false: the allreduce runs on the compute thread (flowtrain's shm path on one node)
  double sigma_s = 0;      // a rank's step-time standard deviation (compute.sigma_ms; 0 = no straggler term)
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

// The straggler term: a synchronous step waits for the slowest of n ranks. With
// independent per-rank step times of standard deviation σ, the expected maximum
// is about mean + σ·sqrt(2 ln n) (the Gaussian extreme-value bound): this returns
// σ·sqrt(2 ln n), 0 at one rank.
double straggler_s(double sigma_s, int n);

// A rank's step-time standard deviation from one rank's metrics records: a
// record's samples_per_sec averages the log_every steps since the previous one,
// so the spread of the records' step times (batch / samples_per_sec) is
// σ/sqrt(log_every): σ = that spread (sample standard deviation) ·
// sqrt(log_every), log_every from the last two records' steps (1 without them).
double step_sigma_s(const std::vector<double>& samples_per_sec, const std::vector<double>& steps, double batch);

// A model that the zoo does not build, given by its gradient tensors and its
// one-device step (configs/models/*.yaml, scale_plan --model-spec):
//   name: ResNet-101
//   batch: 64                # per device
//   images_per_sec: 130      # one device at that batch; or step_ms: ...; exactly one
//   gradient_bytes: 4        # optional, bytes per parameter on the wire (2: fp16 gradients)
//   backward_share: 0.667    # optional, the backward pass's share of the step
//   layers: [4.1e6, {params: 2.36e6, repeat: 3}, ...]  # parameter counts in backward order
//   # or, without layers: params: 44.5e6 and tensors: 104 (equal tensors)
//   global_batch: 2048       # optional: the step's batch over all replicas; then `batch`
//                            # is the micro-batch and a replica runs global/(replicas·batch)
//                            # of them per step (gradient accumulation)
//   overlap_grad_sync: false # optional: the gradient sync starts after backward
//   tensor_parallel:         # optional: one replica is split over tp devices of a node
//     tp: 2                  # (Megatron layers: 2 allreduces of batch·seq·hidden in
//     layers: 48             #  forward, 2 in backward, per transformer layer)
//     hidden: 2560
//     seq_len: 512
//     activation_bytes: 2    # optional (default 2)
//     allreduces_per_layer: 4  # optional (default 4)
//   pipeline:                # optional: the layers in `stages` consecutive stages (1F1B)
//     stages: 4              # per micro-batch each stage boundary carries batch·seq·hidden
//     hidden: 2560           # activations forward and their gradient backward
//     seq_len: 512
//     activation_bytes: 2    # optional (default 2)
// The backward pass is taken as spread evenly over the listed tensors: tensor k
// of K is ready at forward + backward·(k+1)/K. With tensor_parallel, the step
// (images_per_sec or step_ms) is one device's with the whole model: a device of
// the tp computes step/tp and holds 1/tp of every listed tensor's gradient. With
// pipeline stages as well, a replica is tp·stages devices; a device computes
// step/(tp·stages) per micro-batch and holds 1/(tp·stages) of every gradient (the
// stages taken as equal) and runs 1/stages of the tp collectives; the stage boundaries' transfers are sends of one
// message, on the intra-node link when the replica fits a node, else the inter-node one.
struct ModelSpec {
  std::string file, name;
  int64_t batch = 0;
  double step_s = 0;
  double gradient_bytes = 4;
  double backward_share = 2.0 / 3.0;
  std::vector<double> tensor_params;  // backward order, the whole model's
  int64_t global_batch = 0;           // 0: `batch` per replica at every N
  bool overlap_grad_sync = true;
  int tp = 1;                         // tensor_parallel
  int tp_layers = 0, allreduces_per_layer = 4;
  double hidden = 0, seq_len = 0, activation_bytes = 2;
  int stages = 1;                     // pipeline
  double pp_bytes = 0;                // pipeline: one micro-batch's activations at a stage boundary
  static ModelSpec load(const std::string& path);
};

// One step's work at one rank, from a config's graph or from a ModelSpec.
struct Workload {
  std::string mode = "allreduce-sync";  // or ps-sync, ps-async
  int64_t batch = 1;
  double compute_s = 0;                 // forward + backward at one rank
  std::vector<double> grad_bytes;       // backward order
  std::vector<double> grad_ready_s;     // when each exists, from the step's start
  double param_bytes = 0;
  int servers = 1;                      // ps modes
  double mp_s = 0;                      // model-parallel collectives on the critical path (per step)
  int mp = 1;                           // model-parallel degree: N ranks are N/mp replicas of mp
  bool deterministic = false;           // distributed.deterministic: deterministic_reduce_s after the step
  bool overlap = true;                  // false: the gradient sync starts after backward (and the cluster's overlap)
  int64_t global_batch = 0;             // > 0: a replica runs global_batch/(replicas·batch) micro-batches of batch
  int stages = 1;                       // pipeline stages per replica (part of mp)
  double p2p_s = 0;                     // one micro-batch's transfer across a stage boundary (α + bytes/β)
};

// Deterministic mode's reduction (train/allreduce_strategy.cpp deterministic_grads),
// after the whole step and on the compute thread, so never overlapped: an
// alltoall of the S/n shards of every rank's partial, each shard tree-summed in
// rank order, an allgather of the summed shards, and the loss's 8-byte allreduce.
// With r = min(n, ranks_per_node) ranks on a node, each of the two exchanges
// sends S/n to each of the n-1 others, r-1 of them on the node:
//   phase = (r-1)·(α_intra + S/(n·β_intra)) + (n-r)·(α_inter + S/(n·β_inter))
//   total = 2·phase + log2(r)·α_intra + log2(n/r)·α_inter   (the loss, recursive doubling)
// At n <= ranks_per_node that is the ring allreduce's bytes, 2(n-1)/n·S/β, with
// 2(n-1)+log2(n) α. The tree sums and the copies in and out of the flat buffer
// are not counted.
double deterministic_reduce_s(double bytes, int n, const Cluster& c);

// The model-parallel collectives of one step (the graph's mp_allreduce and
// mp_allgather nodes, bytes of their outputs) within a group of mp ranks, one
// after another on the step's critical path:
//   allreduce  2(mp-1)/mp · bytes/β + 2(mp-1)·α   (the ring)
//   allgather  (mp-1)/mp · bytes/β + (mp-1)·α     (bytes: the gathered output)
struct MpCollective {
  bool allgather = false;
  double bytes = 0;
};
double mp_collectives_s(const std::vector<MpCollective>& ops, int mp, const Link& l);
// A tensor-parallel model file's collectives per micro-batch: layers·allreduces_per_layer
// allreduces of batch·seq_len·hidden·activation_bytes each (none without tensor_parallel).
std::vector<MpCollective> tp_collectives(const ModelSpec& m);
// With tensor_parallel and a cluster: mp = tp, compute step/tp, gradients 1/tp of
// each tensor, mp_s the tp collectives on the intra-node link (inter if tp spans nodes).
Workload workload_of(const ModelSpec& m, const Cluster* c = nullptr);

// The gradients in fusion buckets of bucket_mb by comm::GradientBucketer (the
// allreduce strategy's rule); a bucket is ready with its last gradient, the
// last bucket carries the loss and waits for the whole step.
struct Buckets {
  std::vector<double> bytes, ready_s;
};
Buckets bucket(const Workload& w, double bucket_mb);

// Ranks sharing physical cores (Cluster::cores_per_node > 0). At n ranks the
// s = min(n, ranks_per_node · shared_nodes) ranks of one machine share C cores:
//   oversubscription  o = max(1, s · threads_per_rank / C)
//   compute (and the pipeline's bubble) scale by o / compute_share when o > 1:
//   ranks time-sliced on a core lose some of its speed to the switches between
//   them (the caches refilled, the scheduler's own work); compute_share is
//   measured by s independent one-rank runs started together (no communication:
//   o · one run's step / their step).
// The communication's CPU work: a rank copies, per allreduce of S bytes,
//   ring in a node: 2(n-1)/n·S intra; ring over nodes: 2(n-1)/n·S inter;
//   hierarchical:   2(r-1)/r·S intra + 2(m-1)/m·(S/r) inter,
// which costs it copy = intra/intra_copy + inter/inter_copy seconds of a core
// (a copy rate of 0 leaves that link out). The link's α-β were measured with a
// core free for those copies; with o > 1 no core is free, so
//   the allreduces are not overlapped (exposed = their whole time), and
//   the copies take o times their core time: + (o - 1)·copy on the step.
// A collective is also a synchronization: no rank leaves it before every rank
// has entered it. With o > 1 a rank that arrives finds a peer runnable but
// without a core (another rank computes on it, or spins waiting) and waits for
// the scheduler to give the peer one; a peer asleep in the collective waits
// for its wake-up the same way. That is a delay per call, not per byte:
//   sched = (o - 1) · d · calls,  d = intra_sched (a collective within a node)
//   or inter_sched (one that crosses nodes), calls = the step's buckets + 1
//   (Strategy::agree_stop's 4-byte allreduce at each step boundary).
// d is the delay per call at o = 2 (one rank without a core per core): the
// intercept of a comm_bench at more ranks than cores (fit_shared_cores).
// Only allreduce-sync (not deterministic or ps) gets the copy and delay terms.
struct CoreShare {
  int sharing = 1;       // s
  double over = 1;       // o
};
CoreShare core_share(const Cluster& c, int n);
// One rank's bytes copied per allreduce of `bytes` at n ranks, on each link.
void allreduce_copy_bytes(double bytes, int n, const Cluster& c, double& intra, double& inter);
// The scheduling delay d of one collective at n ranks: inter_sched when it
// crosses nodes (n > ranks_per_node), else intra_sched; not yet scaled by o - 1.
double sched_delay_s(int n, const Cluster& c);


// One rank count's prediction. With w.mp > 1, n ranks are n/mp replicas whose
// groups of mp consecutive ranks share a node: the gradient allreduce runs over
// the n/mp replicas, ranks_per_node/mp of them per node, and n must be a
// multiple of mp.
//   allreduce-sync: step = compute + mp + straggler + exposed (the buckets'
//                   allreduces overlapped with backward, scale_model overlap)
//   ps-sync:        step = compute + mp + straggler + max(server, worker)
//   ps-async:       step = max(compute + mp + worker, server): no straggler (nobody waits)
//   deterministic:  step = compute + mp + straggler + deterministic_reduce_s (no overlap)
// With w.stages = p > 1 (1F1B over f micro-batches of stage compute c each):
//   pipeline = (p-1)·c (the bubble) + (f+p-1)·2·p2p (a send forward and one backward
//   per slot), added to the step before the gradient sync; the gradients are ready after it.
// With w.global_batch, a replica's batch at n is global_batch/(n/mp), f = that over
// w.batch micro-batches: compute and mp scale by f, the gradients are ready in the
// last micro-batch (each ready time shifted by the f-1 micro-batches before it),
// and samples/s = global_batch/step.
struct Row {
  int ranks = 1;
  bool ok = true;       // false: ps with no worker left
  double step_s = 0, compute_s = 0, mp_s = 0, straggler_s = 0, exposed_s = 0, samples_per_s = 0;
  double pipeline_s = 0;  // the pipeline's bubble and stage-boundary transfers
  double oversub = 1;     // core_share's o
  double copy_s = 0;      // the copies' added time on shared cores, (o - 1)·copy
  double sched_s = 0;     // the collectives' scheduling delay on shared cores, (o - 1)·d·calls
  double alpha_part_s = 0, beta_part_s = 0;  // the communication's latency and bandwidth parts
  bool server_bound = false;                 // ps: the busiest server, not a worker's link, sets the time
  double efficiency = 0;                     // step at one rank / step here (set by the caller's baseline)
  std::string dominant;                      // compute, comm α, comm β, server contention or straggler
};
Row predict(const Workload& w, const Buckets& b, const Cluster& c, int n);

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

// The shared-cores constants of the link a comm_bench at more ranks than cores
// crosses, from its times: with o = core_share(c, n).over > 1 each size S is
//   t(S) = allreduce_s(S, n, c) + known(S) + (o - 1)·(d + bytes(S)/copy)
// where bytes(S) is the rank's copies on that link (allreduce_copy_bytes) and
// known(S) the other link's copy term when the call crosses nodes (intra_copy
// from the file). d and 1/copy by weighted least squares on relative error
// (weights 1/t), over every size. The link is inter when n > ranks_per_node.
struct SharedFit {
  bool inter = false;      // the fitted link
  double sched_s = 0;      // d (at least 0)
  double copy = 0;         // bytes/s (0: the copies did not show: no copy term)
  double over = 1;         // o of the samples
};
SharedFit fit_shared_cores(const std::vector<AllreduceSample>& samples, const Cluster& c);

}  // namespace scale
}  // namespace train
}  // namespace ft
