// communicator.h — the collectives-first Communicator interface, its process
// entry point comm::init(), and cross-rank consistency checks.
//
// Backends: MpiCommunicator (host memory, comm/mpi_communicator.h),
// LocalCommunicator (world size 1, comm/local_communicator.h) and, when CUDA +
// NCCL are found, NcclCommunicator (device memory, comm/nccl/).
//
// ---- Threading model (MPI backend) -------------------------------------------
// Every MPI call of the process goes through one FIFO "comm engine" with one
// dedicated comm thread. MPI is initialized with MPI_Init_thread requesting
// MPI_THREAD_SERIALIZED (init fails with ft::Error if less is provided), and the
// engine guarantees that at most one thread is inside MPI at any time:
//   * asynchronous calls (allreduce_async, send_async, recv_async) are queued
//     and run on the comm thread in submission order; their done() callbacks run
//     on the comm thread;
//   * blocking calls wait for everything queued before them (FIFO), then run;
//     when nothing is queued they run directly on the caller's thread (no
//     thread hand-off on the latency-critical path);
//   * point-to-point transfers are posted as MPI_Isend/MPI_Irecv and completed
//     by the comm thread's progress loop, so a receive waiting for its peer
//     never blocks the collectives queued behind it.
// All communicators (world and split) share the one engine, so the order of
// MPI calls in a process is the order in which they were issued. Callers must
// issue collectives in the same order on every rank; the graph builders in
// comm/comm_ops.h chain allreduce nodes with control edges so the executor
// issues them in graph order on every rank.
//
// ---- Errors --------------------------------------------------------------------
// MPI_ERRORS_RETURN is set on every communicator; a failed call throws ft::Error
// naming the MPI call and the rank. An error inside an asynchronous call cannot
// be thrown to the issuer: it is kept (sticky), done() is still called, and the
// next call on the communicator, or check(), rethrows it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace ft {
struct Resources;

namespace comm {

enum class ReduceOp { Sum, Mean, Max };
const char* reduce_op_name(ReduceOp op);          // "sum", "mean", "max"
ReduceOp parse_reduce_op(const std::string& s);   // throws on unknown names

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend() const = 0;  // "mpi", "local", "nccl"

  // ---- collectives on raw buffers (count = elements of dtype)
  // In place: data holds every rank's contribution before, the reduction after.
  virtual void allreduce(void* data, int64_t count, DType dtype, ReduceOp op) = 0;
  virtual void broadcast(void* data, int64_t count, DType dtype, int root) = 0;
  // send: count elements; recv: size()*count elements, rank r's block at r*count.
  virtual void allgather(const void* send, void* recv, int64_t count, DType dtype) = 0;
  // send: size()*count elements; recv: count elements = block rank() of the reduction.
  virtual void reduce_scatter(const void* send, void* recv, int64_t count, DType dtype, ReduceOp op) = 0;
  virtual void send(const void* data, size_t bytes, int peer, int tag) = 0;
  virtual void recv(void* data, size_t bytes, int peer, int tag) = 0;
  virtual void barrier() = 0;
  // Collective over this communicator: ranks with equal color form a new
  // communicator, ordered by (key, old rank).
  virtual std::shared_ptr<Communicator> split(int color, int key) = 0;

  // ---- asynchronous (the buffer must stay valid until done() ran)
  // Fused allreduce of several buffers: the concatenation of every span's src
  // is reduced and written to the spans' dst (src == dst allowed). Buffers stay
  // valid until done(). The base version copies through the persistent fusion
  // buffer `key` around allreduce_async; backends may reduce straight from and
  // to the spans.
  struct Span {
    const void* src;
    void* dst;
    size_t bytes;
  };
  virtual void allreduce_spans_async(int64_t key, std::vector<Span> spans, DType dtype, ReduceOp op,
                                     std::function<void()> done);
  // Bytes [lo, hi) of the spans' concatenation: copied from the srcs to `to`
  // (gather), or from `from` to the dsts (scatter).
  static void gather_spans(const std::vector<Span>& spans, size_t lo, size_t hi, char* to);
  static void scatter_spans(const std::vector<Span>& spans, size_t lo, size_t hi, const char* from);
  static size_t span_bytes(const std::vector<Span>& spans);
  virtual void allreduce_async(void* data, int64_t count, DType dtype, ReduceOp op,
                               std::function<void()> done) = 0;
  virtual void send_async(const void* data, size_t bytes, int peer, int tag, std::function<void()> done) = 0;
  virtual void recv_async(void* data, size_t bytes, int peer, int tag, std::function<void()> done) = 0;
  // Rethrows (once) an error recorded by an asynchronous call.
  void check();

  // ---- Tensor conveniences
  void allreduce(Tensor& t, ReduceOp op = ReduceOp::Sum) { allreduce(t.raw(), t.numel(), t.dtype(), op); }
  void broadcast(Tensor& t, int root) { broadcast(t.raw(), t.numel(), t.dtype(), root); }
  // (d0, ...) -> (size * d0, ...): blocks in rank order. A scalar gives (size).
  Tensor allgather(const Tensor& t);
  // (size * d0, ...) -> (d0, ...)
  Tensor reduce_scatter(const Tensor& t, ReduceOp op = ReduceOp::Sum);
  std::vector<uint64_t> allgather_u64(uint64_t v);

  // Persistent per-(communicator, key) host buffer of at least `bytes`, kept
  // across calls so repeated fused allreduces allocate nothing. 64-byte aligned.
  void* fusion_buffer(int64_t key, size_t bytes);

 protected:
  void set_async_error(std::exception_ptr e);

 private:
  std::mutex buf_mu_;
  std::map<int64_t, Tensor> fusion_;
  std::mutex err_mu_;
  std::exception_ptr async_error_;
};

using CommPtr = std::shared_ptr<Communicator>;

// Starts the process's communication: MPI (MpiCommunicator over
// MPI_COMM_WORLD) when launched by mpirun/srun (OMPI_COMM_WORLD_SIZE, PMI_SIZE,
// PMIX_RANK, ... in the environment) or when MPI is already initialized, else a
// LocalCommunicator. Idempotent: later calls return the same world. MPI is
// finalized by finalize() or at process exit.
CommPtr init(int* argc = nullptr, char*** argv = nullptr);
// The world from init() (nullptr before init()).
CommPtr world();
// Stops the comm thread and finalizes MPI if init() started it. Idempotent.
void finalize();
// Ends the whole job after an unrecoverable error on this rank: MPI_Abort on
// the world when MPI is running (so the other ranks do not wait forever);
// otherwise it returns and the caller exits with its code.
void abort_job(int code);
// True when the environment says this process was started by an MPI launcher.
bool launched_by_mpi();

// Allgathers `hash` and throws ft::Error on every rank if any two differ, naming
// `what`, the first rank whose value differs from rank 0 and both values.
void verify_consistent(Communicator& c, uint64_t hash, const std::string& what);

// Puts the communicator into executor resources under "comm" (what the graph
// ops look up through KernelCtx::resources->get<Communicator>("comm")).
void add_to_resources(Resources& r, CommPtr c);

// MPI_Error_string-style message prefix helper: "<call> failed on rank <r>: <msg>".
std::string call_error(const std::string& call, int rank, const std::string& msg);

}  // namespace comm
}  // namespace ft
