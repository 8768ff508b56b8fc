// cuda_bert_bench.cpp — BERT masked-LM training-step throughput (forward +
// backward, samples/s) on the GPU in fp32 (strict), fp32 with TF32 GEMMs and
// bf16, on synthetic batches. The executor does not place nodes on "cuda" yet,
// so this program carries a minimal device runner: it takes the executor's
// compiled node order, infers run-time shapes with the op definitions, keeps
// every intermediate in the caching allocator (freed after its last reader) and
// calls the registered kernels on the compute stream. bf16 stores every float
// tensor (weights included) in bf16; GEMMs and reductions accumulate in fp32.
// The optimizer update is not part of the step.
//
//   build/bin/cuda_bert_bench [--model base|tiny] [--batch 32] [--seq 128] [--steps 20]
//                             [--precision fp32,tf32,bf16] [--device cuda|cpu]
// --device cpu runs the same runner on host memory with the CPU kernels and checks
// its loss against the Executor's (a self-test of the runner for machines without a GPU).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "nn/bert.h"
#include "ops/cuda/cuda.h"
#include "ops/precision.h"

using namespace ft;

namespace {

struct Options {
  std::string model = "base";
  int64_t batch = 32, seq = 128, predictions = 20, steps = 20;
  std::vector<std::string> precisions = {"fp32", "tf32", "bf16"};
  std::string device = "cuda";
};

// One tensor of the runner: host memory (cpu) or a caching-allocator block
// (cuda), shared by views (reshape outputs, leaves) so it lives while any does.
struct Slot {
  Tensor t;
  std::shared_ptr<cuda::DeviceBuffer> buf;
};

class Runner {
 public:
  Runner(Graph& g, std::vector<int> order, const Executor::Feeds& feeds, std::vector<Value> fetches, bool cuda,
         DType float_dt)
      : g_(g), order_(std::move(order)), fetches_(std::move(fetches)), cuda_(cuda), fdt_(float_dt) {
    for (const auto& f : feeds) feeds_[f.first.node()] = f.second;
    for (int id : order_)
      for (const Output& o : g_.node(id).inputs) ++uses_[o];
    for (const Value& v : fetches_) ++uses_[v.output()];
  }

  // One forward + backward; returns the fetched tensors on the host (f64 for floats).
  std::vector<Tensor> step(int64_t step, bool fetch) {
    std::map<Output, int> left = uses_;
    std::map<Output, Slot> live;
    for (int id : order_) {
      const Node& n = g_.node(id);
      if (n.op == "placeholder" || n.op == "variable" || n.op == "constant") {
        live[{id, 0}] = leaf(id);
        continue;
      }
      std::vector<const Tensor*> in;
      std::vector<Shape> in_shapes;
      std::vector<DType> in_dtypes;
      for (const Output& o : n.inputs) {
        const Tensor& t = live.at(o).t;
        in.push_back(&t);
        in_shapes.push_back(t.shape());
        in_dtypes.push_back(t.dtype());
      }
      const OpDef& def = OpRegistry::get().at(n.op);
      ShapeCtx sc{n, in_shapes, in_dtypes, {}, {}};
      def.shape(sc);
      const DType kd = dispatch_dtype(n, in_dtypes);
      const Kernel* k = OpRegistry::get().find_kernel(n.op, cuda_ ? "cuda" : "cpu", kd);
      if (!k || !k->fn) throw Error("no kernel for " + n.op + " at " + dtype_name(kd) + " (node " + n.name + ")");
      std::vector<Slot> outs(sc.out_shapes.size());
      for (size_t i = 0; i < outs.size(); ++i) {
        DType dt = sc.out_dtypes[i];
        if (is_float(dt) && n.op != "one_hot") dt = fdt_;
        if (def.alias_input0 && i == 0) {
          const Slot& src = live.at(n.inputs[0]);
          outs[i].t = cuda_ ? Tensor::view(const_cast<void*>(src.t.raw()), sc.out_shapes[i], dt)
                            : src.t.reshaped(sc.out_shapes[i]);  // host: shares the storage
          outs[i].buf = src.buf;
        } else {
          outs[i] = alloc(sc.out_shapes[i], dt);
        }
      }
      KernelCtx ctx{n, in, {}, &ThreadPool::global()};
      for (auto& s : outs) ctx.outputs.push_back(&s.t);
      ctx.step = step;
      ctx.training = true;
      k->fn(ctx);
      if (n.op == "one_hot" && fdt_ != DType::F32) outs[0] = converted(outs[0], fdt_);  // one_hot writes f32
      for (size_t i = 0; i < outs.size(); ++i) live[{id, int(i)}] = std::move(outs[i]);
      for (const Output& o : n.inputs)
        if (--left[o] == 0) live.erase(o);  // the block returns to the cache (stream-ordered reuse)
    }
    std::vector<Tensor> res;
    if (fetch) {
      if (cuda_) cuda::synchronize_compute();
      for (const Value& v : fetches_) {
        const Tensor& t = live.at(v.output()).t;
        Tensor h = cuda_ ? cuda::to_host(t) : t.clone();
        res.push_back(is_float(h.dtype()) ? precision::convert(h, DType::F64) : h);
      }
    }
    return res;
  }

 private:
  Slot alloc(const Shape& s, DType dt) {
    Slot r;
    if (!cuda_) {
      r.t = Tensor::empty(s, dt);
      return r;
    }
    cuda::DeviceTensor d = cuda::empty_device(s, dt);
    r.buf = std::make_shared<cuda::DeviceBuffer>(std::move(d.buf));
    r.t = d.t;
    return r;
  }

  Slot converted(const Slot& x, DType dt) {
    if (!cuda_) return x;  // the CPU path keeps f32
    Slot r = alloc(x.t.shape(), dt);
    cuda::convert(x.t.raw(), x.t.dtype(), r.t.raw(), dt, x.t.numel());
    return r;
  }

  // Leaves: feeds and variables, uploaded once (in the run's float dtype) and reused.
  Slot leaf(int id) {
    auto it = leaves_.find(id);
    if (it == leaves_.end()) {
      Tensor v = feeds_.count(id) ? feeds_.at(id) : g_.value(id);
      if (is_float(v.dtype()) && v.dtype() != fdt_) v = precision::convert(v, fdt_);
      Slot& s = leaves_[id];
      if (cuda_) {
        cuda::DeviceTensor d = cuda::to_device(v);
        s.buf = std::make_shared<cuda::DeviceBuffer>(std::move(d.buf));
        s.t = d.t;
      } else {
        s.t = v;
      }
      it = leaves_.find(id);
    }
    return it->second;  // shares the block with leaves_
  }

  Graph& g_;
  std::vector<int> order_;
  std::vector<Value> fetches_;
  bool cuda_;
  DType fdt_;
  std::map<int, Tensor> feeds_;
  std::map<Output, int> uses_;
  std::map<int, Slot> leaves_;
};

Executor::Feeds synthetic_batch(const nn::BertInputs& in, const Options& o, int64_t vocab) {
  std::mt19937 rng(1);
  auto ids = [&](const Shape& s, int64_t hi) {
    Tensor t = Tensor::empty(s, DType::I32);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<int32_t>()[i] = int32_t(rng() % uint32_t(hi));
    return t;
  };
  Tensor mask = Tensor::empty({o.batch, o.seq}, DType::F32), w = Tensor::empty({o.batch, o.predictions}, DType::F32);
  for (int64_t i = 0; i < mask.numel(); ++i) mask.data<float>()[i] = 1.f;
  for (int64_t i = 0; i < w.numel(); ++i) w.data<float>()[i] = 1.f;
  return {{in.input_ids, ids({o.batch, o.seq}, vocab)},
          {in.segment_ids, ids({o.batch, o.seq}, 2)},
          {in.attention_mask, mask},
          {in.masked_positions, ids({o.batch, o.predictions}, o.seq)},
          {in.masked_labels, ids({o.batch, o.predictions}, vocab)},
          {in.masked_weights, w}};
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> r;
  std::stringstream ss(s);
  std::string x;
  while (std::getline(ss, x, ',')) r.push_back(x);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--model") o.model = v;
    else if (k == "--batch") o.batch = std::atoll(v.c_str());
    else if (k == "--seq") o.seq = std::atoll(v.c_str());
    else if (k == "--steps") o.steps = std::atoll(v.c_str());
    else if (k == "--precision") o.precisions = split_list(v);
    else if (k == "--device") o.device = v;
    else {
      std::fprintf(stderr, "cuda_bert_bench: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  const bool on_gpu = o.device == "cuda";
  if (on_gpu && cuda::device_count() == 0) {
    std::printf("cuda_bert_bench: skipped, no CUDA device on this machine (%s)\n", cuda::no_device_reason().c_str());
    return 0;
  }
  try {
    cuda::register_kernels();
    nn::BertOptions bo;
    if (o.model == "tiny") {
      bo.layers = 2;
      bo.hidden = 128;
      bo.heads = 2;
      bo.ffn = 512;
      bo.vocab = 4096;
    } else if (o.model != "base") {
      throw Error("--model must be base or tiny, got " + o.model);
    }
    bo.max_seq = std::max<int64_t>(o.seq, 128);
    Graph g(1);
    const nn::BertInputs in = nn::bert_placeholders(g, o.seq, o.predictions);
    const nn::BertMlm mlm = nn::bert_mlm(g, in, bo);
    std::vector<Value> fetches = {mlm.loss};
    for (const Value& gr : gradients(mlm.loss, g.trainable())) fetches.push_back(gr);
    const Executor::Feeds feeds = synthetic_batch(in, o, bo.vocab);
    Executor ex(g);
    const std::vector<int> order = ex.order(feeds, fetches);
    std::printf("# BERT-%s: %lld layers, hidden %lld, batch %lld x seq %lld, %zu nodes per step, device %s\n",
                o.model.c_str(), (long long)bo.layers, (long long)bo.hidden, (long long)o.batch, (long long)o.seq,
                order.size(), o.device.c_str());
    if (!on_gpu) {  // self-test: the runner's loss equals the executor's
      RunOptions ro;
      ro.step = 1;
      const double want = ex.run(feeds, {mlm.loss}, ro)[0].at(0);
      Runner r(g, order, feeds, {mlm.loss}, false, DType::F32);
      const double got = r.step(1, true)[0].at(0);
      const bool match = std::fabs(got - want) <= 1e-5 * (1 + std::fabs(want));
      std::printf("runner loss %.6f, executor loss %.6f: %s\n", got, want, match ? "match" : "MISMATCH");
      // Every node of the step has a CUDA kernel in f32 and in bf16.
      int missing = 0;
      for (int id : order) {
        const Node& n = g.node(id);
        if (n.op == "placeholder" || n.op == "variable" || n.op == "constant") continue;
        std::vector<DType> dts;
        for (const Output& in : n.inputs) dts.push_back(g.node(in.node).out_dtypes[size_t(in.index)]);
        for (DType f : {DType::F32, DType::BF16}) {
          DType kd = dispatch_dtype(n, dts);
          if (is_float(kd)) kd = f;
          if (!OpRegistry::get().find_kernel(n.op, "cuda", kd)) {
            std::printf("no cuda kernel: %s at %s\n", n.op.c_str(), dtype_name(kd));
            ++missing;
          }
        }
      }
      std::printf("cuda kernel coverage of the step: %s\n", missing ? "INCOMPLETE" : "complete (f32 and bf16)");
      return match && !missing ? 0 : 1;
    }
    std::printf("%10s %12s %12s %10s %12s\n", "precision", "ms/step", "samples/s", "loss", "peak-mem");
    for (const std::string& p : o.precisions) {
      if (p != "fp32" && p != "tf32" && p != "bf16") throw Error("--precision entries are fp32, tf32, bf16; got " + p);
      cuda::set_allow_tf32(p != "fp32");
      Runner r(g, order, feeds, {mlm.loss}, true, p == "bf16" ? DType::BF16 : DType::F32);
      const double loss = r.step(0, true)[0].at(0);  // warm-up: uploads, cuBLAS heuristics, allocator
      r.step(1, false);
      cuda::synchronize_compute();
      cuda::allocator().reset_peak();
      cuda::Event start, stop;
      start.record(cuda::compute_stream());
      for (int64_t s = 0; s < o.steps; ++s) r.step(2 + s, false);
      stop.record(cuda::compute_stream());
      cuda::synchronize_compute();
      const double ms = stop.elapsed_ms_since(start) / double(o.steps);
      std::printf("%10s %12.2f %12.1f %10.4f %11.2fG\n", p.c_str(), ms, double(o.batch) * 1e3 / ms, loss,
                  double(cuda::memory_stats().peak_in_use) / double(1 << 30));
      std::fflush(stdout);
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "cuda_bert_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
