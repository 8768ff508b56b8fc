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
// be thrown to the issuer: done() receives it as a failed Status (core/status.h),
// and it is also kept (sticky) so that the next call on the communicator, or
// check(), rethrows it for issuers that do not look at the status.
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

#include "core/status.h"
#include "core/tensor.h"

namespace ft {
struct Resources;

namespace comm {

enum class ReduceOp { Sum, Mean, Max };
const char* reduce_op_name(ReduceOp op);          // "sum", "mean", "max"
ReduceOp parse_reduce_op(const std::string& s);   // throws on unknown names

// The preferred host allreduce algorithm (distributed.allreduce_algorithm);
// comm/allreduce_algorithm.h says which algorithms each one lists, in order.
enum class AllreduceAlgorithm { Auto, Shm, Ring, Mpi };
const char* allreduce_algorithm_name(AllreduceAlgorithm a);     // "auto", "shm", "ring", "mpi"
AllreduceAlgorithm parse_allreduce_algorithm(const std::string& s);  // throws on unknown names

// Settings of a communicator, given to Communicator::configure(). Backends use
// what applies to them (the MPI backend all of it; others none).
struct CommOptions {
  AllreduceAlgorithm allreduce = AllreduceAlgorithm::Auto;
  // From comm_bench (np 2 and 4, one 2-core host): below 16 MiB Open MPI's
  // in-place allreduce is as fast or faster (fewer rounds at np 4); from
  // 16-32 MiB its per-call temporaries make the persistent ring win.
  size_t ring_threshold = size_t(16) << 20;
  // Ring reduce-scatter segment (0 = one segment per chunk). Small segments
  // keep the received data in cache but add a synchronization each: on a host
  // where ranks share cores with other work that costs more.
  size_t ring_segment = 0;
  size_t shm_threshold = 0;  // comm_bench: shared memory is as fast or faster at every size
  // Shared memory: bytes per rank and round (two slots per rank are mapped);
  // node_size > 0 groups consecutive ranks into pseudo-nodes (tests of the
  // hierarchical path). Take effect before the shared window is set up.
  size_t shm_slot = size_t(4) << 20;
  int shm_node_size = 0;
};

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
  // send: size()*count elements, block r for rank r; recv: size()*count elements,
  // block r from rank r. The default serves world size 1 (a copy) and throws otherwise.
  virtual void alltoall(const void* send, void* recv, int64_t count, DType dtype);
  // send: size()*count elements; recv: count elements = block rank() of the reduction.
  virtual void reduce_scatter(const void* send, void* recv, int64_t count, DType dtype, ReduceOp op) = 0;
  virtual void send(const void* data, size_t bytes, int peer, int tag) = 0;
  virtual void recv(void* data, size_t bytes, int peer, int tag) = 0;
  virtual void barrier() = 0;
  // Collective over this communicator: ranks with equal color form a new
  // communicator, ordered by (key, old rank). It inherits the options.
  virtual std::shared_ptr<Communicator> split(int color, int key) = 0;

  // Collective (every rank, same options, before the communicator is used
  // concurrently): applies the options and sets up now what the chosen
  // algorithms need (the shared-memory window), so a stall in the first step
  // can already name missing ranks. The default ignores them.
  virtual void configure(const CommOptions& options) { (void)options; }
  // Ranks that a collective in progress on this rank still waits for, when the
  // backend can tell (the shared-memory allreduce can); empty otherwise. Safe
  // from any thread (the stall watch asks).
  virtual std::vector<int> not_arrived() const { return {}; }
  // One line on how allreduces run here, after configure(): "shared memory,
  // 2 ranks per node x 2 nodes (...)", "4 ranks on 4 hosts: ring from 16 MiB,
  // else MPI_Allreduce"; "" when the backend has nothing to say.
  virtual std::string allreduce_summary() const { return ""; }
  // The host a rank of this communicator runs on (MPI_Get_processor_name,
  // gathered when the communicator is made); "" when the backend cannot tell.
  virtual std::string host_of(int rank) const {
    (void)rank;
    return "";
  }

  // ---- asynchronous (the buffer must stay valid until done() ran; done()
  // gets the call's Status and runs once, on the comm thread or the caller's)
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
  virtual void allreduce_spans_async(int64_t key, std::vector<Span> spans, DType dtype, ReduceOp op, DoneFn done);
  // Bytes [lo, hi) of the spans' concatenation: copied from the srcs to `to`
  // (gather), or from `from` to the dsts (scatter).
  static void gather_spans(const std::vector<Span>& spans, size_t lo, size_t hi, char* to);
  static void scatter_spans(const std::vector<Span>& spans, size_t lo, size_t hi, const char* from);
  static size_t span_bytes(const std::vector<Span>& spans);
  virtual void allreduce_async(void* data, int64_t count, DType dtype, ReduceOp op, DoneFn done) = 0;
  virtual void send_async(const void* data, size_t bytes, int peer, int tag, DoneFn done) = 0;
  virtual void recv_async(void* data, size_t bytes, int peer, int tag, DoneFn done) = 0;
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
  // Root's `bytes` reach every rank (any length; sent in pieces under MPI's int count).
  void broadcast_bytes(std::string& bytes, int root);

  // Persistent per-(communicator, key) host buffer of at least `bytes`, kept
  // across calls so repeated fused allreduces allocate nothing. 64-byte aligned.
  void* fusion_buffer(int64_t key, size_t bytes);

 protected:
  void set_async_error(std::exception_ptr e);
  // Keeps the current exception as the sticky error and returns its Status
  // (use inside a catch block of an asynchronous call).
  Status async_failure();

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

// This process's place among the ranks of its node, as its launcher tells it
// (readable before MPI starts: threads per rank, the GPU of a rank). The first
// launcher whose variables are set wins:
//   Open MPI   OMPI_COMM_WORLD_LOCAL_RANK, OMPI_COMM_WORLD_LOCAL_SIZE
//   PMIx       PMIX_LOCAL_RANK, PMIX_LOCAL_SIZE
//   MPICH      MPI_LOCALRANKID, MPI_LOCALNRANKS
//   MVAPICH2   MV2_COMM_WORLD_LOCAL_RANK, MV2_COMM_WORLD_LOCAL_SIZE
//   Slurm      SLURM_LOCALID, and this node's count in SLURM_STEP_TASKS_PER_NODE
//              (or SLURM_TASKS_PER_NODE; "2(x3),1" = 2,2,2,1) at SLURM_NODEID
// Slurm comes last: an mpirun inside an allocation starts its daemons with
// srun, so its ranks inherit the daemons' SLURM_LOCALID (0 on every node).
// None: rank 0 of 1, source "".
struct LocalPlacement {
  int rank = 0, size = 1;
  std::string source;  // "Open MPI", "PMIx", "Slurm", "MPICH", "MVAPICH2" or ""
};
LocalPlacement launcher_placement();
// The count of node `node` in a Slurm tasks-per-node list ("2(x3),1"); 0 when
// the list is malformed or shorter.
int slurm_tasks_on_node(const std::string& list, int node);

// Allgathers `hash` and throws ft::Error on every rank if any two differ, naming
// `what`, the first rank whose value differs from rank 0 and both values.
void verify_consistent(Communicator& c, uint64_t hash, const std::string& what);

// Sets Resources::comm, the communicator of the graph ops allreduce_bucket,
// send and recv (comm/comm_ops.h).
void add_to_resources(Resources& r, CommPtr c);

// MPI_Error_string-style message prefix helper: "<call> failed on rank <r>: <msg>".
std::string call_error(const std::string& call, int rank, const std::string& msg);

}  // namespace comm
}  // namespace ft
