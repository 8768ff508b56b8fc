// comm_bench.cpp — allreduce benchmark in the style of nccl-tests: flowtrain's
// allreduce next to raw MPI_Allreduce measured in the same run, plus the
// algorithms flowtrain chooses between and a fusion (bucketing) test.
//
//   mpirun -np 4 comm_bench [-b 4K] [-e 64M] [-f 2] [-w 5] [-n 20]
//                           [-s ring segment] [-t ring threshold]
//
// time_us is the mean per call over -n iterations after -w warm-up calls, the
// slowest rank's, with all variants interleaved call by call; algbw = bytes / time; busbw = algbw * 2(n-1)/n. #wrong counts
// wrong elements in a separate checked call. Exits 1 on any wrong result.
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "comm/comm.h"

using namespace ft;
using namespace ft::comm;

namespace {

size_t parse_size(const char* s) {
  char* end = nullptr;
  double v = std::strtod(s, &end);
  switch (end && *end ? *end : ' ') {
    case 'K': case 'k': v *= 1024; break;
    case 'M': case 'm': v *= 1024 * 1024; break;
    case 'G': case 'g': v *= 1024.0 * 1024 * 1024; break;
    default: break;
  }
  return size_t(v);
}

struct Opts {
  size_t begin = 4 << 10, end = 64 << 20, factor = 2;
  int warmup = 5, iters = 20;
};

// Median seconds per call of each variant, each call timed on the slowest
// rank. The variants are interleaved call by call (each call after a barrier),
// so on a shared, noisy host every variant sees the same background load, and
// the median drops the calls a preempted rank stretched.
std::vector<double> time_variants(MpiCommunicator& w, const Opts& o, const std::vector<std::function<void()>>& fns) {
  std::vector<double> t(fns.size() * size_t(o.iters), 0.0);
  for (int i = 0; i < o.warmup + o.iters; ++i)
    for (size_t v = 0; v < fns.size(); ++v) {
      MPI_Barrier(w.native());
      double t0 = MPI_Wtime();
      fns[v]();
      if (i >= o.warmup) t[v * size_t(o.iters) + size_t(i - o.warmup)] = MPI_Wtime() - t0;
    }
  MPI_Allreduce(MPI_IN_PLACE, t.data(), int(t.size()), MPI_DOUBLE, MPI_MAX, w.native());
  std::vector<double> med(fns.size());
  for (size_t v = 0; v < fns.size(); ++v) {
    auto b = t.begin() + std::ptrdiff_t(v * size_t(o.iters)), e = b + o.iters;
    std::nth_element(b, b + o.iters / 2, e);
    med[v] = *(b + o.iters / 2);
  }
  return med;
}

// Integer-valued contributions: every sum is exact in f32.
void fill(std::vector<float>& v, int rank) {
  for (size_t i = 0; i < v.size(); ++i) v[i] = float((rank + 1) * int(i % 7 + 1));
}
int64_t count_wrong(const std::vector<float>& v, int p) {
  int64_t wrong = 0;
  for (size_t i = 0; i < v.size(); ++i)
    if (v[i] != float(p * (p + 1) / 2 * int(i % 7 + 1))) ++wrong;
  return wrong;
}

std::string human(size_t b) {
  char s[32];
  if (b >= (1 << 20)) std::snprintf(s, sizeof s, "%zuM", b >> 20);
  else std::snprintf(s, sizeof s, "%zuK", b >> 10);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  CommPtr world = comm::init(&argc, &argv);
  auto* w = dynamic_cast<MpiCommunicator*>(world.get());
  if (!w) {
    std::fprintf(stderr, "comm_bench: run under mpirun (world is %s)\n", world->backend().c_str());
    return 2;
  }
  Opts o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "-b") o.begin = parse_size(argv[i + 1]);
    else if (a == "-e") o.end = parse_size(argv[i + 1]);
    else if (a == "-f") o.factor = size_t(std::atoi(argv[i + 1]));
    else if (a == "-w") o.warmup = std::atoi(argv[i + 1]);
    else if (a == "-n") o.iters = std::atoi(argv[i + 1]);
    else if (a == "-s") w->set_ring_segment(parse_size(argv[i + 1]));
    else if (a == "-t") w->set_ring_threshold(parse_size(argv[i + 1]));
  }
  if (o.factor < 2 || o.begin < 4 || o.end < o.begin || o.iters < 1) {
    std::fprintf(stderr, "comm_bench: bad options\n");
    return 2;
  }
  const int p = w->size(), r = w->rank();
  const double busf = 2.0 * (p - 1) / p;
  bool root = r == 0;
  if (root) {
    std::printf("# flowtrain comm_bench: allreduce sum, float, %d ranks, warmup %d, iters %d, median per call\n", p, o.warmup, o.iters);
    double load[3] = {0, 0, 0};
    if (FILE* f = std::fopen("/proc/loadavg", "r")) {
      if (std::fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3) load[0] = -1;
      std::fclose(f);
    }
    std::printf("# host: %u hardware threads, load average %.2f %.2f %.2f at start\n",
                std::thread::hardware_concurrency(), load[0], load[1], load[2]);
    const std::string shm_from =
        w->shm_threshold() ? "from " + std::to_string(w->shm_threshold() >> 10) + " KiB" : "at every size";
    std::printf("# flowtrain = MpiCommunicator::allreduce (in place; auto: shared memory %s when ranks "
                "share a node, else MPI_Allreduce(MPI_IN_PLACE) below %zu KiB, at and above it a ring on persistent "
                "buffers, reduce-scatter segment %s)\n",
                shm_from.c_str(), w->ring_threshold() >> 10,
                w->ring_segment() ? human(w->ring_segment()).c_str() : "whole chunk");
    std::printf("# mpi = raw MPI_Allreduce, separate send and receive buffers; shm / ring / mpi-inplace = flowtrain "
                "forced to one algorithm\n");
    std::printf("#\n# %9s %10s %5s | %28s %6s | %28s %6s | %10s %10s %12s\n", "", "", "", "flowtrain (auto)", "",
                "mpi", "", "shm", "ring", "mpi-inplace");
    std::printf("# %9s %10s %5s | %9s %8s %9s %6s | %9s %8s %9s %6s | %10s %10s %12s\n", "size", "count", "type",
                "time_us", "algbw", "busbw", "#wrong", "time_us", "algbw", "busbw", "#wrong", "time_us", "time_us",
                "time_us");
  }
  int64_t total_wrong = 0;
  for (size_t bytes = o.begin; bytes <= o.end; bytes *= o.factor) {
    const size_t n = bytes / 4;
    std::vector<float> a(n), send(n), recv(n);
    // correctness: one checked call each
    fill(a, r);
    w->set_algorithm(AllreduceAlgorithm::Auto);
    w->allreduce(a.data(), int64_t(n), DType::F32, ReduceOp::Sum);
    int64_t wrong_ft = count_wrong(a, p);
    fill(a, r);
    w->set_algorithm(AllreduceAlgorithm::Shm);
    w->allreduce(a.data(), int64_t(n), DType::F32, ReduceOp::Sum);
    wrong_ft += count_wrong(a, p);
    fill(a, r);
    w->set_algorithm(AllreduceAlgorithm::Ring);
    w->allreduce(a.data(), int64_t(n), DType::F32, ReduceOp::Sum);
    wrong_ft += count_wrong(a, p);
    fill(a, r);
    w->set_algorithm(AllreduceAlgorithm::Mpi);
    w->allreduce(a.data(), int64_t(n), DType::F32, ReduceOp::Sum);
    wrong_ft += count_wrong(a, p);
    fill(send, r);
    MPI_Allreduce(send.data(), recv.data(), int(n), MPI_FLOAT, MPI_SUM, w->native());
    int64_t wrong_mpi = count_wrong(recv, p);
    int64_t wr[2] = {wrong_ft, wrong_mpi};
    MPI_Allreduce(MPI_IN_PLACE, wr, 2, MPI_INT64_T, MPI_SUM, w->native());
    total_wrong += wr[0] + wr[1];
    // timing: zeros keep the in-place sums finite whatever the call count
    std::fill(a.begin(), a.end(), 0.0f);
    using A = AllreduceAlgorithm;
    auto ft_call = [&](A algo) {
      return [&, algo] {
        w->set_algorithm(algo);
        w->allreduce(a.data(), int64_t(n), DType::F32, ReduceOp::Sum);
      };
    };
    std::vector<double> t = time_variants(*w, o, {ft_call(A::Auto), [&] {
      MPI_Allreduce(send.data(), recv.data(), int(n), MPI_FLOAT, MPI_SUM, w->native());
    }, ft_call(A::Shm), ft_call(A::Ring), ft_call(A::Mpi)});
    w->set_algorithm(A::Auto);
    const double t_ft = t[0], t_mpi = t[1], t_shm = t[2], t_ring = t[3], t_inpl = t[4];
    if (root) {
      double gb = double(bytes) / 1e9;
      std::printf("  %9s %10zu %5s | %9.1f %8.2f %9.2f %6lld | %9.1f %8.2f %9.2f %6lld | %10.1f %10.1f %12.1f\n",
                  human(bytes).c_str(), n, "float", t_ft * 1e6, gb / t_ft, gb / t_ft * busf, (long long)wr[0],
                  t_mpi * 1e6, gb / t_mpi, gb / t_mpi * busf, (long long)wr[1], t_shm * 1e6, t_ring * 1e6,
                  t_inpl * 1e6);
      std::fflush(stdout);
    }
  }

  // Fusion: 100 tensors of 10 KiB, one allreduce each vs one fused bucket
  // (copies into and out of the persistent fusion buffer included).
  const int kT = 100;
  const size_t kN = 10 * 1024 / 4;
  std::vector<std::vector<float>> ts(kT, std::vector<float>(kN, 1.0f));
  std::vector<double> tf = time_variants(*w, o, {[&] {
    for (auto& t : ts) w->allreduce(t.data(), int64_t(kN), DType::F32, ReduceOp::Mean);
  }, [&] {
    float* buf = static_cast<float*>(w->fusion_buffer(0, kT * kN * 4));
    for (int i = 0; i < kT; ++i) std::memcpy(buf + size_t(i) * kN, ts[size_t(i)].data(), kN * 4);
    w->allreduce(buf, int64_t(kT * kN), DType::F32, ReduceOp::Mean);
    for (int i = 0; i < kT; ++i) std::memcpy(ts[size_t(i)].data(), buf + size_t(i) * kN, kN * 4);
  }, [&] {
    // what a gradient bucket does (comm/comm_ops.cpp): one allreduce over the
    // tensors' spans, which the shared-memory path reduces in place, without the copies
    std::vector<Communicator::Span> spans;
    for (auto& t : ts) spans.push_back({t.data(), t.data(), kN * 4});
    std::promise<Status> p;
    w->allreduce_spans_async(1, std::move(spans), DType::F32, ReduceOp::Mean, [&](const Status& st) { p.set_value(st); });
    p.get_future().get().throw_if_failed();
  }});
  const double t_each = tf[0], t_fused = tf[1], t_spans = tf[2];
  int64_t fwrong = 0;
  for (auto& t : ts)
    for (float v : t) fwrong += v != 1.0f;  // mean of equal ones stays 1
  MPI_Allreduce(MPI_IN_PLACE, &fwrong, 1, MPI_INT64_T, MPI_SUM, w->native());
  total_wrong += fwrong;
  if (root) {
    std::printf("\n# fusion: %d tensors x 10 KiB, allreduce mean\n", kT);
    std::printf("  one by one : %9.1f us\n", t_each * 1e6);
    std::printf("  fused      : %9.1f us (one %zu KiB bucket, copies included)\n", t_fused * 1e6, kT * kN * 4 / 1024);
    std::printf("  spans      : %9.1f us (one allreduce over the 100 tensors in place, as a gradient bucket)\n",
                t_spans * 1e6);
    std::printf("  speed-up   : %9.2fx fused, %.2fx spans   #wrong %lld\n", t_each / t_fused, t_each / t_spans,
                (long long)fwrong);
    std::printf("\n# total #wrong: %lld\n", (long long)total_wrong);
  }
  world.reset();
  comm::finalize();
  return total_wrong ? 1 : 0;
}
