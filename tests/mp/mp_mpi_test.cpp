// mp_mpi_test.cpp — model parallelism under mpirun (np 2 and 4):
//   * the mp collectives' forward values and gradients across ranks;
//   * tensor-parallel MLP (train's builder) and BERT-tiny: loss and every
//     gradient equal the unsplit model's on one rank (1e-5 relative; a split
//     parameter's gradient equals the matching slice of the unsplit gradient),
//     over the whole world as one model-parallel group and, on 4 ranks, over
//     the mp groups of a dp=2 x mp=2 grid;
//   * a partitioned (pipelined) MLP: each rank's part computes the same loss
//     and gradients as the whole graph.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>

#include "comm/comm.h"
#include "comm/mp_ops.h"
#include "core/partition.h"
#include "nn/bert.h"
#include "nn/parallel.h"
#include "train/config.h"
#include "train/registry.h"
#include "train/mp.h"

#include "util/mpi_test_main.h"

using namespace ft;

namespace {

comm::CommPtr g_world;

double norm(const Tensor& t) {
  double s = 0;
  for (int64_t i = 0; i < t.numel(); ++i) s += t.at(i) * t.at(i);
  return std::sqrt(s);
}
double rel_err(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.numel(), b.numel());
  double d = 0;
  for (int64_t i = 0; i < a.numel() && i < b.numel(); ++i) d += (a.at(i) - b.at(i)) * (a.at(i) - b.at(i));
  return std::sqrt(d) / std::max(norm(b), 1e-30);
}

// The block of `full` that a rank holding `local` (split along the one differing axis) has.
Tensor part_of(const Tensor& full, const Shape& local, int rank) {
  if (full.shape() == local) return full;
  const Shape& s = full.shape();
  int ax = -1;
  for (size_t i = 0; i < s.size(); ++i)
    if (s[i] != local[i]) ax = int(i);
  Tensor out = Tensor::empty(local, full.dtype());
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < ax; ++i) outer *= s[size_t(i)];
  for (size_t i = size_t(ax) + 1; i < s.size(); ++i) inner *= s[i];
  const size_t es = dtype_size(full.dtype()), chunk = size_t(local[size_t(ax)] * inner) * es,
               row = size_t(s[size_t(ax)] * inner) * es;
  for (int64_t o = 0; o < outer; ++o)
    std::memcpy(static_cast<char*>(out.raw()) + size_t(o) * chunk,
                static_cast<const char*>(full.raw()) + size_t(o) * row + size_t(rank) * chunk, chunk);
  return out;
}

Tensor rand_t(const Shape& s, uint64_t seed, double lo = -1, double hi = 1) {
  std::mt19937_64 r(seed);
  std::uniform_real_distribution<double> d(lo, hi);
  Tensor t = Tensor::empty(s, DType::F32);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = float(d(r));
  return t;
}
Tensor rand_ids(const Shape& s, uint64_t seed, int64_t n) {
  std::mt19937_64 r(seed);
  Tensor t = Tensor::empty(s, DType::I32);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<int32_t>()[i] = int32_t(r() % uint64_t(n));
  return t;
}

// Runs loss + gradients of g, with `mp` as the model-parallel communicator.
std::vector<Tensor> run(Graph& g, Value loss, const std::vector<Value>& params, const Executor::Feeds& feeds,
                        const comm::CommPtr& mp) {
  std::vector<Value> fetch = {loss};
  auto grads = gradients(loss, params);
  fetch.insert(fetch.end(), grads.begin(), grads.end());
  Resources res;
  if (mp) comm::add_mp_to_resources(res, mp);
  RunOptions ro;
  ro.resources = &res;
  ro.training = true;
  Executor ex(g);
  auto out = ex.run(feeds, fetch, ro);
  for (auto& t : out) t = t.clone();
  return out;
}

// Compares the split model's loss and gradients with the unsplit one's.
void expect_same(const std::vector<Tensor>& full, const std::vector<Value>& full_params,
                 const std::vector<Tensor>& split, const std::vector<Value>& split_params, int rank,
                 const std::string& what) {
  ASSERT_EQ(full_params.size(), split_params.size()) << what;
  EXPECT_LE(rel_err(split[0], full[0]), 1e-5) << what << " loss " << split[0].at(0) << " vs " << full[0].at(0);
  std::map<std::string, size_t> by_name;  // creation order may differ: match by name
  for (size_t i = 0; i < split_params.size(); ++i) by_name[split_params[i].name()] = i;
  int split_count = 0;
  for (size_t i = 0; i < full_params.size(); ++i) {
    ASSERT_TRUE(by_name.count(full_params[i].name())) << what << ": no " << full_params[i].name();
    const size_t j = by_name[full_params[i].name()];
    const Shape& local = split[j + 1].shape();
    split_count += local != full[i + 1].shape();
    Tensor want = part_of(full[i + 1], local, rank);
    // 1e-5 relative; an absolute floor for gradients that are zero in exact
    // arithmetic (attention key biases: softmax ignores a per-query constant).
    EXPECT_LE(rel_err(split[j + 1], want) * std::max(norm(want), 1e-30), 1e-5 * norm(want) + 1e-7)
        << what << ": gradient of " << full_params[i].name() << " (norm " << norm(want) << ")";
    // Initial values: the split parameter is the slice of the unsplit one.
    Graph& gf = full_params[i].graph();
    Graph& gs = split_params[j].graph();
    EXPECT_EQ(rel_err(gs.value(split_params[j]), part_of(gf.value(full_params[i]), local, rank)), 0.0)
        << what << ": initial value of " << full_params[i].name();
  }
  EXPECT_GT(split_count, 0) << what << ": nothing was split";
}

// The model-parallel groups to test: the whole world, and on 4 ranks the mp groups of a 2 x 2 grid.
std::vector<train::Grid> grids() {
  std::vector<train::Grid> gs = {train::make_grid(g_world, g_world->size())};
  if (g_world->size() == 4) gs.push_back(train::make_grid(g_world, 2));
  return gs;
}

}  // namespace

TEST(MpOps, ForwardAndGradients) {
  comm::CommPtr mp = g_world;
  const int k = mp->size(), r = mp->rank();
  Graph g;
  Tensor xv = Tensor::from<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  for (int64_t i = 0; i < 6; ++i) xv.data<float>()[i] *= float(r + 1);
  Value x = g.variable("x", {2, 3}, init::zeros());
  g.value(x).copy_from(xv);
  Value s = comm::mp_allreduce(x, k, r);
  Value id = comm::mp_identity(x, k, r);
  Value cat = comm::mp_allgather(x, k, r);
  EXPECT_EQ(cat.shape(), (Shape{2, 3 * k}));
  // loss = sum(s * A) + sum(id * B_r) + sum(cat * C), A and C replicated, B per rank.
  Tensor A = rand_t({2, 3}, 1), B = rand_t({2, 3}, 100 + uint64_t(r)), C = rand_t({2, 3 * int64_t(k)}, 2);
  Value loss = sum(s * g.constant(A)) + sum(id * g.constant(B)) + sum(cat * g.constant(C));
  auto out = run(g, loss, {x}, {}, mp);
  const float tri = float(k * (k + 1) / 2);  // sum over ranks of (rank + 1)
  Resources res;
  comm::add_mp_to_resources(res, mp);
  RunOptions ro;
  ro.resources = &res;
  Executor ex(g);
  auto fwd = ex.run({}, {s, cat}, ro);
  Tensor sv = fwd[0].clone(), cv = fwd[1].clone();
  for (int64_t i = 0; i < 6; ++i) EXPECT_FLOAT_EQ(sv.data<float>()[i], float(i + 1) * tri);
  // d/dx: A (identity through the allreduce) + sum_q B_q (allreduce through the identity) + C's block r.
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j) {
      double want = A.data<float>()[i * 3 + j] + C.data<float>()[i * 3 * k + r * 3 + j];
      for (int q = 0; q < k; ++q) want += rand_t({2, 3}, 100 + uint64_t(q)).data<float>()[i * 3 + j];
      EXPECT_NEAR(out[1].data<float>()[i * 3 + j], want, 1e-5) << i << "," << j;
    }
  // The allgather's forward: rank q's block is (q + 1) * x0.
  for (int64_t i = 0; i < 2; ++i)
    for (int q = 0; q < k; ++q)
      for (int64_t j = 0; j < 3; ++j)
        EXPECT_EQ(cv.data<float>()[i * 3 * k + q * 3 + j], float(q + 1) * float(i * 3 + j + 1));
}

TEST(MpOps, WrongGroupIsNamed) {
  Graph g;
  Value x = g.variable("x", {2}, init::ones());
  Value y = comm::mp_allreduce(x, g_world->size() + 1, 0);
  Resources res;
  comm::add_mp_to_resources(res, g_world);
  RunOptions ro;
  ro.resources = &res;
  try {
    Executor(g).run({}, {y}, ro);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("mp_allreduce"), std::string::npos) << e.what();
  }
}

TEST(TensorParallel, MlpMatchesUnsplit) {
  train::Config cfg = train::Config::load("configs/mnist_mlp.yaml", {"model.dropout=0"});
  for (const train::Grid& grid : grids()) {
    const int k = grid.mp, r = grid.mp_index;
    Graph gf(7), gs(7);
    train::ModelGraph mf = train::build_model(gf, cfg);
    train::ModelGraph ms = train::build_model(gs, cfg, grid.tp());
    // One batch per model-parallel group (dp index), the same on its k ranks.
    Tensor x = rand_t({16, 784}, 10 + uint64_t(grid.dp_index), 0, 1), y = rand_ids({16}, 20 + uint64_t(grid.dp_index), 10);
    auto full = run(gf, mf.loss, gf.trainable(), {{mf.inputs[0], x}, {mf.inputs[1], y}}, nullptr);
    auto split = run(gs, ms.loss, gs.trainable(), {{ms.inputs[0], x}, {ms.inputs[1], y}}, grid.mp_comm);
    expect_same(full, gf.trainable(), split, gs.trainable(), r, "mlp mp=" + std::to_string(k));
    EXPECT_EQ(int(comm::mp_collective_nodes(gs).size()) > 0, true);
  }
}

TEST(TensorParallel, BertTinyMatchesUnsplit) {
  for (const train::Grid& grid : grids()) {
    const int k = grid.mp, r = grid.mp_index;
    nn::BertOptions o;  // configs/bert_tiny.yaml's shape (heads = k when k > 2)
    o.layers = 2;
    o.hidden = 128;
    o.heads = std::max(2, k);
    o.ffn = 512;
    o.vocab = 300;
    o.max_seq = 32;
    o.dropout = 0;
    const int64_t B = 3, T = 16, P = 4;
    Graph gf(5), gs(5);
    nn::BertInputs inf = nn::bert_placeholders(gf, T, P), ins = nn::bert_placeholders(gs, T, P);
    nn::BertMlm mf = nn::bert_mlm(gf, inf, o);
    o.tp = grid.tp();
    nn::BertMlm ms = nn::bert_mlm(gs, ins, o);
    const uint64_t s = 50 + 7 * uint64_t(grid.dp_index);
    Tensor mask = Tensor::empty({B, T}, DType::F32);
    for (int64_t i = 0; i < B * T; ++i) mask.data<float>()[i] = (i % T) < T - 2 * (i / T) ? 1.f : 0.f;
    Tensor w = Tensor::empty({B, P}, DType::F32);
    for (int64_t i = 0; i < B * P; ++i) w.data<float>()[i] = i % P == P - 1 ? 0.f : 1.f;
    std::vector<Tensor> cols = {rand_ids({B, T}, s, o.vocab), rand_ids({B, T}, s + 1, 2), mask,
                                rand_ids({B, P}, s + 2, T - 4), rand_ids({B, P}, s + 3, o.vocab), w};
    Executor::Feeds ff, fs;
    for (size_t i = 0; i < cols.size(); ++i) {
      ff.emplace_back(inf.all()[i], cols[i]);
      fs.emplace_back(ins.all()[i], cols[i]);
    }
    auto full = run(gf, mf.loss, gf.trainable(), ff, nullptr);
    auto split = run(gs, ms.loss, gs.trainable(), fs, grid.mp_comm);
    expect_same(full, gf.trainable(), split, gs.trainable(), r, "bert mp=" + std::to_string(k));
    // Megatron: 2 allreduces per layer forward (attention, FFN) and 2 backward.
    int ar = 0;
    for (int id : comm::mp_collective_nodes(gs)) ar += gs.node(id).op == "mp_allreduce";
    EXPECT_EQ(ar, 4 * o.layers);
  }
}

TEST(Pipeline, PartitionedMlpMatchesWholeGraph) {
  comm::register_ops();
  const int R = g_world->size(), me = g_world->rank();
  Graph g(11);
  Value x = g.placeholder("x", {-1, 20}), y;
  Value h = x;
  int64_t in = 20;
  const int64_t widths[4] = {32, 24, 16, 5};
  for (int i = 0; i < 4; ++i) {
    auto d = g.device_scope("rank:" + std::to_string(i % R));
    auto s = g.name_scope("fc" + std::to_string(i + 1));
    h = matmul(h, g.variable("w", {in, widths[i]}, init::glorot())) + g.variable("b", {widths[i]}, init::normal(0.1));
    if (i < 3) h = relu(h);
    in = widths[i];
  }
  Value loss;
  {
    auto d = g.device_scope("rank:" + std::to_string(3 % R));
    y = g.placeholder("y", {-1}, DType::I32);
    loss = mean(sparse_softmax_cross_entropy(h, y));
  }
  auto params = g.trainable();
  auto grads = gradients(loss, params);
  Tensor xv = rand_t({6, 20}, 3), yv = rand_ids({6}, 4, 5);
  // Reference: the whole graph on this rank.
  std::vector<Value> fetch = {loss};
  fetch.insert(fetch.end(), grads.begin(), grads.end());
  // Fetched tensors are views into the executor's arena: clone them while it lives.
  Executor whole_ex(g);
  auto whole = whole_ex.run({{x, xv}, {y, yv}}, fetch);
  for (auto& t : whole) t = t.clone();

  PartitionOptions po;
  po.num_ranks = R;
  po.feed_shapes = {{"x", {6, 20}}, {"y", {6}}};
  Partition p = partition(g, me, po);
  Executor::Feeds feeds;
  if (p.has(x)) feeds.emplace_back(p[x], xv);
  if (p.has(y)) feeds.emplace_back(p[y], yv);
  std::vector<Value> mine;
  std::vector<size_t> which;
  for (size_t i = 0; i < fetch.size(); ++i)
    if (p.has(fetch[i]) && p.placement[size_t(fetch[i].node())] == me) {
      mine.push_back(fetch[i]);
      which.push_back(i);
    }
  EXPECT_FALSE(mine.empty());
  Resources res;
  comm::add_to_resources(res, g_world);
  RunOptions ro;
  ro.resources = &res;
  Executor ex(*p.graph);
  for (int step = 0; step < 3; ++step) {  // repeated runs reuse the same tags
    auto out = ex.run(feeds, p.targets(mine), ro);
    g_world->check();
    for (size_t j = 0; j < mine.size(); ++j)
      EXPECT_LE(rel_err(out[j], whole[which[j]]), 1e-6) << "rank " << me << ": " << mine[j].name();
  }
  int64_t n = int64_t(p.sends.size() + p.recvs.size());
  g_world->allreduce(&n, 1, DType::I64, comm::ReduceOp::Sum);
  EXPECT_EQ(n, 2 * int64_t(p.cuts.size()));
}

int main(int argc, char** argv) {
  ft::ThreadPool::set_global_threads(2);
  return ft::testutil::mpi_test_main(argc, argv, "mp_mpi_test", g_world);
}
