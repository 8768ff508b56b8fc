// comm_test.cpp — the world-size-1 backend, gradient bucketing, layout hashes and
// the communication graph ops on one process (multi-rank tests: tests/mpi/).
#include <gtest/gtest.h>

#include "comm/comm.h"
#include "comm/progress.h"
#include "comm/stall.h"
#include "util/gradcheck.h"

using namespace ft;
using namespace ft::comm;

TEST(Local, InitWithoutLauncherIsLocal) {
  if (launched_by_mpi()) GTEST_SKIP() << "started by an MPI launcher";
  CommPtr w = comm::init();
  EXPECT_EQ(w->backend(), "local");
  EXPECT_EQ(w->rank(), 0);
  EXPECT_EQ(w->size(), 1);
  EXPECT_EQ(comm::init().get(), w.get());  // idempotent
  EXPECT_EQ(world().get(), w.get());
}

TEST(Local, CollectivesKeepOrCopyData) {
  LocalCommunicator c;
  Tensor t = Tensor::from<float>({3}, {1, -2, 3});
  c.allreduce(t, ReduceOp::Sum);
  c.allreduce(t, ReduceOp::Mean);
  c.allreduce(t, ReduceOp::Max);
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{1, -2, 3}));
  c.broadcast(t, 0);
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{1, -2, 3}));
  EXPECT_THROW(c.broadcast(t, 1), Error);
  Tensor g = c.allgather(Tensor::from<int32_t>({2, 2}, {1, 2, 3, 4}));
  EXPECT_EQ(g.shape(), (Shape{2, 2}));
  EXPECT_EQ(g.to_vector<int32_t>(), (std::vector<int32_t>{1, 2, 3, 4}));
  Tensor rs = c.reduce_scatter(Tensor::from<double>({2}, {5, 6}));
  EXPECT_EQ(rs.to_vector<double>(), (std::vector<double>{5, 6}));
  EXPECT_EQ(c.allgather_u64(0xdeadbeefcafeULL), (std::vector<uint64_t>{0xdeadbeefcafeULL}));
  c.barrier();
  auto sub = c.split(3, 0);
  EXPECT_EQ(sub->size(), 1);
  EXPECT_EQ(sub->backend(), "local");
}

TEST(Local, SendRecvToSelfThroughMailbox) {
  LocalCommunicator c;
  std::vector<float> a = {1, 2, 3}, b(3, 0);
  c.send(a.data(), 12, 0, 7);
  c.recv(b.data(), 12, 0, 7);
  EXPECT_EQ(a, b);
  // A receive posted first completes when the send arrives.
  bool got = false;
  std::vector<float> d(3, 0);
  c.recv_async(d.data(), 12, 0, 9, [&](const Status& s) { got = s.ok(); });
  EXPECT_FALSE(got);
  c.send(a.data(), 12, 0, 9);
  EXPECT_TRUE(got);
  EXPECT_EQ(d, a);
  // A blocking receive with nothing sent, a wrong peer: errors, not hangs.
  EXPECT_THROW(c.recv(b.data(), 12, 0, 123), Error);
  EXPECT_THROW(c.send(a.data(), 12, 1, 0), Error);
  // A size mismatch fails the receive's status and is reported by the next call.
  c.send(a.data(), 12, 0, 11);
  Status st;
  c.recv_async(b.data(), 8, 0, 11, [&](const Status& s) { st = s; });
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("expected 8 bytes, got 12"), std::string::npos) << st.message();
  EXPECT_THROW(c.check(), Error);
  EXPECT_NO_THROW(c.check());  // reported once
}

TEST(Local, AsyncAllreduceCallsDone) {
  LocalCommunicator c;
  float x = 2;
  int calls = 0;
  c.allreduce_async(&x, 1, DType::F32, ReduceOp::Mean, [&](const Status& s) { calls += s.ok(); });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(x, 2.0f);
}

TEST(Local, FusionBufferIsPersistent) {
  LocalCommunicator c;
  void* a = c.fusion_buffer(0, 1000);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % 64, 0u);
  EXPECT_EQ(c.fusion_buffer(0, 1000), a);
  EXPECT_EQ(c.fusion_buffer(0, 10), a);  // smaller request: same buffer
  EXPECT_NE(c.fusion_buffer(1, 1000), a);
}

TEST(ReduceKernels, SumMaxDivide) {
  std::vector<float> d = {1, 5, -3}, s = {2, 1, -4};
  reduce_into(d.data(), s.data(), 3, DType::F32, ReduceOp::Sum);
  EXPECT_EQ(d, (std::vector<float>{3, 6, -7}));
  std::vector<int64_t> di = {1, 5, -3}, si = {2, 1, -4};
  reduce_into(di.data(), si.data(), 3, DType::I64, ReduceOp::Max);
  EXPECT_EQ(di, (std::vector<int64_t>{2, 5, -3}));
  std::vector<double> m = {3, 6, -9};
  divide_by(m.data(), 3, DType::F64, 3);
  EXPECT_EQ(m, (std::vector<double>{1, 2, -3}));
  uint16_t h[2] = {0, 0};
  EXPECT_THROW(reduce_into(h, h, 2, DType::F16, ReduceOp::Sum), Error);
  EXPECT_EQ(parse_reduce_op("mean"), ReduceOp::Mean);
  EXPECT_THROW(parse_reduce_op("avg"), Error);
}

TEST(Bucketer, ContiguousGroupsByThreshold) {
  GradientBucketer b(100);
  b.add("a", {10}, DType::F32);      // 40
  b.add("b", {10}, DType::F32);      // 40 -> 80
  b.add("c", {10}, DType::F32);      // 40 would make 120: new bucket
  b.add("d", {100}, DType::F32);     // 400 > threshold: own bucket
  b.add("e", {2}, DType::F32);       // 8
  b.add("f", {2}, DType::F64);       // dtype change: new bucket
  auto bk = b.buckets();
  ASSERT_EQ(bk.size(), 5u);
  EXPECT_EQ(bk[0].members, (std::vector<int>{0, 1}));
  EXPECT_EQ(bk[0].bytes, 80u);
  EXPECT_EQ(bk[1].members, (std::vector<int>{2}));
  EXPECT_EQ(bk[2].members, (std::vector<int>{3}));
  EXPECT_EQ(bk[2].bytes, 400u);
  EXPECT_EQ(bk[3].members, (std::vector<int>{4}));
  EXPECT_EQ(bk[4].members, (std::vector<int>{5}));
  EXPECT_EQ(bk[4].dtype, DType::F64);
  for (size_t i = 0; i < bk.size(); ++i) EXPECT_EQ(bk[i].id, int(i));
  EXPECT_NE(b.describe().find("bucket 0: 2 tensors"), std::string::npos) << b.describe();
  EXPECT_THROW(b.add("x", {-1, 3}, DType::F32), Error);
}

TEST(Bucketer, ZeroThresholdIsOneTensorPerBucket) {
  GradientBucketer b(0);
  for (int i = 0; i < 4; ++i) b.add("t" + std::to_string(i), {3}, DType::F32);
  EXPECT_EQ(b.buckets().size(), 4u);
  GradientBucketer big(size_t(1) << 30);
  for (int i = 0; i < 4; ++i) big.add("t" + std::to_string(i), {3}, DType::F32);
  EXPECT_EQ(big.buckets().size(), 1u);
}

GradientBucketer make_layout(const std::vector<std::tuple<std::string, Shape, DType>>& ts, size_t thr = 64) {
  GradientBucketer b(thr);
  for (auto& t : ts) b.add(std::get<0>(t), std::get<1>(t), std::get<2>(t));
  return b;
}

TEST(Bucketer, LayoutHashSeesNamesShapesDtypesOrderAndThreshold) {
  using T = std::tuple<std::string, Shape, DType>;
  const uint64_t h = make_layout({T{"w", {2, 3}, DType::F32}, T{"b", {3}, DType::F32}}).layout_hash();
  EXPECT_EQ(make_layout({T{"w", {2, 3}, DType::F32}, T{"b", {3}, DType::F32}}).layout_hash(), h);
  EXPECT_NE(make_layout({T{"w2", {2, 3}, DType::F32}, T{"b", {3}, DType::F32}}).layout_hash(), h);
  EXPECT_NE(make_layout({T{"w", {3, 2}, DType::F32}, T{"b", {3}, DType::F32}}).layout_hash(), h);
  EXPECT_NE(make_layout({T{"w", {2, 3}, DType::F64}, T{"b", {3}, DType::F32}}).layout_hash(), h);
  EXPECT_NE(make_layout({T{"b", {3}, DType::F32}, T{"w", {2, 3}, DType::F32}}).layout_hash(), h);
  EXPECT_NE(make_layout({T{"w", {2, 3}, DType::F32}, T{"b", {3}, DType::F32}}, 8).layout_hash(), h);
}

TEST(Consistency, VerifyOnOneRankPasses) {
  LocalCommunicator c;
  EXPECT_NO_THROW(verify_consistent(c, 42, "bucket layout"));
}

// The async allreduce op inside an Executor with other nodes, on the world-size-1 backend.
TEST(CommOps, AllreduceBucketInExecutor) {
  Graph g;
  auto x = g.placeholder("x", {-1, 2});
  auto w = g.variable("w", {2}, init::constant(3.0));
  auto a = x * 2.0;
  auto b = x + w;
  auto outs = allreduce(g, {a, b}, 0, ReduceOp::Mean);
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_EQ(outs[1].shape(), (Shape{-1, 2}));
  auto c1 = allreduce(g, {w}, 1, ReduceOp::Sum);
  EXPECT_EQ(g.node(c1[0].node()).control_inputs, (std::vector<int>{outs[0].node()}));
  auto after = outs[0] + outs[1];  // runs after the async op completes
  RunOptions opt;
  Resources res;
  add_to_resources(res, std::make_shared<LocalCommunicator>());
  opt.resources = &res;
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    Executor ex(g, &pool);
    Tensor xin = Tensor::from<float>({1, 2}, {1, 2});
    auto r = ex.run({{x, xin}}, {outs[0], outs[1], after, c1[0]}, opt);
    EXPECT_EQ(r[0].to_vector<float>(), (std::vector<float>{2, 4}));
    EXPECT_EQ(r[1].to_vector<float>(), (std::vector<float>{4, 5}));
    EXPECT_EQ(r[2].to_vector<float>(), (std::vector<float>{6, 9}));
    EXPECT_EQ(r[3].to_vector<float>(), (std::vector<float>{3, 3}));
  }
}

TEST(CommOps, MissingCommunicatorIsAnError) {
  Graph g;
  auto w = g.variable("w", {2}, init::ones());
  auto o = allreduce(g, {w}, 0);
  ThreadPool pool(1);
  Executor ex(g, &pool);
  try {
    ex.run({}, {o[0]});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no communicator"), std::string::npos) << e.what();
  }
}

TEST(CommOps, MixedDtypeBucketFailsAtBuildTime) {
  Graph g;
  auto a = g.variable("a", {2}, init::ones());
  auto b = g.variable("b", {2}, init::ones(), DType::F64);
  EXPECT_THROW(allreduce(g, {a, b}, 0), Error);
}

TEST(CommOps, BucketedAllreduceKeepsOrder) {
  Graph g;
  std::vector<Value> vs;
  for (int i = 0; i < 5; ++i) vs.push_back(g.variable("v" + std::to_string(i), {4}, init::constant(i)));
  GradientBucketer layout(40);  // two 16-byte tensors per bucket
  auto red = allreduce_bucketed(g, vs, 0, ReduceOp::Mean, &layout);
  EXPECT_EQ(layout.buckets().size(), 3u);
  Resources res;
  add_to_resources(res, std::make_shared<LocalCommunicator>());
  RunOptions opt;
  opt.resources = &res;
  ThreadPool pool(2);
  Executor ex(g, &pool);
  auto r = ex.run({}, red, opt);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(r[size_t(i)].to_vector<float>(), std::vector<float>(4, float(i)));
}

TEST(CommOps, SendRecvToSelf) {
  Graph g;
  auto x = g.variable("x", {2, 2}, init::constant(1.5));
  auto tok = send(x, 0, 5);
  auto y = recv(g, {2, 2}, DType::F32, 0, 5);
  EXPECT_EQ(tok.dtype(), DType::I32);
  Resources res;
  add_to_resources(res, std::make_shared<LocalCommunicator>());
  RunOptions opt;
  opt.resources = &res;
  ThreadPool pool(2);
  Executor ex(g, &pool);
  auto r = ex.run({}, {y, tok}, opt);
  EXPECT_EQ(r[0].to_vector<float>(), std::vector<float>(4, 1.5f));
}

// A receive whose size does not match the send fails its node's status: the
// run fails naming the node, and the communicator keeps the error for check().
TEST(CommOps, FailedReceiveFailsTheRun) {
  Graph g;
  auto x = g.variable("x", {2, 2}, init::constant(1.5));
  auto tok = send(x, 0, 6);
  auto y = recv(g, {3}, DType::F32, 0, 6, "short_recv");
  g.add_control_input(y.node(), tok.node());  // the send first: the receive finds the message
  auto comm = std::make_shared<LocalCommunicator>();
  Resources res;
  add_to_resources(res, comm);
  RunOptions opt;
  opt.resources = &res;
  ThreadPool pool(2);
  Executor ex(g, &pool);
  try {
    ex.run({}, {y, tok}, opt);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "op 'short_recv' (recv): recv failed on rank 0: expected 12 bytes, got 16");
  }
  EXPECT_THROW(comm->check(), Error);
}

// A backend whose allreduce completes with an error: allreduce_bucket reports it.
class FailingAllreduce : public LocalCommunicator {
 public:
  void allreduce_async(void*, int64_t, DType, ReduceOp, DoneFn done) override {
    done(Status::failed(call_error("MPI_Allreduce", 0, "link down")));
  }
};

TEST(CommOps, FailedAllreduceStatusFailsTheRun) {
  Graph g;
  auto w = g.variable("w", {2}, init::ones());
  auto o = allreduce(g, {w, w * 2.0}, 3);
  Resources res;
  add_to_resources(res, std::make_shared<FailingAllreduce>());
  RunOptions opt;
  opt.resources = &res;
  ThreadPool pool(2);
  Executor ex(g, &pool);
  try {
    ex.run({}, {o[0] + o[1]}, opt);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "op 'allreduce_bucket_3' (allreduce_bucket): MPI_Allreduce failed on rank 0: link down");
  }
}

// ---- allreduce algorithm candidates (comm/allreduce_algorithm.h)

namespace {
std::string pick(const CommOptions& o, size_t bytes, NodeSharing sharing) {
  return select_allreduce(allreduce_candidates(o), {bytes, sharing}).name();
}
std::string names(const std::vector<AllreduceCandidate>& list) {
  std::string s;
  for (const AllreduceCandidate& c : list) s += std::string(s.empty() ? "" : ",") + c.name();
  return s;
}
CommOptions with(AllreduceAlgorithm a) {
  CommOptions o;
  o.allreduce = a;
  return o;
}
}  // namespace

TEST(AllreduceCandidates, ListsFollowThePreference) {
  EXPECT_EQ(names(allreduce_candidates(with(AllreduceAlgorithm::Auto))), "shm,ring,mpi");
  EXPECT_EQ(names(allreduce_candidates(with(AllreduceAlgorithm::Shm))), "shm,mpi");
  EXPECT_EQ(names(allreduce_candidates(with(AllreduceAlgorithm::Ring))), "ring,mpi");
  EXPECT_EQ(names(allreduce_candidates(with(AllreduceAlgorithm::Mpi))), "mpi");
  EXPECT_TRUE(lists_shm(allreduce_candidates(with(AllreduceAlgorithm::Auto))));
  EXPECT_FALSE(lists_shm(allreduce_candidates(with(AllreduceAlgorithm::Ring))));
  for (const char* n : {"auto", "shm", "ring", "mpi"})
    EXPECT_EQ(allreduce_algorithm_name(parse_allreduce_algorithm(n)), std::string(n));
  EXPECT_THROW(parse_allreduce_algorithm("nccl"), Error);
}

// The choices of the MPI backend before the candidate lists, for every setting.
TEST(AllreduceCandidates, AutoPicksShmOnANodeElseRingFrom16MiBElseMpi) {
  const CommOptions o = with(AllreduceAlgorithm::Auto);
  EXPECT_EQ(o.ring_threshold, size_t(16) << 20);
  EXPECT_EQ(o.shm_threshold, 0u);
  const size_t ring = o.ring_threshold;
  for (size_t b : {size_t(4), size_t(1) << 20, ring - 4, ring, ring * 4}) {
    EXPECT_EQ(pick(o, b, NodeSharing::Unknown), "shm") << b;  // choosing it sets the window up
    EXPECT_EQ(pick(o, b, NodeSharing::Yes), "shm") << b;
  }
  EXPECT_EQ(pick(o, 4, NodeSharing::No), "mpi");
  EXPECT_EQ(pick(o, ring - 4, NodeSharing::No), "mpi");
  EXPECT_EQ(pick(o, ring, NodeSharing::No), "ring");
  EXPECT_EQ(pick(o, ring * 4, NodeSharing::No), "ring");
}

TEST(AllreduceCandidates, ThresholdsMoveTheBoundaries) {
  CommOptions o = with(AllreduceAlgorithm::Auto);
  o.shm_threshold = 1000;
  o.ring_threshold = 5000;
  EXPECT_EQ(pick(o, 999, NodeSharing::Yes), "mpi");
  EXPECT_EQ(pick(o, 1000, NodeSharing::Yes), "shm");
  EXPECT_EQ(pick(o, 999, NodeSharing::Unknown), "mpi");  // below shm: the window is not touched
  EXPECT_EQ(pick(o, 4999, NodeSharing::No), "mpi");
  EXPECT_EQ(pick(o, 5000, NodeSharing::No), "ring");
  o.shm_threshold = 8000;  // shared memory only above the ring threshold
  EXPECT_EQ(pick(o, 6000, NodeSharing::Yes), "ring");
  EXPECT_EQ(pick(o, 8000, NodeSharing::Yes), "shm");
}

TEST(AllreduceCandidates, ForcedSettings) {
  const size_t big = size_t(64) << 20;
  // shm at any size where ranks share a node; else MPI_Allreduce (not the ring).
  const CommOptions shm = with(AllreduceAlgorithm::Shm);
  EXPECT_EQ(pick(shm, 4, NodeSharing::Yes), "shm");
  EXPECT_EQ(pick(shm, 4, NodeSharing::Unknown), "shm");
  EXPECT_EQ(pick(shm, 4, NodeSharing::No), "mpi");
  EXPECT_EQ(pick(shm, big, NodeSharing::No), "mpi");
  // ring at any size, shared node or not.
  const CommOptions ring = with(AllreduceAlgorithm::Ring);
  for (NodeSharing s : {NodeSharing::Unknown, NodeSharing::Yes, NodeSharing::No}) {
    EXPECT_EQ(pick(ring, 4, s), "ring");
    EXPECT_EQ(pick(ring, big, s), "ring");
    EXPECT_EQ(pick(with(AllreduceAlgorithm::Mpi), 4, s), "mpi");
    EXPECT_EQ(pick(with(AllreduceAlgorithm::Mpi), big, s), "mpi");
  }
}

TEST(AllreduceCandidates, SingleRankBackendsIgnoreOptionsAndReportNoMissingRanks) {
  LocalCommunicator c;
  c.configure(with(AllreduceAlgorithm::Ring));
  EXPECT_TRUE(c.not_arrived().empty());
  float x = 3;
  c.allreduce(&x, 1, DType::F32, ReduceOp::Sum);
  EXPECT_EQ(x, 3.0f);
}

// The local rank and size of a rank from its launcher's variables (Open MPI,
// PMIx, Slurm, MPICH, MVAPICH2), the first present winning.
TEST(Launcher, PlacementFromEachLaunchersVariables) {
  const char* vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE", "PMIX_LOCAL_RANK", "PMIX_LOCAL_SIZE",
                        "SLURM_LOCALID", "SLURM_NODEID", "SLURM_STEP_TASKS_PER_NODE", "SLURM_TASKS_PER_NODE",
                        "MPI_LOCALRANKID", "MPI_LOCALNRANKS", "MV2_COMM_WORLD_LOCAL_RANK", "MV2_COMM_WORLD_LOCAL_SIZE"};
  std::vector<std::pair<std::string, std::string>> saved;
  for (const char* v : vars) {
    if (const char* s = std::getenv(v)) saved.emplace_back(v, s);
    unsetenv(v);
  }
  EXPECT_EQ(launcher_placement().source, "");
  EXPECT_EQ(launcher_placement().size, 1);
  setenv("SLURM_LOCALID", "1", 1);
  setenv("SLURM_NODEID", "3", 1);
  setenv("SLURM_TASKS_PER_NODE", "2(x3),1", 1);
  EXPECT_EQ(launcher_placement().source, "Slurm");
  EXPECT_EQ(launcher_placement().size, 1);  // node 3 is the fourth: 1 task
  setenv("SLURM_STEP_TASKS_PER_NODE", "4(x4)", 1);  // the step's list wins over the job's
  EXPECT_EQ(launcher_placement().size, 4);
  EXPECT_EQ(launcher_placement().rank, 1);
  setenv("MPI_LOCALRANKID", "2", 1);
  setenv("MPI_LOCALNRANKS", "3", 1);
  EXPECT_EQ(launcher_placement().source, "MPICH");  // an MPI launcher's own variables win over Slurm's
  unsetenv("MPI_LOCALRANKID");
  unsetenv("MPI_LOCALNRANKS");
  setenv("PMIX_LOCAL_RANK", "0", 1);
  setenv("PMIX_LOCAL_SIZE", "8", 1);
  EXPECT_EQ(launcher_placement().source, "PMIx");
  EXPECT_EQ(launcher_placement().size, 8);
  setenv("OMPI_COMM_WORLD_LOCAL_RANK", "1", 1);
  setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "2", 1);
  EXPECT_EQ(launcher_placement().source, "Open MPI");
  EXPECT_EQ(launcher_placement().rank, 1);
  EXPECT_EQ(launcher_placement().size, 2);
  for (const char* v : vars) unsetenv(v);
  for (const auto& kv : saved) setenv(kv.first.c_str(), kv.second.c_str(), 1);
}

TEST(Launcher, SlurmTasksPerNodeLists) {
  EXPECT_EQ(slurm_tasks_on_node("4", 0), 4);
  EXPECT_EQ(slurm_tasks_on_node("4", 1), 0);
  EXPECT_EQ(slurm_tasks_on_node("2(x3),1", 2), 2);
  EXPECT_EQ(slurm_tasks_on_node("2(x3),1", 3), 1);
  EXPECT_EQ(slurm_tasks_on_node("2(x3),1", 4), 0);
  EXPECT_EQ(slurm_tasks_on_node("3,1(x2)", 2), 1);
  EXPECT_EQ(slurm_tasks_on_node("2(x", 0), 0);
  EXPECT_EQ(slurm_tasks_on_node("x", 0), 0);
}

// The progress channel (comm/progress.h): a process answers its count of
// collectives entered; a datagram for another process (wrong token) gets no
// answer, and a peer without a channel is told apart.
TEST(ProgressChannel, AnswersTheCountOfCollectivesEntered) {
  const ProgressAddress me = progress_address();
  ASSERT_NE(me.port, 0) << "no UDP socket could be opened";
  ASSERT_GT(me.n, 0);
  Inflight::get().begin(987654, "a test collective");
  const int64_t entered = Inflight::get().entered();
  std::vector<int64_t> got = ask_progress({me, me}, 10.0);
  Inflight::get().end(987654);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], entered);
  EXPECT_EQ(got[1], entered);
  ProgressAddress other = me;
  other.token ^= 1;
  EXPECT_EQ(ask_progress({other}, 0.2)[0], -1);
  EXPECT_EQ(ask_progress({ProgressAddress{}}, 0.2)[0], -2);
}
