// partition_test.cpp — the partitioner: placement by device_scope("rank:N"),
// gradients placed with their forward ops, and exactly one Send/Recv pair
// (matching tag, key, shape, dtype) at every cut edge of a differentiated MLP.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "comm/comm_ops.h"
#include "core/partition.h"
#include "util/gradcheck.h"

using namespace ft;

namespace {

// 3-layer MLP (N, 8) -> 16 -> 12 -> 4 with layers on ranks 0, 1, 2 and the loss on rank 2.
struct Mlp {
  Graph g{3};
  Value x, y, loss;
  std::vector<Value> params, grads;
  explicit Mlp(int ranks = 3) {
    x = g.placeholder("x", {-1, 8});
    Value h = x;
    int64_t in = 8;
    const int64_t widths[3] = {16, 12, 4};
    for (int i = 0; i < 3; ++i) {
      auto d = g.device_scope("rank:" + std::to_string(i % ranks));
      auto s = g.name_scope("fc" + std::to_string(i + 1));
      Value w = g.variable("w", {in, widths[i]}, init::glorot());
      Value b = g.variable("b", {widths[i]}, init::normal(0.1));
      h = matmul(h, w) + b;
      if (i < 2) h = relu(h);
      in = widths[i];
    }
    {
      auto d = g.device_scope("rank:" + std::to_string(2 % ranks));
      y = g.placeholder("y", {-1}, DType::I32);
      loss = mean(sparse_softmax_cross_entropy(h, y));
    }
    params = g.trainable();
    grads = gradients(loss, params);
  }
  PartitionOptions opts(int ranks) const {
    PartitionOptions o;
    o.num_ranks = ranks;
    o.feed_shapes = {{"x", {5, 8}}, {"y", {5}}};
    return o;
  }
};

int count_op(const Graph& g, const std::string& op) {
  int n = 0;
  for (int i = 0; i < g.num_nodes(); ++i) n += g.node(i).op == op;
  return n;
}

}  // namespace

TEST(Partition, DeviceStringsParse) {
  EXPECT_EQ(rank_of_device("rank:0"), 0);
  EXPECT_EQ(rank_of_device("rank:12"), 12);
  EXPECT_EQ(rank_of_device("cpu"), -1);
  EXPECT_EQ(rank_of_device("rank:x"), -1);
  EXPECT_EQ(rank_of_device(""), -1);
}

TEST(Partition, GradientsArePlacedWithTheirForwardOps) {
  Mlp m;
  std::vector<int> p = place(m.g, m.opts(3));
  for (size_t i = 0; i < m.params.size(); ++i) {
    int want = p[size_t(m.params[i].node())];
    EXPECT_EQ(p[size_t(m.grads[i].node())], want) << m.params[i].name();
    EXPECT_EQ(m.grads[i].graph().node(m.grads[i].node()).device, "rank:" + std::to_string(want)) << m.params[i].name();
  }
  EXPECT_EQ(p[size_t(m.x.node())], 0);
  EXPECT_EQ(p[size_t(m.loss.node())], 2);
}

TEST(Partition, EveryCutEdgeHasExactlyOneSendRecvPair) {
  comm::register_ops();
  Mlp m;
  const int R = 3;
  PartitionOptions o = m.opts(R);
  std::vector<Partition> parts;
  for (int r = 0; r < R; ++r) parts.push_back(partition(m.g, r, o));
  const std::vector<CutEdge>& cuts = parts[0].cuts;
  ASSERT_FALSE(cuts.empty());

  // The cut edges are exactly the source edges whose ends are on different ranks.
  std::set<std::tuple<int, int, int>> want;
  for (int id = 0; id < m.g.num_nodes(); ++id)
    for (const Output& o2 : m.g.node(id).inputs)
      if (parts[0].placement[size_t(o2.node)] != parts[0].placement[size_t(id)])
        want.insert({o2.node, o2.index, parts[0].placement[size_t(id)]});
  std::set<std::tuple<int, int, int>> got;
  for (const CutEdge& e : cuts) got.insert({e.src.node, e.src.index, e.to});
  EXPECT_EQ(got, want);
  // Forward activations and backward gradients both cross: 0->1, 1->2, 2->1, 1->0.
  std::set<std::pair<int, int>> dirs;
  for (const CutEdge& e : cuts) dirs.insert({e.from, e.to});
  EXPECT_TRUE(dirs.count({0, 1}) && dirs.count({1, 2}) && dirs.count({2, 1}) && dirs.count({1, 0}));

  // Per tag: one send on `from` to `to`, one recv on `to` from `from`, same key/shape/dtype.
  std::map<int64_t, int> sends, recvs;
  for (int r = 0; r < R; ++r) {
    const Graph& g = *parts[size_t(r)].graph;
    EXPECT_EQ(parts[size_t(r)].cuts.size(), cuts.size());
    EXPECT_EQ(int(parts[size_t(r)].sends.size()), count_op(g, "send"));
    EXPECT_EQ(int(parts[size_t(r)].recvs.size()), count_op(g, "recv"));
    for (int id = 0; id < g.num_nodes(); ++id) {
      const Node& n = g.node(id);
      if (n.op != "send" && n.op != "recv") continue;
      const int64_t tag = n.attrs.i("tag");
      ASSERT_GE(tag, 0);
      ASSERT_LT(tag, int64_t(cuts.size()));
      const CutEdge& e = cuts[size_t(tag)];
      EXPECT_EQ(n.attrs.s("key"), e.key);
      if (n.op == "send") {
        ++sends[tag];
        EXPECT_EQ(r, e.from);
        EXPECT_EQ(n.attrs.i("peer"), e.to);
        const Output& in = n.inputs[0];
        EXPECT_EQ(g.node(in.node).name, m.g.node(e.src.node).name);
        EXPECT_EQ(g.node(in.node).out_dtypes[size_t(in.index)], e.dtype);
      } else {
        ++recvs[tag];
        EXPECT_EQ(r, e.to);
        EXPECT_EQ(n.attrs.i("peer"), e.from);
        EXPECT_EQ(n.out_shapes[0], e.shape);
        EXPECT_EQ(n.out_dtypes[0], e.dtype);
      }
    }
  }
  for (const CutEdge& e : cuts) {
    EXPECT_EQ(sends[e.tag], 1) << e.key;
    EXPECT_EQ(recvs[e.tag], 1) << e.key;
  }
  EXPECT_EQ(sends.size(), cuts.size());
  EXPECT_EQ(recvs.size(), cuts.size());
  // The x-feeding placeholder's activation reaches rank 1 with the fed batch size.
  for (const CutEdge& e : cuts) {
    if (e.from == 0 && e.to == 1) {
      EXPECT_EQ(e.shape[0], 5);
    }
  }
}

TEST(Partition, NodesSplitAcrossRanksAndVariablesShareStorage) {
  comm::register_ops();
  Mlp m;
  PartitionOptions o = m.opts(3);
  int total = 0;
  for (int r = 0; r < 3; ++r) {
    Partition p = partition(m.g, r, o);
    Graph& g = *p.graph;
    total += g.num_nodes() - count_op(g, "send") - count_op(g, "recv");
    for (size_t i = 0; i < m.params.size(); ++i) {
      if (!p.has(m.params[i])) continue;
      EXPECT_EQ(p.placement[size_t(m.params[i].node())], r);
      EXPECT_EQ(g.value(p[m.params[i]]).raw(), m.g.value(m.params[i]).raw()) << m.params[i].name();
      EXPECT_TRUE(p.has(m.grads[i])) << "gradient of " << m.params[i].name() << " not on its rank";
    }
    // Targets: the sends and the recvs, so every cut edge transfers in each run.
    EXPECT_EQ(p.targets().size(), p.sends.size() + p.recvs.size());
  }
  EXPECT_EQ(total, m.g.num_nodes());  // every source node on exactly one rank
}

TEST(Partition, OneRankMeansNoCutsAndTheWholeGraphRuns) {
  comm::register_ops();
  Mlp m(1);  // everything on rank:0
  Partition p = partition(m.g, 0, m.opts(1));
  EXPECT_TRUE(p.cuts.empty());
  EXPECT_EQ(p.graph->num_nodes(), m.g.num_nodes());
  Tensor x = Tensor::from<float>({5, 8}, std::vector<float>(40, 0.5f));
  Tensor y = Tensor::from<int32_t>({5}, {0, 1, 2, 3, 0});
  Executor whole(m.g), part(*p.graph);
  float a = whole.run({{m.x, x}, {m.y, y}}, {m.loss})[0].item<float>();
  float b = part.run({{p[m.x], x}, {p[m.y], y}}, {p[m.loss]})[0].item<float>();
  EXPECT_EQ(a, b);
}

TEST(Partition, ErrorsNameTheProblem) {
  comm::register_ops();
  Mlp m;
  try {
    partition(m.g, 0, m.opts(2));  // fc3 is on rank:2
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rank:2"), std::string::npos) << e.what();
  }
  PartitionOptions o = m.opts(3);
  o.feed_shapes.clear();  // the batch dim of cut edges is unknown
  try {
    partition(m.g, 1, o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("feed_shapes"), std::string::npos) << e.what();
  }
  Partition p = partition(m.g, 0, m.opts(3));
  EXPECT_THROW(p[m.loss], Error);
}

TEST(Partition, FetchesLimitTheCut) {
  comm::register_ops();
  Mlp m;
  PartitionOptions o = m.opts(3);
  o.fetches = {m.loss};  // forward only: no gradient crosses back
  Partition p = partition(m.g, 1, o);
  for (const CutEdge& e : p.cuts) EXPECT_LT(e.from, e.to) << e.key;
  EXPECT_EQ(p.cuts.size(), 2u);  // fc1 activation 0->1, fc2 activation 1->2
}
