// mp_plan — per-rank memory and communication of tensor-parallel BERT, computed
// from the built graphs (no MPI needed: rank 0 of each model-parallel group is
// built and its plans compiled; every rank of a group has the same sizes).
//
//   mp_plan [base|tiny] [batch per dp rank] [seq] [world]
//
// For mp = 1, 2, 4 prints one markdown row: parameter bytes per rank, forward
// activation bytes (all forward intermediates at that batch), the executor's
// planned peak of forward + backward intermediates, and the bytes each rank
// communicates per step: mp collectives (count and tensor bytes; a ring sends
// 2(k-1)/k of an allreduce's bytes) and the dp gradient allreduce over
// world/mp ranks (2(d-1)/d of the rank's parameter bytes).
#include <cstdio>
#include <cstring>
#include <string>

#include "comm/mp_ops.h"
#include "nn/bert.h"

using namespace ft;

namespace {

double mib(double b) { return b / (1024.0 * 1024.0); }

int64_t bytes_at(const Shape& s, DType t, int64_t batch) {
  int64_t n = 1;
  for (int64_t d : s) n *= d < 0 ? batch : d;
  return n * int64_t(dtype_size(t));
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string which = argc > 1 ? argv[1] : "base";
    const int64_t B = argc > 2 ? std::stoll(argv[2]) : 8, T = argc > 3 ? std::stoll(argv[3]) : 128;
    const int world = argc > 4 ? std::stoi(argv[4]) : 8;
    const int64_t P = 20;
    nn::BertOptions o;  // BERT-base by default
    if (which == "tiny") {
      o.layers = 2;
      o.hidden = 128;
      o.heads = 2;
      o.ffn = 512;
      o.vocab = 4096;
    } else if (which != "base") {
      throw Error("mp_plan: model must be base or tiny, got " + which);
    }
    o.max_seq = std::max<int64_t>(T, 128);
    o.dropout = 0.1;
    std::printf("BERT-%s: %lld layers, hidden %lld, %lld heads, FFN %lld, vocab %lld; batch %lld x seq %lld per dp "
                "rank, %lld predictions per sequence; world %d\n\n",
                which.c_str(), static_cast<long long>(o.layers), static_cast<long long>(o.hidden),
                static_cast<long long>(o.heads), static_cast<long long>(o.ffn), static_cast<long long>(o.vocab),
                static_cast<long long>(B), static_cast<long long>(T), static_cast<long long>(P), world);
    std::printf("| mp | dp | params / rank (MiB) | fwd activations / rank (MiB) | planned fwd+bwd peak (MiB) | "
                "mp collectives / step | mp tensor bytes (MiB) | mp ring send / rank (MiB) | dp grad ring send / rank (MiB) |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|\n");
    for (int k : {1, 2, 4}) {
      if (o.heads % k) continue;
      Graph g(1);
      nn::BertInputs in = nn::bert_placeholders(g, T, P);
      nn::BertOptions ok = o;
      ok.tp = {k, 0};
      nn::BertMlm m = nn::bert_mlm(g, in, ok);
      auto params = g.trainable();
      auto grads = gradients(m.loss, params);
      double pbytes = 0;
      for (const Value& v : params) pbytes += double(g.value(v).bytes());
      // Plans at the given batch (inputs are never read: only shapes matter).
      Executor::Feeds feeds;
      for (const Value& v : in.all()) {
        Shape s = v.shape();
        s[0] = B;
        feeds.emplace_back(v, Tensor::zeros(s, v.dtype()));
      }
      Executor ex(g);
      const PlanStats fwd = ex.stats(feeds, {m.loss});
      std::vector<Value> fetch = {m.loss};
      fetch.insert(fetch.end(), grads.begin(), grads.end());
      const PlanStats train = ex.stats(feeds, fetch);
      int count = 0;
      double mp_bytes = 0, mp_send = 0;
      for (int id : comm::mp_collective_nodes(g)) {
        const Node& n = g.node(id);
        const double b = double(bytes_at(n.out_shapes[0], n.out_dtypes[0], B));
        ++count;
        mp_bytes += b;
        mp_send += n.op == "mp_allreduce" ? b * 2.0 * (k - 1) / k : b * (k - 1) / k;
      }
      const int dp = world / k;
      const double dp_send = dp > 1 ? pbytes * 2.0 * (dp - 1) / dp : 0;
      std::printf("| %d | %d | %.1f | %.1f | %.1f | %d | %.1f | %.1f | %.1f |\n", k, dp, mib(pbytes),
                  mib(double(fwd.unplanned_bytes)), mib(double(train.arena_bytes)), count, mib(mp_bytes), mib(mp_send),
                  mib(dp_send));
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mp_plan: %s\n", e.what());
    return 1;
  }
  return 0;
}
