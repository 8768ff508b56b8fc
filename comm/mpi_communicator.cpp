// mpi_communicator.cpp — MPI backend: collectives, the in-place ring allreduce
// on a persistent scratch buffer, point-to-point through the engine's progress loop.
#include "comm/mpi_communicator.h"

#include <algorithm>
#include <climits>
#include <cstring>

#include "comm/mpi_engine.h"
#include "comm/stall.h"

namespace ft {
namespace comm {
namespace {

constexpr int kRingTag = 0x5a11;

template <class T>
void reduce_typed(T* d, const T* s, int64_t n, ReduceOp op) {
  if (op == ReduceOp::Max) {
    for (int64_t i = 0; i < n; ++i) d[i] = d[i] < s[i] ? s[i] : d[i];
  } else {
    for (int64_t i = 0; i < n; ++i) d[i] += s[i];
  }
}

template <class T>
void divide_typed(T* d, int64_t n, int k) {
  for (int64_t i = 0; i < n; ++i) d[i] = static_cast<T>(d[i] / static_cast<T>(k));
}

int to_int(int64_t v, const char* what) {
  if (v < 0 || v > INT_MAX) throw Error(std::string(what) + ": count " + std::to_string(v) + " exceeds INT_MAX");
  return static_cast<int>(v);
}

void require_reducible(DType t, const char* call) {
  if (t == DType::F16 || t == DType::BF16)
    throw Error(std::string(call) + ": reductions of " + dtype_name(t) + " are not supported by the MPI backend");
}

}  // namespace

MPI_Datatype mpi_type(DType t) {
  switch (t) {
    case DType::F32: return MPI_FLOAT;
    case DType::F64: return MPI_DOUBLE;
    case DType::I32: return MPI_INT32_T;
    case DType::I64: return MPI_INT64_T;
    case DType::F16:
    case DType::BF16: return MPI_UINT16_T;  // moved as bits; never reduced
  }
  return MPI_BYTE;
}

void reduce_into(void* dst, const void* src, int64_t n, DType t, ReduceOp op) {
  switch (t) {
    case DType::F32: reduce_typed(static_cast<float*>(dst), static_cast<const float*>(src), n, op); return;
    case DType::F64: reduce_typed(static_cast<double*>(dst), static_cast<const double*>(src), n, op); return;
    case DType::I32: reduce_typed(static_cast<int32_t*>(dst), static_cast<const int32_t*>(src), n, op); return;
    case DType::I64: reduce_typed(static_cast<int64_t*>(dst), static_cast<const int64_t*>(src), n, op); return;
    default: require_reducible(t, "reduce_into");
  }
}

void divide_by(void* d, int64_t n, DType t, int k) {
  switch (t) {
    case DType::F32: divide_typed(static_cast<float*>(d), n, k); return;
    case DType::F64: divide_typed(static_cast<double*>(d), n, k); return;
    case DType::I32: divide_typed(static_cast<int32_t*>(d), n, k); return;
    case DType::I64: divide_typed(static_cast<int64_t*>(d), n, k); return;
    default: require_reducible(t, "divide_by");
  }
}

MpiCommunicator::MpiCommunicator(MPI_Comm c, bool owns) : comm_(c), owns_(owns) {
  MpiEngine::get().run([&] {
    check_mpi(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    check_mpi(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    check_mpi(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
    check_mpi(MPI_Comm_dup(comm_, &ring_comm_), "MPI_Comm_dup");
    check_mpi(MPI_Comm_set_errhandler(ring_comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    // Every rank's host, so that a stall or a failure can say where a rank runs.
    char name[MPI_MAX_PROCESSOR_NAME] = {0};
    int len = 0;
    check_mpi(MPI_Get_processor_name(name, &len), "MPI_Get_processor_name");
    std::vector<char> all(size_t(size_) * MPI_MAX_PROCESSOR_NAME);
    check_mpi(MPI_Allgather(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all.data(), MPI_MAX_PROCESSOR_NAME, MPI_CHAR,
                            ring_comm_),
              "MPI_Allgather");
    for (int r = 0; r < size_; ++r) {
      const char* h = all.data() + size_t(r) * MPI_MAX_PROCESSOR_NAME;
      hosts_.emplace_back(h, strnlen(h, MPI_MAX_PROCESSOR_NAME));
    }
    // And where each rank answers how far it got (comm/progress.h).
    const ProgressAddress mine = progress_address();
    progress_.resize(size_t(size_));
    check_mpi(MPI_Allgather(&mine, int(sizeof mine), MPI_BYTE, progress_.data(), int(sizeof mine), MPI_BYTE,
                            ring_comm_),
              "MPI_Allgather");
  });
}

std::vector<int> MpiCommunicator::not_arrived() const {
  if (shm_state_.load() == 1) {
    std::vector<int> v = shm_->not_arrived();
    if (!v.empty()) return v;
  }
  const int64_t entered = Inflight::get().entered(), left = Inflight::get().left();
  if (size_ == 1 || entered <= left) return {};
  // Collectives complete in the order they were entered, so the oldest in
  // progress is number left + 1; a rank that has entered fewer is not there.
  const int64_t seq = left + 1;
  std::vector<ProgressAddress> peers;
  std::vector<int> ranks;
  for (int r = 0; r < size_; ++r)
    if (r != rank_) {
      peers.push_back(progress_[size_t(r)]);
      ranks.push_back(r);
    }
  const std::vector<int64_t> got = ask_progress(peers, 0.5);
  std::vector<int> out;
  for (size_t i = 0; i < got.size(); ++i)
    if (got[i] == -1 || (got[i] >= 0 && got[i] < seq)) out.push_back(ranks[i]);
  return out;
}

MpiCommunicator::~MpiCommunicator() {
  if (!MpiEngine::get().running()) return;  // MPI finalized: nothing to free
  try {
    MpiEngine::get().run([&] {  // FIFO: waits for this communicator's queued calls
      shm_.reset();
      MPI_Comm_free(&ring_comm_);
      if (owns_) MPI_Comm_free(&comm_);
    });
  } catch (...) {
  }
}

void MpiCommunicator::check_mpi(int err, const char* call) const {
  if (err == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(err, msg, &len);
  throw Error(call_error(call, rank_, std::string(msg, size_t(len))));
}

void MpiCommunicator::allreduce(void* data, int64_t count, DType dtype, ReduceOp op) {
  check();
  require_reducible(dtype, "allreduce");
  MpiEngine::get().run([&] { allreduce_now(data, count, dtype, op); });
}

void MpiCommunicator::allreduce_now(void* data, int64_t count, DType dtype, ReduceOp op) {
  if (size_ == 1 || count == 0) return;
  switch (choose(size_t(count) * dtype_size(dtype)).kind) {
    case AllreduceCandidate::Kind::Shm:
      shm_->allreduce(data, count, dtype, op);  // divides for mean itself
      return;
    case AllreduceCandidate::Kind::Ring:
      ring_allreduce(data, count, dtype, op);  // divides for mean itself
      return;
    case AllreduceCandidate::Kind::Mpi:
      check_mpi(MPI_Allreduce(MPI_IN_PLACE, data, to_int(count, "MPI_Allreduce"), mpi_type(dtype),
                              op == ReduceOp::Max ? MPI_MAX : MPI_SUM, comm_),
                "MPI_Allreduce");
      if (op == ReduceOp::Mean) divide_by(data, count, dtype, size_);
      return;
  }
}

void MpiCommunicator::configure(const CommOptions& options) {
  check();
  opts_ = options;
  rebuild();
  if (size_ == 1 || !lists_shm(candidates_)) return;
  MpiEngine::get().run([&] {
    if (shm_state_ == 0) choose(std::max(opts_.shm_threshold, size_t(1)));  // sets the window up
  });
}

std::string MpiCommunicator::allreduce_summary() const {
  std::vector<std::string> hosts = hosts_;
  std::sort(hosts.begin(), hosts.end());
  const size_t n_hosts = size_t(std::unique(hosts.begin(), hosts.end()) - hosts.begin());
  std::string out = std::to_string(size_) + " ranks on " + std::to_string(n_hosts) + (n_hosts == 1 ? " host" : " hosts");
  if (shm_state_.load() == 1) return out + ": " + shm_->describe();
  std::string list;
  for (const AllreduceCandidate& c : candidates_) {
    if (c.kind == AllreduceCandidate::Kind::Shm) continue;  // not applicable here (shm_state_ != 1)
    list += (list.empty() ? "" : ", ") + std::string(c.name());
    if (c.min_bytes > 0) list += " from " + std::to_string(c.min_bytes >> 10) + " KiB";
  }
  return out + ": " + list;
}

NodeSharing MpiCommunicator::sharing() const {
  const int s = shm_state_.load();
  return s == 0 ? NodeSharing::Unknown : s == 1 ? NodeSharing::Yes : NodeSharing::No;
}

AllreduceCandidate MpiCommunicator::choose(size_t bytes) {
  AllreduceCandidate c = select_allreduce(candidates_, {bytes, sharing()});
  if (c.kind == AllreduceCandidate::Kind::Shm && shm_state_ == 0) {  // every rank reaches this at the same call
    shm_ = ShmAllreduce::create(comm_, opts_.shm_slot, opts_.shm_node_size);
    shm_state_ = shm_ ? 1 : -1;
    if (!shm_) c = select_allreduce(candidates_, {bytes, NodeSharing::No});
  }
  return c;
}

// Ring allreduce in place: p-1 reduce-scatter steps (receive the left
// neighbour's partial chunk into scratch, add it to ours), then p-1 allgather
// steps (receive finished chunks straight into data). Moves 2(p-1)/p of the
// buffer per rank, and allocates nothing once scratch_ has grown.
void MpiCommunicator::ring_allreduce(void* data, int64_t count, DType dtype, ReduceOp op) {
  const int p = size_, r = rank_;
  const size_t esz = dtype_size(dtype);
  const int64_t base = count / p, rem = count % p;
  auto start = [&](int c) { return int64_t(c) * base + std::min<int64_t>(c, rem); };
  auto len = [&](int c) { return base + (c < rem ? 1 : 0); };
  // Reduce-scatter steps move a chunk in segments of at most seg bytes, so a
  // received segment is still in cache when it is added (seg 0 = whole chunk).
  const size_t segment = opts_.ring_segment;
  const int64_t seg = segment ? std::max<int64_t>(1, int64_t(segment / esz)) : base + 1;
  size_t need = size_t(std::min<int64_t>(seg, base + 1)) * esz;
  if (scratch_.size() < need) scratch_.resize(need);
  char* d = static_cast<char*>(data);
  const int right = (r + 1) % p, left = (r - 1 + p) % p;
  auto mod = [p](int x) { return ((x % p) + p) % p; };
  const int64_t maxlen = std::max<int64_t>(len(0), 1);
  for (int s = 0; s < p - 1; ++s) {
    const int sc = mod(r - s), rc = mod(r - s - 1);
    const int64_t sn = len(sc), rn = len(rc);
    for (int64_t off = 0; off < maxlen; off += seg) {  // same segment count on every rank
      const int64_t so = std::min(off, sn), sl = std::min(seg, sn - so);
      const int64_t ro = std::min(off, rn), rl = std::min(seg, rn - ro);
      check_mpi(MPI_Sendrecv(d + (start(sc) + so) * int64_t(esz), to_int(sl * int64_t(esz), "ring"), MPI_BYTE,
                             right, kRingTag, scratch_.data(), to_int(rl * int64_t(esz), "ring"), MPI_BYTE, left,
                             kRingTag, ring_comm_, MPI_STATUS_IGNORE),
                "MPI_Sendrecv (ring reduce-scatter)");
      reduce_into(d + (start(rc) + ro) * int64_t(esz), scratch_.data(), rl, dtype, op);
    }
  }
  int own = mod(r + 1);
  if (op == ReduceOp::Mean) divide_by(d + start(own) * int64_t(esz), len(own), dtype, p);
  for (int s = 0; s < p - 1; ++s) {
    int sc = mod(r + 1 - s), rc = mod(r - s);
    check_mpi(MPI_Sendrecv(d + start(sc) * int64_t(esz), to_int(len(sc) * int64_t(esz), "ring"), MPI_BYTE, right,
                           kRingTag + 1, d + start(rc) * int64_t(esz), to_int(len(rc) * int64_t(esz), "ring"),
                           MPI_BYTE, left, kRingTag + 1, ring_comm_, MPI_STATUS_IGNORE),
              "MPI_Sendrecv (ring allgather)");
  }
}

void MpiCommunicator::broadcast(void* data, int64_t count, DType dtype, int root) {
  check();
  MpiEngine::get().run([&] {
    check_mpi(MPI_Bcast(data, to_int(count, "MPI_Bcast"), mpi_type(dtype), root, comm_), "MPI_Bcast");
  });
}

void MpiCommunicator::allgather(const void* send, void* recv, int64_t count, DType dtype) {
  check();
  MpiEngine::get().run([&] {
    int n = to_int(count, "MPI_Allgather");
    check_mpi(MPI_Allgather(send, n, mpi_type(dtype), recv, n, mpi_type(dtype), comm_), "MPI_Allgather");
  });
}

void MpiCommunicator::alltoall(const void* send, void* recv, int64_t count, DType dtype) {
  check();
  MpiEngine::get().run([&] {
    int n = to_int(count, "MPI_Alltoall");
    check_mpi(MPI_Alltoall(send, n, mpi_type(dtype), recv, n, mpi_type(dtype), comm_), "MPI_Alltoall");
  });
}

void MpiCommunicator::reduce_scatter(const void* send, void* recv, int64_t count, DType dtype, ReduceOp op) {
  check();
  require_reducible(dtype, "reduce_scatter");
  MpiEngine::get().run([&] {
    check_mpi(MPI_Reduce_scatter_block(send, recv, to_int(count, "MPI_Reduce_scatter_block"), mpi_type(dtype),
                                       op == ReduceOp::Max ? MPI_MAX : MPI_SUM, comm_),
              "MPI_Reduce_scatter_block");
    if (op == ReduceOp::Mean) divide_by(recv, count, dtype, size_);
  });
}

void MpiCommunicator::send(const void* data, size_t bytes, int peer, int tag) {
  check();
  MpiEngine::get().run([&] {
    check_mpi(MPI_Send(data, to_int(int64_t(bytes), "MPI_Send"), MPI_BYTE, peer, tag, comm_), "MPI_Send");
  });
}

void MpiCommunicator::recv(void* data, size_t bytes, int peer, int tag) {
  check();
  MpiEngine::get().run([&] {
    MPI_Status st;
    check_mpi(MPI_Recv(data, to_int(int64_t(bytes), "MPI_Recv"), MPI_BYTE, peer, tag, comm_, &st), "MPI_Recv");
    int got = 0;
    MPI_Get_count(&st, MPI_BYTE, &got);
    if (size_t(got) != bytes)
      throw Error(call_error("MPI_Recv", rank_, "expected " + std::to_string(bytes) + " bytes from rank " +
                                                    std::to_string(peer) + ", got " + std::to_string(got)));
  });
}

void MpiCommunicator::barrier() {
  check();
  MpiEngine::get().run([&] { check_mpi(MPI_Barrier(comm_), "MPI_Barrier"); });
}

std::shared_ptr<Communicator> MpiCommunicator::split(int color, int key) {
  check();
  MPI_Comm sub = MPI_COMM_NULL;
  MpiEngine::get().run([&] { check_mpi(MPI_Comm_split(comm_, color, key, &sub), "MPI_Comm_split"); });
  auto c = std::make_shared<MpiCommunicator>(sub, true);
  c->opts_ = opts_;
  c->opts_.shm_node_size = 0;  // pseudo-nodes are a setting of the communicator they were set on
  c->rebuild();
  return c;
}

void MpiCommunicator::allreduce_async(void* data, int64_t count, DType dtype, ReduceOp op, DoneFn done) {
  check();
  require_reducible(dtype, "allreduce_async");
  MpiEngine::get().post([this, data, count, dtype, op, done = std::move(done)] {
    Status st;
    try {
      allreduce_now(data, count, dtype, op);
    } catch (...) {
      st = async_failure();
    }
    done(st);
  });
}

void MpiCommunicator::allreduce_spans_async(int64_t key, std::vector<Span> spans, DType dtype, ReduceOp op,
                                            DoneFn done) {
  check();
  require_reducible(dtype, "allreduce_async");
  const size_t bytes = span_bytes(spans);
  // Not shared memory (by the list, or known not to apply): through the fusion buffer.
  if (size_ == 1 || select_allreduce(candidates_, {bytes, sharing()}).kind != AllreduceCandidate::Kind::Shm) {
    Communicator::allreduce_spans_async(key, std::move(spans), dtype, op, std::move(done));
    return;
  }
  if (shm_state_ == 1 && shm_->nodes() == 1) {
    // One node: no MPI call involved, so the caller's thread does the work and
    // no comm thread competes with the compute threads for the cores.
    Status st;
    try {
      shm_->allreduce(spans, dtype, op);
    } catch (...) {
      st = async_failure();
    }
    done(st);
    return;
  }
  MpiEngine::get().post([this, key, bytes, spans = std::move(spans), dtype, op, done = std::move(done)] {
    Status st;
    try {
      if (choose(bytes).kind == AllreduceCandidate::Kind::Shm) {
        shm_->allreduce(spans, dtype, op);
      } else {  // not applicable (decided just now, on every rank alike): through the fusion buffer
        char* buf = static_cast<char*>(fusion_buffer(key, bytes));
        gather_spans(spans, 0, bytes, buf);
        allreduce_now(buf, int64_t(bytes / dtype_size(dtype)), dtype, op);
        scatter_spans(spans, 0, bytes, buf);
      }
    } catch (...) {
      st = async_failure();
    }
    done(st);
  });
}

void MpiCommunicator::post_transfer(const char* call, std::function<int(MPI_Request*)> start, DoneFn done) {
  check();
  MpiEngine::get().post([this, call, start = std::move(start), done = std::move(done)] {
    try {
      MPI_Request req;
      check_mpi(start(&req), call);
      MpiEngine::get().watch(req, [this, call, done](int err) {
        Status st;
        try {
          check_mpi(err, (std::string(call) + " (completion)").c_str());
        } catch (...) {
          st = async_failure();
        }
        done(st);
      });
    } catch (...) {
      done(async_failure());
    }
  });
}

void MpiCommunicator::send_async(const void* data, size_t bytes, int peer, int tag, DoneFn done) {
  post_transfer("MPI_Isend", [=](MPI_Request* r) {
    return MPI_Isend(data, to_int(int64_t(bytes), "MPI_Isend"), MPI_BYTE, peer, tag, comm_, r);
  }, std::move(done));
}

void MpiCommunicator::recv_async(void* data, size_t bytes, int peer, int tag, DoneFn done) {
  post_transfer("MPI_Irecv", [=](MPI_Request* r) {
    return MPI_Irecv(data, to_int(int64_t(bytes), "MPI_Irecv"), MPI_BYTE, peer, tag, comm_, r);
  }, std::move(done));
}

}  // namespace comm
}  // namespace ft
