// communicator.cpp — shared Communicator helpers, comm::init()/finalize() and
// the cross-rank consistency check.
#include "comm/communicator.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <cstdlib>

#include "comm/local_communicator.h"
#include "comm/mpi_communicator.h"
#include "comm/mpi_engine.h"
#include "core/op_registry.h"

namespace ft {
namespace comm {

const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return "sum";
    case ReduceOp::Mean: return "mean";
    case ReduceOp::Max: return "max";
  }
  return "?";
}

ReduceOp parse_reduce_op(const std::string& s) {
  if (s == "sum") return ReduceOp::Sum;
  if (s == "mean") return ReduceOp::Mean;
  if (s == "max") return ReduceOp::Max;
  throw Error("unknown reduce op '" + s + "' (expected sum, mean or max)");
}

std::string call_error(const std::string& call, int rank, const std::string& msg) {
  return call + " failed on rank " + std::to_string(rank) + ": " + msg;
}

void Communicator::check() {
  std::exception_ptr e;
  {
    std::lock_guard<std::mutex> l(err_mu_);
    std::swap(e, async_error_);
  }
  if (e) std::rethrow_exception(e);
}

void Communicator::set_async_error(std::exception_ptr e) {
  std::lock_guard<std::mutex> l(err_mu_);
  if (!async_error_) async_error_ = e;
}

Status Communicator::async_failure() {
  std::exception_ptr e = std::current_exception();
  set_async_error(e);
  return Status::from_exception(e);
}

Tensor Communicator::allgather(const Tensor& t) {
  Shape s = t.shape();
  if (s.empty()) s = {int64_t(size())};
  else s[0] *= size();
  Tensor out = Tensor::empty(s, t.dtype());
  allgather(t.raw(), out.raw(), t.numel(), t.dtype());
  return out;
}

Tensor Communicator::reduce_scatter(const Tensor& t, ReduceOp op) {
  if (t.rank() == 0 || t.dim(0) % size() != 0)
    throw Error("reduce_scatter: dim 0 of " + shape_str(t.shape()) + " is not divisible by the world size " +
                std::to_string(size()));
  Shape s = t.shape();
  s[0] /= size();
  Tensor out = Tensor::empty(s, t.dtype());
  reduce_scatter(t.raw(), out.raw(), out.numel(), t.dtype(), op);
  return out;
}

std::vector<uint64_t> Communicator::allgather_u64(uint64_t v) {
  std::vector<uint64_t> all(static_cast<size_t>(size()));
  allgather(&v, all.data(), 1, DType::I64);
  return all;
}

void Communicator::alltoall(const void* send, void* recv, int64_t count, DType dtype) {
  if (size() != 1) throw Error(backend() + " communicator: alltoall is not supported");
  std::memcpy(recv, send, size_t(count) * dtype_size(dtype));
}

void Communicator::broadcast_bytes(std::string& bytes, int root) {
  int64_t n = int64_t(bytes.size());
  broadcast(&n, 1, DType::I64, root);
  std::vector<int64_t> words(size_t((n + 7) / 8));
  if (rank() == root && n > 0) std::memcpy(words.data(), bytes.data(), size_t(n));
  constexpr int64_t kPiece = int64_t(1) << 27;  // words per call (1 GiB)
  for (int64_t off = 0; off < int64_t(words.size()); off += kPiece)
    broadcast(words.data() + off, std::min<int64_t>(kPiece, int64_t(words.size()) - off), DType::I64, root);
  if (rank() != root) bytes.assign(reinterpret_cast<const char*>(words.data()), size_t(n));
}

void Communicator::gather_spans(const std::vector<Span>& spans, size_t lo, size_t hi, char* to) {
  size_t base = 0;
  for (const Span& s : spans) {
    const size_t a = std::max(lo, base), b = std::min(hi, base + s.bytes);
    if (a < b) std::memcpy(to + (a - lo), static_cast<const char*>(s.src) + (a - base), b - a);
    base += s.bytes;
    if (base >= hi) break;
  }
}

void Communicator::scatter_spans(const std::vector<Span>& spans, size_t lo, size_t hi, const char* from) {
  size_t base = 0;
  for (const Span& s : spans) {
    const size_t a = std::max(lo, base), b = std::min(hi, base + s.bytes);
    if (a < b) std::memcpy(static_cast<char*>(s.dst) + (a - base), from + (a - lo), b - a);
    base += s.bytes;
    if (base >= hi) break;
  }
}

size_t Communicator::span_bytes(const std::vector<Span>& spans) {
  size_t bytes = 0;
  for (const Span& s : spans) bytes += s.bytes;
  return bytes;
}

void Communicator::allreduce_spans_async(int64_t key, std::vector<Span> spans, DType dtype, ReduceOp op,
                                         DoneFn done) {
  const size_t bytes = span_bytes(spans);
  char* buf = static_cast<char*>(fusion_buffer(key, bytes));
  gather_spans(spans, 0, bytes, buf);
  allreduce_async(buf, int64_t(bytes / dtype_size(dtype)), dtype, op,
                  [buf, bytes, spans = std::move(spans), done = std::move(done)](const Status& s) {
                    if (s.ok()) scatter_spans(spans, 0, bytes, buf);
                    done(s);
                  });
}

void* Communicator::fusion_buffer(int64_t key, size_t bytes) {
  std::lock_guard<std::mutex> l(buf_mu_);
  Tensor& t = fusion_[key];
  if (!t.defined() || t.bytes() < bytes || t.raw() == nullptr)
    t = Tensor::empty({int64_t((std::max<size_t>(bytes, 8) + 7) / 8)}, DType::F64);
  return t.raw();
}

// ---- process entry point

namespace {
struct WorldState {
  std::mutex mu;
  CommPtr world;
  bool atexit_registered = false;
};
WorldState& state() {
  static WorldState* s = new WorldState();  // never destroyed: used from atexit
  return *s;
}
}  // namespace

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "MV2_COMM_WORLD_SIZE"})
    if (std::getenv(v)) return true;
  return false;
}

int slurm_tasks_on_node(const std::string& list, int node) {
  size_t at = 0;
  int seen = 0;
  while (at < list.size() && node >= 0) {
    char* end = nullptr;
    const long n = std::strtol(list.c_str() + at, &end, 10);
    if (end == list.c_str() + at || n < 1) return 0;
    at = size_t(end - list.c_str());
    long times = 1;
    if (list.compare(at, 2, "(x") == 0) {
      times = std::strtol(list.c_str() + at + 2, &end, 10);
      if (times < 1 || *end != ')') return 0;
      at = size_t(end - list.c_str()) + 1;
    }
    if (node < seen + times) return int(n);
    seen += int(times);
    if (at < list.size() && list[at] != ',') return 0;
    if (at < list.size()) ++at;
  }
  return 0;
}

LocalPlacement launcher_placement() {
  auto num = [](const char* v, int* out) {
    const char* s = std::getenv(v);
    if (!s || !*s) return false;
    char* end = nullptr;
    const long n = std::strtol(s, &end, 10);
    if (*end != '\0' || n < 0) return false;
    *out = int(n);
    return true;
  };
  struct Pair {
    const char *rank, *size, *source;
  };
  LocalPlacement p;
  for (const Pair& v : {Pair{"OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE", "Open MPI"},
                        Pair{"PMIX_LOCAL_RANK", "PMIX_LOCAL_SIZE", "PMIx"},
                        Pair{"MPI_LOCALRANKID", "MPI_LOCALNRANKS", "MPICH"},
                        Pair{"MV2_COMM_WORLD_LOCAL_RANK", "MV2_COMM_WORLD_LOCAL_SIZE", "MVAPICH2"}})
    if (num(v.rank, &p.rank) && num(v.size, &p.size) && p.size > 0) {
      p.source = v.source;
      return p;
    }
  int node = 0;
  const char* list = std::getenv("SLURM_STEP_TASKS_PER_NODE");
  if (!list) list = std::getenv("SLURM_TASKS_PER_NODE");
  if (num("SLURM_LOCALID", &p.rank) && num("SLURM_NODEID", &node) && list) {
    p.size = slurm_tasks_on_node(list, node);
    if (p.size > 0) {
      p.source = "Slurm";
      return p;
    }
  }
  return LocalPlacement{};
}

CommPtr init(int* argc, char*** argv) {
  WorldState& s = state();
  std::lock_guard<std::mutex> l(s.mu);
  if (s.world) return s.world;
  int inited = 0;
  MPI_Initialized(&inited);
  if (launched_by_mpi() || inited) {
    MpiEngine::get().start(argc, argv);
    s.world = std::make_shared<MpiCommunicator>(MPI_COMM_WORLD, false);
  } else {
    s.world = std::make_shared<LocalCommunicator>();
  }
  if (!s.atexit_registered) {
    s.atexit_registered = true;
    std::atexit([] { finalize(); });
  }
  return s.world;
}

CommPtr world() {
  WorldState& s = state();
  std::lock_guard<std::mutex> l(s.mu);
  return s.world;
}

void finalize() {
  WorldState& s = state();
  CommPtr w;
  {
    std::lock_guard<std::mutex> l(s.mu);
    w = std::move(s.world);
  }
  w.reset();
  MpiEngine::get().stop();
}

void abort_job(int code) {
  if (!MpiEngine::get().running()) return;
  MPI_Abort(MPI_COMM_WORLD, code);  // does not wait for the comm thread: it may be stuck in a call
}

void verify_consistent(Communicator& c, uint64_t hash, const std::string& what) {
  std::vector<uint64_t> all = c.allgather_u64(hash);
  auto hex = [](uint64_t v) {
    char b[20];
    std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
    return std::string(b);
  };
  for (size_t r = 1; r < all.size(); ++r)
    if (all[r] != all[0])
      throw Error(what + " differs across ranks: rank 0 has " + hex(all[0]) + ", rank " + std::to_string(r) +
                  " has " + hex(all[r]));
}

void add_to_resources(Resources& r, CommPtr c) { r.comm = std::move(c); }

}  // namespace comm
}  // namespace ft
