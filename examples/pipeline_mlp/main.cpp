// pipeline_mlp — an MLP's layers pipelined over ranks with the partitioner.
//
//   mpirun -np 2 build/bin/pipeline_mlp [data/mnist] [steps]     # stage 0 on rank 0, stage 1 on rank 1
//   build/bin/pipeline_mlp [data/mnist] [steps]                  # the same graph, whole, in one process
//
// The model is written once against the graph API: stage 0 (fc1) inside
// device_scope("rank:0"), stage 1 (fc2, fc3, loss) inside device_scope("rank:1").
// Each batch is cut into micro-batches (GPipe): micro-batch m's activations
// travel to rank 1 while rank 0 already computes micro-batch m+1, and the
// gradients flow back the same way. gradients() is called on the whole graph;
// partition() then cuts forward + backward per rank and puts a Send/Recv pair
// on every cut edge. Each rank updates the variables it holds. With one process
// every placement maps to rank 0 and nothing is cut, so the losses are the same.
#include <cstdio>
#include <string>

#include "comm/comm.h"
#include "core/partition.h"
#include "data/idx.h"
#include "data/loader.h"
#include "ops/ops.h"
#include "optim/factory.h"

using namespace ft;

namespace {

constexpr int64_t kBatch = 128, kMicro = 4, kMb = kBatch / kMicro;

struct Net {
  Graph g{1};
  Value x, y, loss, logits_all;
  std::vector<Value> params, grads;
};

Value dense(Graph& g, const std::string& name, Value x, int64_t in, int64_t out) {
  auto s = g.name_scope(name);
  return matmul(x, g.variable("w", {in, out}, init::glorot())) + g.variable("b", {out}, init::zeros());
}

// x (B, 784) on stage 0, labels (B) on stage 1; B = kMicro micro-batches of kMb.
void build(Net& n, int ranks, int64_t batch, int micro) {
  Graph& g = n.g;
  const std::string s0 = "rank:0", s1 = "rank:" + std::to_string(1 % ranks);
  {
    auto d = g.device_scope(s0);
    n.x = g.placeholder("images", {batch, 784});
  }
  {
    auto d = g.device_scope(s1);
    n.y = g.placeholder("labels", {batch}, DType::I32);
  }
  const int64_t mb = batch / micro;
  std::vector<Value> losses, logits;
  for (int m = 0; m < micro; ++m) {
    Value h;
    {
      auto d = g.device_scope(s0);  // stage 0: (mb, 784) -> (mb, 256)
      Value xm = slice(n.x, {m * mb, 0}, {mb, 784});
      h = relu(m == 0 ? dense(g, "fc1", xm, 784, 256) : matmul(xm, g.find("fc1/w")) + g.find("fc1/b"));
    }
    auto d = g.device_scope(s1);  // stage 1: (mb, 256) -> (mb, 128) -> (mb, 10), loss
    Value o;
    if (m == 0) {
      o = dense(g, "fc3", relu(dense(g, "fc2", h, 256, 128)), 128, 10);
    } else {
      o = matmul(relu(matmul(h, g.find("fc2/w")) + g.find("fc2/b")), g.find("fc3/w")) + g.find("fc3/b");
    }
    logits.push_back(o);
    losses.push_back(mean(sparse_softmax_cross_entropy(o, slice(n.y, {m * mb}, {mb}))));
  }
  {
    auto d = g.device_scope(s1);
    n.loss = scale(add_n(losses), 1.0 / double(micro));
    n.logits_all = concat(logits, 0);
  }
  // Backward nodes are placed with their forward ops (outside any device scope).
  n.params = g.trainable();
  n.grads = gradients(n.loss, n.params);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    comm::CommPtr world = comm::init(&argc, &argv);
    comm::register_ops();
    const int R = world->size(), me = world->rank();
    if (R > 2) throw Error("pipeline_mlp has two stages: run it on 1 or 2 ranks, not " + std::to_string(R));
    const std::string dir = argc > 1 ? argv[1] : "data/mnist";
    const int64_t steps = argc > 2 ? std::stoll(argv[2]) : 300;
    data::Dataset train = data::load_mnist(dir, "train"), test = data::load_mnist(dir, "test");

    Net net;
    build(net, R, kBatch, int(kMicro));
    // Training plan: forward + backward, partitioned; every rank cuts the same graph.
    std::vector<Value> fetch = {net.loss};
    fetch.insert(fetch.end(), net.grads.begin(), net.grads.end());
    PartitionOptions po;
    po.num_ranks = R;
    po.fetches = fetch;
    Partition part = partition(net.g, me, po);
    // Evaluation plan: forward only, on the same variables (tags from 10000 on).
    PartitionOptions eo = po;
    eo.fetches = {net.logits_all};
    eo.tag_base = 10000;
    Partition eval = partition(net.g, me, eo);
    const bool last = part.has(net.loss) && part.placement[size_t(net.loss.node())] == me;
    if (me == 0)
      std::printf("pipeline_mlp: %d rank(s), %zu cut edges (%zu sends here), %lld micro-batches of %lld\n", R,
                  part.cuts.size(), part.sends.size(), static_cast<long long>(kMicro), static_cast<long long>(kMb));

    // This rank's parameters and gradients.
    std::vector<Value> my_params, my_fetch;
    std::vector<std::string> names;
    for (size_t i = 0; i < net.params.size(); ++i)
      if (part.placement[size_t(net.params[i].node())] == me) {
        my_params.push_back(part[net.params[i]]);
        my_fetch.push_back(net.grads[i]);  // source values: targets() maps them
        names.push_back(net.params[i].name());
      }
    if (last) my_fetch.push_back(net.loss);
    optim::OptimizerOptions oo;
    oo.type = "momentum";
    oo.lr = 0.05;
    auto opt = optim::make_optimizer(oo);

    data::LoaderOptions lo;
    lo.batch_size = kBatch;
    lo.prefetch = false;  // every rank reads the same batches (rank 0 of world 1)
    data::BatchLoader loader(train, lo);
    Resources res;
    comm::add_to_resources(res, world);
    RunOptions ro;
    ro.resources = &res;
    Executor ex(*part.graph), eval_ex(*eval.graph);
    for (int64_t step = 0; step < steps; ++step) {
      const data::Batch& b = loader.next();
      Executor::Feeds feeds;
      if (part.has(net.x)) feeds.emplace_back(part[net.x], b[0]);
      if (part.has(net.y)) feeds.emplace_back(part[net.y], b[1]);
      auto out = ex.run(feeds, part.targets(my_fetch), ro);
      world->check();
      std::vector<optim::ParamRef> refs;
      for (size_t i = 0; i < my_params.size(); ++i) refs.push_back({names[i], part.graph->value(my_params[i]), out[i]});
      opt->step(refs);
      if (last && ((step + 1) % 50 == 0 || step + 1 == steps))
        std::printf("step %4lld  loss %.6f\n", static_cast<long long>(step + 1), double(out[my_params.size()].item<float>()));
    }
    // Test accuracy on the first 1920 digits (whole batches).
    int64_t correct = 0, count = 0;
    for (int64_t s = 0; s + kBatch <= std::min<int64_t>(test.size(), 1920); s += kBatch) {
      Tensor xb = Tensor::view(static_cast<float*>(test.images.raw()) + s * 784, {kBatch, 784}, DType::F32);
      Executor::Feeds feeds;
      if (eval.has(net.x)) feeds.emplace_back(eval[net.x], xb);
      std::vector<Value> f;
      if (last) f.push_back(net.logits_all);
      auto out = eval_ex.run(feeds, eval.targets(f), ro);
      world->check();
      if (!last) continue;
      const float* l = out[0].data<float>();
      for (int64_t i = 0; i < kBatch; ++i) {
        int64_t best = 0;
        for (int64_t j = 1; j < 10; ++j)
          if (l[i * 10 + j] > l[i * 10 + best]) best = j;
        correct += best == test.labels.data<int32_t>()[s + i];
        ++count;
      }
    }
    if (last) std::printf("test accuracy %.4f (%lld digits)\n", double(correct) / double(count), static_cast<long long>(count));
    world->barrier();
    comm::finalize();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pipeline_mlp: %s\n", e.what());
    comm::abort_job(1);
    return 1;
  }
  return 0;
}
