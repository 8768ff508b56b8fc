// shm_allreduce.cpp — the shared-memory (and hierarchical) allreduce of the MPI backend.
#include "comm/shm_allreduce.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>
#include <new>
#include <thread>
#include <vector>
#include <chrono>
#include <cstdlib>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#else
#include <sched.h>
#endif

#include "comm/mpi_communicator.h"

namespace ft {
namespace comm {
namespace {

constexpr size_t kCtrlBytes = 4096;  // flag page in front of the slots

void check(int err, const char* call) {
  if (err == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(err, msg, &len);
  int r = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  throw Error(call_error(call, r, std::string(msg, size_t(len))));
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Sleeps while *a == seen (or until a spurious/timeout wake-up).
void wait_changed(std::atomic<uint32_t>* a, uint32_t seen) {
#if defined(__linux__)
  timespec ts{0, 200 * 1000 * 1000};  // re-check now and then
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(a), FUTEX_WAIT, seen, &ts, nullptr, 0);
#else
  (void)a;
  (void)seen;
  sched_yield();
#endif
}

void wake_all(std::atomic<uint32_t>* a) {
#if defined(__linux__)
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(a), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
#else
  (void)a;
#endif
}

template <class T>
void reduce_divide_typed(T* d, const T* s, int64_t n, ReduceOp op, int div) {
  if (op == ReduceOp::Max) {
    for (int64_t i = 0; i < n; ++i) d[i] = d[i] < s[i] ? s[i] : d[i];
  } else if (div > 1) {
    const T k = static_cast<T>(div);
    for (int64_t i = 0; i < n; ++i) d[i] = static_cast<T>((d[i] + s[i]) / k);
  } else {
    for (int64_t i = 0; i < n; ++i) d[i] += s[i];
  }
}

// reduce_into, then divide_by where div > 1, in one pass and with their bits.
void reduce_divide(void* d, const void* s, int64_t n, DType t, ReduceOp op, int div) {
  switch (t) {
    case DType::F32: return reduce_divide_typed(static_cast<float*>(d), static_cast<const float*>(s), n, op, div);
    case DType::F64: return reduce_divide_typed(static_cast<double*>(d), static_cast<const double*>(s), n, op, div);
    case DType::I32: return reduce_divide_typed(static_cast<int32_t*>(d), static_cast<const int32_t*>(s), n, op, div);
    case DType::I64: return reduce_divide_typed(static_cast<int64_t*>(d), static_cast<const int64_t*>(s), n, op, div);
    default: reduce_into(d, s, n, t, op);  // refuses the type, as before
  }
}

}  // namespace

int ShmAllreduce::ranks_on_this_kernel(MPI_Comm comm) {
  char id[48] = {0};
  if (FILE* f = std::fopen("/proc/sys/kernel/random/boot_id", "r")) {
    if (!std::fgets(id, sizeof id, f)) id[0] = 0;
    std::fclose(f);
  }
  int size = 1;
  MPI_Comm_size(comm, &size);
  std::vector<char> all(size_t(size) * sizeof id);
  check(MPI_Allgather(id, int(sizeof id), MPI_CHAR, all.data(), int(sizeof id), MPI_CHAR, comm), "MPI_Allgather");
  if (id[0] == 0) return 1;  // no boot id: count this node's ranks only
  int n = 0;
  for (int r = 0; r < size; ++r) n += std::memcmp(all.data() + size_t(r) * sizeof id, id, sizeof id) == 0;
  return n;
}

std::unique_ptr<ShmAllreduce> ShmAllreduce::create(MPI_Comm comm, size_t slot_bytes, int node_size) {
  int rank = 0, size = 1;
  check(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  check(MPI_Comm_size(comm, &size), "MPI_Comm_size");
  MPI_Comm node = MPI_COMM_NULL;
  if (node_size > 0)
    check(MPI_Comm_split(comm, rank / node_size, rank, &node), "MPI_Comm_split");
  else
    check(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node), "MPI_Comm_split_type");
  int lr = 0, ls = 1;
  MPI_Comm_rank(node, &lr);
  MPI_Comm_size(node, &ls);
  int mm[2] = {ls, -ls}, out[2];
  check(MPI_Allreduce(mm, out, 2, MPI_INT, MPI_MIN, comm), "MPI_Allreduce");
  if (out[0] < 2 || out[0] != -out[1]) {  // one rank per node somewhere, or uneven nodes
    MPI_Comm_free(&node);
    return nullptr;
  }
  std::unique_ptr<ShmAllreduce> s(new ShmAllreduce());
  s->node_ = node;
  s->world_size_ = size;
  s->local_rank_ = lr;
  s->local_size_ = ls;
  s->nodes_ = size / ls;
  s->slot_bytes_ = (std::max<size_t>(slot_bytes, 4096) + 63) / 64 * 64;
  // More ranks than cores: a spinning waiter would hold the core the rank it
  // waits for needs, so waiters sleep at once. The ranks counted are all those
  // on this machine's kernel, not only this node's: nodes that are containers or
  // network namespaces of one machine share its cores.
  const int machine = ranks_on_this_kernel(comm);
  if (unsigned(std::max(ls, machine)) > std::max(1u, std::thread::hardware_concurrency())) s->spin_ns_ = 0;
  s->node_ranks_.resize(size_t(ls));
  check(MPI_Allgather(&rank, 1, MPI_INT, s->node_ranks_.data(), 1, MPI_INT, node), "MPI_Allgather");
  check(MPI_Comm_split(comm, lr, rank, &s->cross_), "MPI_Comm_split");
  MPI_Comm_set_errhandler(s->cross_, MPI_ERRORS_RETURN);

  MPI_Info info;
  MPI_Info_create(&info);
  MPI_Info_set(info, "alloc_shared_noncontig", "true");  // each segment on its owner's NUMA node
  void* mine = nullptr;
  const MPI_Aint seg = MPI_Aint(kCtrlBytes + 2 * s->slot_bytes_);
  int err = MPI_Win_allocate_shared(seg, 1, info, node, &mine, &s->win_);
  MPI_Info_free(&info);
  check(err, "MPI_Win_allocate_shared");
  // First touch by the owner, and zeroed flags before anyone reads them.
  std::memset(mine, 0, size_t(seg));
  new (mine) std::atomic<uint32_t>(0);
  s->base_.resize(size_t(ls));
  s->flag_.resize(size_t(ls));
  for (int r = 0; r < ls; ++r) {
    MPI_Aint sz = 0;
    int disp = 0;
    void* p = nullptr;
    check(MPI_Win_shared_query(s->win_, r, &sz, &disp, &p), "MPI_Win_shared_query");
    s->base_[size_t(r)] = static_cast<char*>(p);
    s->flag_[size_t(r)] = static_cast<std::atomic<uint32_t>*>(p);
  }
  check(MPI_Barrier(node), "MPI_Barrier");
  return s;
}

ShmAllreduce::~ShmAllreduce() {
  int fin = 0;
  MPI_Finalized(&fin);
  if (fin) return;
  if (win_ != MPI_WIN_NULL) MPI_Win_free(&win_);
  if (cross_ != MPI_COMM_NULL) MPI_Comm_free(&cross_);
  if (node_ != MPI_COMM_NULL) MPI_Comm_free(&node_);
}

std::string ShmAllreduce::describe() const {
  return "shared memory, " + std::to_string(local_size_) + " ranks per node x " + std::to_string(nodes_) +
         (nodes_ == 1 ? " node" : " nodes (MPI_Allreduce between nodes)");
}

char* ShmAllreduce::slot(int local_rank, int set) const {
  return base_[size_t(local_rank)] + kCtrlBytes + size_t(set) * slot_bytes_;
}

// Every local rank bumps its flag to seq_ and waits until all flags reach it.
std::vector<int> ShmAllreduce::not_arrived() const {
  std::vector<int> out;
  const uint32_t target = waiting_.load(std::memory_order_acquire);
  if (target == 0) return out;
  for (int r = 0; r < local_size_; ++r)
    if (int32_t(flag_[size_t(r)]->load(std::memory_order_acquire) - target) < 0) out.push_back(node_ranks_[size_t(r)]);
  return out;
}

void ShmAllreduce::barrier() {
  ++seq_;
  if (seq_ == 0) ++seq_;  // 0 means "not waiting" in waiting_ (wrap-around after 2^32 barriers)
  flag_[size_t(local_rank_)]->store(seq_, std::memory_order_release);
  wake_all(flag_[size_t(local_rank_)]);
  waiting_.store(seq_, std::memory_order_release);
  for (int r = 0; r < local_size_; ++r) {
    std::atomic<uint32_t>* f = flag_[size_t(r)];
    int spins = 0;
    int64_t spin_until = 0;
    for (;;) {
      uint32_t v = f->load(std::memory_order_acquire);
      if (int32_t(v - seq_) >= 0) break;
      if ((++spins & 63) != 0) {
        cpu_relax();
        continue;
      }
      const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                              std::chrono::steady_clock::now().time_since_epoch()).count();
      if (spin_until == 0) spin_until = now + spin_ns_;
      if (now >= spin_until) wait_changed(f, v);
    }
  }
  waiting_.store(0, std::memory_order_release);
}


void ShmAllreduce::allreduce(void* data, int64_t count, DType dtype, ReduceOp op) {
  allreduce({Communicator::Span{data, data, size_t(count) * dtype_size(dtype)}}, dtype, op);
}

void ShmAllreduce::allreduce(const std::vector<Communicator::Span>& spans, DType dtype, ReduceOp op) {
  std::lock_guard<std::mutex> lock(mu_);
  const size_t esz = dtype_size(dtype);
  const int64_t count = int64_t(Communicator::span_bytes(spans) / esz);
  const int64_t per_round = int64_t(slot_bytes_ / esz);
  const int64_t align = std::max<int64_t>(1, int64_t(64 / esz));  // shards on cache lines
  for (int64_t off = 0; off < count; off += per_round, ++rounds_) {
    const int64_t m = std::min(per_round, count - off);
    const int set = int(rounds_ & 1);
    const int64_t per = ((m + local_size_ - 1) / local_size_ + align - 1) / align * align;
    auto lo = [&](int k) { return std::min<int64_t>(m, int64_t(k) * per); };
    const size_t base = size_t(off) * esz;
    const int64_t a = lo(local_rank_), n = lo(local_rank_ + 1) - a;
    // The whole round is copied in, this rank's own shard too: reading that
    // shard from the sources in the reduce instead measured slower, as the
    // reduce's stores then go to lines a peer read last round, each an
    // ownership request, where the copy (rep movsb) writes whole lines.
    Communicator::gather_spans(spans, base, base + size_t(m) * esz, slot(local_rank_, set));
    barrier();
    char* mine = slot(local_rank_, set) + a * int64_t(esz);
    // Peers in a staggered order (ranks read different peers). Mean divides in
    // the last pass where no other node adds to the shard.
    const ReduceOp pass_op = op == ReduceOp::Max ? ReduceOp::Max : ReduceOp::Sum;
    const int divisor = op == ReduceOp::Mean && nodes_ == 1 ? world_size_ : 1;
    for (int k = 1; k < local_size_ && n > 0; ++k) {
      const int r = (local_rank_ + k) % local_size_;
      const char* peer = slot(r, set) + a * int64_t(esz);
      const int div = k == local_size_ - 1 ? divisor : 1;
      reduce_divide(mine, peer, n, dtype, pass_op, div);
    }
    if (nodes_ > 1 && n > 0) {
      if (n > INT_MAX) throw Error("shared-memory allreduce: shard of " + std::to_string(n) + " elements exceeds INT_MAX");
      check(MPI_Allreduce(MPI_IN_PLACE, mine, int(n), mpi_type(dtype), op == ReduceOp::Max ? MPI_MAX : MPI_SUM,
                          cross_),
            "MPI_Allreduce (between nodes)");
    }
    if (op == ReduceOp::Mean && divisor == 1 && n > 0) divide_by(mine, n, dtype, world_size_);
    barrier();
    for (int k = 0; k < local_size_; ++k) {
      const int r = (local_rank_ + k) % local_size_;
      const int64_t b = lo(r), len = lo(r + 1) - b;
      if (len > 0)
        Communicator::scatter_spans(spans, base + size_t(b) * esz, base + size_t(b + len) * esz, slot(r, set) + b * int64_t(esz));
    }
  }
}

}  // namespace comm
}  // namespace ft
