// placement_test.cpp — device placement with cpu fallback (core/placement.h) and
// the executor running placed plans (core/executor.h, core/device.h):
//   * placed for "cuda" against the real CUDA kernel registrations: an op with
//     a cpu kernel only falls back to cpu, copies sit exactly at the edges that
//     cross devices, one per (value, destination device);
//   * placed for "cpu": no copies;
//   * a plan on a second, non-host device ("testdev", host memory behind the
//     Device interface) runs forward and backward with its own arena and copy
//     steps and matches the cpu run;
//   * on the cuda device (where one is present) a placed graph matches the cpu;
//   * the stand-in device (core/standin.h): its kernels refuse host memory;
//     resident variables cross once, fetches stay on the device, a cpu reader
//     of a resident variable gets a copy; optimizer slots live with device
//     parameters, state() is host tensors, loaded state moves to the device;
//     staged inputs (core/input_stager.h) land at the wait, are read on the
//     device with no copy step, and a run then sends nothing.
#include <gtest/gtest.h>

#include <atomic>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <set>

#include "core/core.h"
#include "ops/ops.h"
#include "optim/clip.h"
#include "optim/device_update.h"
#include "optim/factory.h"
#include "optim/loss_scale.h"

using namespace ft;

namespace {

// An op with a cpu kernel only: y = x * x + 1, same shape (f32).
void register_cpu_only_op() {
  static bool done = [] {
    OpRegistry& reg = OpRegistry::get();
    OpDef d;
    d.name = "test_cpu_only";
    d.num_inputs = 1;
    d.shape = [](ShapeCtx& c) { c.set(0, c.in_shapes[0], c.in_dtypes[0]); };
    d.grad = [](GradCtx& c) { return std::vector<Value>{c.grads[0] * (2.0 * c.inputs[0])}; };
    reg.add_op(d);
    reg.add_kernel("test_cpu_only", "cpu", DType::F32, Kernel{[](KernelCtx& k) {
                     const float* x = k.in(0).data<float>();
                     float* y = k.out(0).data<float>();
                     for (int64_t i = 0; i < k.in(0).numel(); ++i) y[i] = x[i] * x[i] + 1.0f;
                   }, {}});
    return true;
  }();
  (void)done;
}

Value cpu_only(Value x) { return x.graph().add1("test_cpu_only", {x}); }

// matmul -> cpu-only op (two of them on one value) -> matmul, a cpu-produced
// value with two readers on the device, a device value read on the device and
// on the cpu, a fetched device value.
struct Net {
  Graph g{7};
  Value x, w1, w2, h, a, b, s, y, r, out, loss;
  explicit Net(const std::string& scope = "") {
    register_cpu_only_op();
    std::optional<Graph::Scope> d;
    if (!scope.empty()) d.emplace(g.device_scope(scope));
    x = g.placeholder("x", {-1, 8});
    w1 = g.variable("w1", {8, 8}, init::normal(0.3));
    w2 = g.variable("w2", {8, 8}, init::normal(0.3));
    h = matmul(x, w1);
    a = cpu_only(h);
    b = cpu_only(h);
    s = a + b;
    y = matmul(a, w2);
    r = relu(h);
    out = y + s + r;
    loss = sum(out);
  }
  Tensor batch() const {
    std::vector<float> v(4 * 8);
    for (size_t i = 0; i < v.size(); ++i) v[i] = float(int(i % 7) - 3) * 0.25f;
    return Tensor::from<float>({4, 8}, v);
  }
};

// The invariants of any placement: a copy exactly where a reader's device
// differs from its producer's, one per (value, device), none elsewhere.
void expect_copies_exactly_at_crossings(const Graph& g, const DevicePlacement& p, const std::set<int>& fed,
                                        const std::vector<Value>& fetches) {
  std::set<std::pair<Output, std::string>> expected;
  std::map<std::pair<Output, std::string>, std::set<int>> readers;
  for (int id : p.nodes) {
    if (fed.count(id)) continue;
    for (const Output& o : g.node(id).inputs) {
      const std::string& to = p.device[size_t(id)];
      if (p.device[size_t(o.node)] == to) continue;
      expected.insert({o, to});
      readers[{o, to}].insert(id);
    }
  }
  for (const Value& v : fetches)
    if (p.device[size_t(v.node())] != "cpu") expected.insert({v.output(), "cpu"});
  std::set<std::pair<Output, std::string>> got;
  for (const DeviceCopy& c : p.copies) {
    EXPECT_TRUE(got.insert({c.src, c.to}).second) << "two copies of " << g.node(c.src.node).name << " to " << c.to;
    EXPECT_EQ(c.from, p.device[size_t(c.src.node)]);
    EXPECT_NE(c.from, c.to);
    EXPECT_EQ(std::set<int>(c.readers.begin(), c.readers.end()), (readers[{c.src, c.to}]));
  }
  EXPECT_EQ(got, expected);
}

bool cuda_backend() {
  ops::register_all();
  return load_backend("cuda");
}

}  // namespace

TEST(Placement, CudaPlacementFallsBackToCpuAndCopiesAtCrossingEdges) {
  if (!cuda_backend()) GTEST_SKIP() << "this build has no CUDA backend: no cuda kernels to place against";
  Net n;
  PlaceOptions o;
  o.device = "cuda";
  o.fetches = {n.loss, n.a};
  DevicePlacement p = place_devices(n.g, o);

  auto dev = [&](const Value& v) { return p.device[size_t(v.node())]; };
  for (const Value& v : {n.x, n.w1, n.w2, n.a, n.b}) EXPECT_EQ(dev(v), "cpu") << v.name();
  for (const Value& v : {n.h, n.s, n.y, n.r, n.out, n.loss}) EXPECT_EQ(dev(v), "cuda") << v.name();
  EXPECT_EQ(p.fallbacks, (std::vector<int>{n.a.node(), n.b.node()}));
  EXPECT_EQ(p.devices(), (std::vector<std::string>{"cpu", "cuda"}));

  // x, w1, w2 up; h down once for both cpu-only readers; a up once for s and y;
  // b up; loss down for the fetch. a is fetched on the cpu itself: no copy.
  ASSERT_EQ(p.copies.size(), 7u);
  auto copy = [&](const Value& v, const std::string& to) -> const DeviceCopy& {
    int i = p.copy_index(v.output(), to);
    EXPECT_GE(i, 0) << "no copy of " << v.name() << " to " << to;
    return p.copies.at(size_t(std::max(i, 0)));
  };
  EXPECT_EQ(copy(n.x, "cuda").readers, std::vector<int>{n.h.node()});
  EXPECT_EQ(copy(n.w1, "cuda").readers, std::vector<int>{n.h.node()});
  EXPECT_EQ(copy(n.w2, "cuda").readers, std::vector<int>{n.y.node()});
  EXPECT_EQ(copy(n.h, "cpu").readers, (std::vector<int>{n.a.node(), n.b.node()}));
  EXPECT_EQ(copy(n.a, "cuda").readers, (std::vector<int>{n.s.node(), n.y.node()}));
  EXPECT_EQ(copy(n.b, "cuda").readers, std::vector<int>{n.s.node()});
  EXPECT_TRUE(copy(n.loss, "cpu").fetched);
  EXPECT_TRUE(copy(n.loss, "cpu").readers.empty());
  EXPECT_EQ(p.copy_index(n.h.output(), "cuda"), -1);  // relu(h) shares h's device
  EXPECT_EQ(p.copy_index(n.a.output(), "cpu"), -1);
  expect_copies_exactly_at_crossings(n.g, p, {}, o.fetches);
}

TEST(Placement, GradientsOfAPlacedGraphCopyOnlyAtCrossings) {
  if (!cuda_backend()) GTEST_SKIP() << "this build has no CUDA backend: no cuda kernels to place against";
  Net n("cuda");  // every node asks for cuda; gradients() keeps the request
  std::vector<Value> grads = gradients(n.loss, {n.w1, n.w2});
  PlaceOptions o;
  o.device = "cpu";  // the scope, not the default, puts nodes on cuda
  o.fetches = {n.loss, grads[0], grads[1]};
  o.fed = {n.x.node()};
  DevicePlacement p = place_devices(n.g, o);
  // The cpu-only op's gradient rule uses mul/scale: on cuda; the op itself falls back.
  EXPECT_EQ(p.device[size_t(n.a.node())], "cpu");
  EXPECT_EQ(p.device[size_t(grads[0].node())], "cuda");
  EXPECT_EQ(p.device[size_t(n.h.node())], "cuda");
  EXPECT_EQ(p.fallbacks, (std::vector<int>{n.a.node(), n.b.node()}));
  expect_copies_exactly_at_crossings(n.g, p, o.fed, o.fetches);
  EXPECT_GE(p.copy_index(grads[0].output(), "cpu"), 0);  // fetched device values come back
}

TEST(Placement, CpuPlacementHasNoCopies) {
  ops::register_all();
  Net n;
  std::vector<Value> grads = gradients(n.loss, {n.w1, n.w2});
  PlaceOptions o;  // device "cpu"
  o.fetches = {n.loss, grads[0], grads[1]};
  o.fed = {n.x.node()};
  DevicePlacement p = place_devices(n.g, o);
  EXPECT_TRUE(p.copies.empty());
  EXPECT_TRUE(p.fallbacks.empty());
  for (int id : p.nodes) EXPECT_EQ(p.device[size_t(id)], "cpu") << n.g.node(id).name;
  Executor ex(n.g);
  Executor::Feeds f = {{n.x, n.batch()}};
  EXPECT_EQ(ex.stats(f, o.fetches).copies, 0);
}

TEST(Placement, MissingDeviceOrBackendIsAOneLineError) {
  ops::register_all();
  Net n;
  Executor ex(n.g, nullptr, "cuda");
  Executor::Feeds f = {{n.x, n.batch()}};
  try {
    ex.run(f, {n.loss});
    if (!cuda_backend()) FAIL() << "ran on cuda without a CUDA backend";
    SUCCEED() << "a CUDA device is present";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    if (cuda_backend())
      EXPECT_NE(m.find("device: cuda requested but no CUDA device is present"), std::string::npos) << m;
    else
      EXPECT_NE(m.find("this build has no cuda backend"), std::string::npos) << m;
  }
}

// ---- a second device: host memory behind the Device interface, not host-addressable
// as far as the executor knows, so every crossing gets a real copy step.
namespace {

struct TestDevice final : Device {
  std::string n = "testdev";
  std::map<void*, size_t> live;
  // Atomic: the executor's pool can run two copies at once.
  std::atomic<int64_t> h2d{0}, d2h{0}, d2d{0}, syncs{0};
  const std::string& name() const override { return n; }
  bool is_host() const override { return false; }
  void* allocate(size_t bytes) override {
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    live[p] = bytes;
    return p;
  }
  void free(void* p) override {
    live.erase(p);
    std::free(p);
  }
  bool owns(const void* p) const {
    for (const auto& kv : live)
      if (p >= kv.first && p < static_cast<const char*>(kv.first) + kv.second) return true;
    return false;
  }
  void copy_from_host(void* dst, const void* src, size_t b) override {
    EXPECT_TRUE(owns(dst));
    EXPECT_FALSE(owns(src));
    std::memcpy(dst, src, b);
    ++h2d;
  }
  void copy_to_host(void* dst, const void* src, size_t b) override {
    EXPECT_TRUE(owns(src));
    EXPECT_FALSE(owns(dst));
    std::memcpy(dst, src, b);
    ++d2h;
  }
  void copy_on_device(void* dst, const void* src, size_t b) override {
    std::memcpy(dst, src, b);
    ++d2d;
  }
  void synchronize() override { ++syncs; }
};

TestDevice* test_device() {
  static bool registered = [] {
    register_device("testdev", [] { return std::unique_ptr<Device>(new TestDevice()); });
    // testdev kernels: the cpu kernels of a few ops, checking their buffers live on testdev.
    OpRegistry& reg = OpRegistry::get();
    for (const char* op : {"matmul", "add", "relu", "mul", "ones_like", "relu_grad", "reduce_sum", "broadcast_like"}) {
      const Kernel* k = reg.find_kernel(op, "cpu", DType::F32);
      if (!k) continue;
      KernelFn fn = k->fn;
      reg.add_kernel(op, "testdev", DType::F32, Kernel{[fn](KernelCtx& c) {
                       auto& td = static_cast<TestDevice&>(*c.device);
                       EXPECT_EQ(td.name(), "testdev");
                       for (const Tensor* t : c.inputs) EXPECT_TRUE(td.owns(t->raw())) << c.node.name;
                       for (const Tensor* t : c.outputs) EXPECT_TRUE(t->numel() == 0 || td.owns(t->raw())) << c.node.name;
                       fn(c);
                     }, {}});
    }
    return true;
  }();
  (void)registered;
  return static_cast<TestDevice*>(&device("testdev"));
}

// The fetches of one plain cpu run, cloned.
std::vector<Tensor> cpu_reference(Graph& g, const Executor::Feeds& f, const std::vector<Value>& fetch) {
  Executor cpu(g);
  std::vector<Tensor> want;
  for (const Tensor& t : cpu.run(f, fetch)) want.push_back(t.clone());
  return want;
}

// Every element within tol relative (plus tol absolute) of the reference.
void expect_close(const std::vector<Tensor>& got, const std::vector<Tensor>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].shape(), want[i].shape()) << "fetch " << i;
    for (int64_t j = 0; j < got[i].numel(); ++j)
      EXPECT_NEAR(got[i].at(j), want[i].at(j), tol * (1.0 + std::abs(want[i].at(j)))) << "fetch " << i;
  }
}

}  // namespace

TEST(Placement, PlanOnASecondDeviceMatchesCpuForwardAndBackward) {
  ops::register_all();
  TestDevice* td = test_device();
  Net n;
  std::vector<Value> grads = gradients(n.loss, {n.w1, n.w2});
  std::vector<Value> fetch = {n.loss, grads[0], grads[1], n.a};
  Executor::Feeds f = {{n.x, n.batch()}};

  const std::vector<Tensor> want = cpu_reference(n.g, f, fetch);

  Executor ex(n.g, nullptr, "testdev");
  const DevicePlacement& p = ex.placement(f, fetch);
  EXPECT_EQ(p.device[size_t(n.h.node())], "testdev");
  EXPECT_EQ(p.device[size_t(n.a.node())], "cpu");  // no testdev kernel: fallback
  expect_copies_exactly_at_crossings(n.g, p, {n.x.node()}, fetch);
  const PlanStats& st = ex.stats(f, fetch);
  EXPECT_EQ(st.copies, int(p.copies.size()));
  EXPECT_GT(st.copies, 0);

  for (int run = 0; run < 2; ++run) {
    const int64_t before = td->h2d + td->d2h;
    const int64_t syncs = td->syncs;
    std::vector<Tensor> got = ex.run(f, fetch);
    EXPECT_EQ(td->h2d + td->d2h - before, int64_t(p.copies.size()));  // each copy once per run
    EXPECT_EQ(td->syncs, syncs + 1);
    for (size_t i = 0; i < got.size(); ++i) EXPECT_FALSE(td->owns(got[i].raw())) << "fetch " << i << " is not a host tensor";
    expect_close(got, want, 1e-5);
  }
  // The same plan on more threads (concurrent schedule, reuse edges per arena).
  ThreadPool pool(2);
  Executor ex2(n.g, &pool, "testdev");
  expect_close(ex2.run(f, fetch), want, 1e-5);
}

TEST(Placement, CudaRunMatchesCpu) {
  if (!cuda_backend()) GTEST_SKIP() << "this build has no CUDA backend";
  try {
    device("cuda");
  } catch (const Error& e) {
    GTEST_SKIP() << "no CUDA device on this machine (" << e.what() << ")";
  }
  Net n;
  std::vector<Value> grads = gradients(n.loss, {n.w1, n.w2});
  std::vector<Value> fetch = {n.loss, grads[0], grads[1], n.a};
  Executor::Feeds f = {{n.x, n.batch()}};
  const std::vector<Tensor> want = cpu_reference(n.g, f, fetch);
  Executor ex(n.g, nullptr, "cuda");
  EXPECT_GT(ex.stats(f, fetch).copies, 0);
  for (int run = 0; run < 2; ++run) expect_close(ex.run(f, fetch), want, 1e-2);  // TF32 GEMMs
}

// ---- the stand-in device (core/standin.h) and device-resident state

namespace {
int64_t h2d_since(const DeviceTraffic& t) { return device_traffic().h2d_bytes - t.h2d_bytes; }
int64_t d2h_since(const DeviceTraffic& t) { return device_traffic().d2h_bytes - t.d2h_bytes; }
// Two layers, all of whose ops the stand-in has: its loss and the two weights' gradients.
struct TwoLayers {
  Graph g{3};
  Value x = g.placeholder("x", {-1, 8});
  Value w1 = g.variable("w1", {8, 8}, init::normal(0.3));
  Value w2 = g.variable("w2", {8, 4}, init::normal(0.3));
  Value loss = sum(relu(matmul(tanh(matmul(x, w1)), w2)));
  std::vector<Value> fetch = fetches();

 private:
  std::vector<Value> fetches() {
    std::vector<Value> grads = gradients(loss, {w1, w2});
    return {loss, grads[0], grads[1]};
  }
};
}  // namespace

TEST(Standin, KernelsMirrorCpuAndRefuseHostMemory) {
  ops::register_all();
  Device& d = device("standin");
  EXPECT_FALSE(d.is_host());
  EXPECT_TRUE(d.host_addressable());
  const Kernel* add = OpRegistry::get().find_kernel("add", "standin", DType::F32);
  ASSERT_NE(add, nullptr);
  EXPECT_EQ(OpRegistry::get().find_kernel("allreduce_bucket", "standin", DType::F32), nullptr);  // through the host
  Graph g;
  Value a = g.placeholder("a", {2});
  Value s = a + a;
  Tensor x = Tensor::from<float>({2}, {1, 2}), y = Tensor::empty({2}, DType::F32);
  KernelCtx c{g.node(s.node()), {&x, &x}, {&y}, &ThreadPool::global(), nullptr, 0, true, &d};
  try {
    add->fn(c);
    ADD_FAILURE() << "a stand-in kernel ran on host memory";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not in stand-in device memory"), std::string::npos) << e.what();
  }
  Tensor dx = Tensor::empty_on(d, {2}, DType::F32), dy = Tensor::empty_on(d, {2}, DType::F32);
  dx.copy_from(x);
  KernelCtx c2{g.node(s.node()), {&dx, &dx}, {&dy}, &ThreadPool::global(), nullptr, 0, true, &d};
  add->fn(c2);
  EXPECT_EQ(dy.device(), "standin");
  EXPECT_EQ(dy.to_host().to_vector<float>(), (std::vector<float>{2, 4}));
}

TEST(Standin, ResidentVariablesCrossOnceAndFetchesStayOnTheDevice) {
  ops::register_all();
  TwoLayers n;
  Graph& g = n.g;
  const Value &x = n.x, &w1 = n.w1;
  const std::vector<Value>& fetch = n.fetch;
  Tensor batch = Net().batch();
  Executor::Feeds f = {{x, batch}};
  const std::vector<Tensor> want = cpu_reference(g, f, fetch);

  auto rv = std::make_shared<ResidentVariables>(g, device("standin"));
  Executor ex(g, nullptr, "standin");
  ex.set_resident(rv);
  ex.set_fetch_on_device(true);
  const DevicePlacement& p = ex.placement(f, fetch);
  EXPECT_EQ(p.device[size_t(w1.node())], "standin");
  EXPECT_EQ(p.device[size_t(x.node())], "cpu");
  ASSERT_TRUE(p.fallbacks.empty()) << g.node(p.fallbacks[0]).op << " has no stand-in kernel";
  for (int run = 0; run < 3; ++run) {
    const DeviceTraffic t = device_traffic();
    std::vector<Tensor> got = ex.run(f, fetch);
    // The first run uploads the variables (and constants) once; every run sends the batch.
    if (run > 0) EXPECT_EQ(h2d_since(t), int64_t(batch.bytes())) << "run " << run;
    else EXPECT_GE(h2d_since(t), int64_t(batch.bytes() + (8 * 8 + 8 * 4) * 4));
    EXPECT_EQ(d2h_since(t), 0) << "fetches left on the device";
    std::vector<Tensor> host;
    for (const Tensor& v : got) {
      EXPECT_EQ(v.device(), "standin");
      host.push_back(v.to_host());
    }
    expect_close(host, want, 1e-6);
  }
  // An update on the device is what the next run reads; download() brings it to the host.
  Tensor w = g.value(w1).clone();
  for (int64_t i = 0; i < w.numel(); ++i) w.data<float>()[i] *= 0.5f;
  rv->of(w1).copy_from(w);
  EXPECT_NE(g.value(w1).at(0), w.at(0));  // the host value is stale until downloaded
  std::vector<Tensor> after;
  for (const Tensor& v : ex.run(f, fetch)) after.push_back(v.to_host());
  rv->download();
  EXPECT_EQ(g.value(w1).at(0), w.at(0));
  expect_close(after, cpu_reference(g, f, fetch), 1e-6);
}

TEST(Standin, StagedInputsLandAtTheWaitAndAreReadOnTheDevice) {
  ops::register_all();
  TwoLayers n;
  Graph& g = n.g;
  const Value& x = n.x;
  const std::vector<Value>& fetch = n.fetch;
  Device& d = device("standin");
  EXPECT_THROW(InputStager{cpu_device()}, Error);
  InputStager st(d);
  EXPECT_THROW(st.current(), Error);  // nothing staged

  // Three batches, each staged one step ahead of the run that reads it.
  std::vector<Tensor> batches;
  for (int b = 0; b < 3; ++b) {
    Tensor t = Tensor::empty({4, 8}, DType::F32);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = float((i * 7 + b * 5) % 11) / 11.0f - 0.4f;
    batches.push_back(t);
  }
  auto rv = std::make_shared<ResidentVariables>(g, d);
  Executor ex(g, nullptr, "standin");
  ex.set_resident(rv);
  ex.set_fetch_on_device(true);
  st.stage({batches[0]});
  for (int step = 0; step < 3; ++step) {
    st.wait();
    const std::vector<Tensor> in = st.current();
    ASSERT_EQ(in.size(), 1u);
    EXPECT_EQ(in[0].device(), "standin");
    // What the wait made land is this step's batch, whatever is staged next.
    EXPECT_EQ(in[0].to_host().to_vector<float>(), batches[size_t(step)].to_vector<float>()) << "step " << step;
    const DeviceTraffic t = device_traffic();
    if (step + 1 < 3) {
      st.stage({batches[size_t(step + 1)]});
      EXPECT_EQ(h2d_since(t), int64_t(batches[0].bytes()));  // the upload, counted
      EXPECT_EQ(in[0].to_host().to_vector<float>(), batches[size_t(step)].to_vector<float>())
          << "the next batch overwrote the step's before the wait";
    }
    Executor::Feeds f = {{x, in[0]}};
    const DevicePlacement& p = ex.placement(f, fetch);
    EXPECT_EQ(p.device[size_t(x.node())], "standin");  // a staged feed is read where it lies
    EXPECT_LT(p.copy_index(x.output(), "standin"), 0);
    const DeviceTraffic r = device_traffic();
    std::vector<Tensor> host;
    for (const Tensor& v : ex.run(f, fetch)) host.push_back(v.to_host());
    if (step > 0) {
      EXPECT_EQ(h2d_since(r), 0) << "the run itself sends nothing";
    }
    expect_close(host, cpu_reference(g, {{x, batches[size_t(step)]}}, fetch), 1e-6);
  }
  // Two staged and none taken: a third would overwrite one.
  st.stage({batches[0]});
  st.stage({batches[1]});
  EXPECT_THROW(st.stage({batches[2]}), Error);
  st.wait();
  EXPECT_EQ(st.current()[0].to_host().to_vector<float>(), batches[0].to_vector<float>());
  EXPECT_EQ(st.current()[0].to_host().to_vector<float>(), batches[1].to_vector<float>());
}

TEST(Standin, CpuReadersOfResidentVariablesGetACopy) {
  ops::register_all();
  Net n;
  std::vector<Value> fetch = {n.loss};
  Executor::Feeds f = {{n.x, n.batch()}};
  const std::vector<Tensor> want = cpu_reference(n.g, f, fetch);
  Executor ex(n.g);  // every op on the cpu, the variables resident on the stand-in
  ex.set_resident(std::make_shared<ResidentVariables>(n.g, device("standin")));
  const DevicePlacement& p = ex.placement(f, fetch);
  EXPECT_EQ(p.device[size_t(n.w2.node())], "standin");
  EXPECT_GE(p.copy_index(n.w1.output(), "cpu"), 0);
  EXPECT_GE(p.copy_index(n.w2.output(), "cpu"), 0);
  expect_close(ex.run(f, fetch), want, 1e-6);
}

TEST(Standin, OptimizerStateLivesWithDeviceParameters) {
  ops::register_all();
  Device& d = device("standin");
  auto host_w = Tensor::from<float>({4}, {1, -2, 3, -4}), host_g = Tensor::from<float>({4}, {0.5f, 0.25f, -1, 2});
  auto dw = Tensor::empty_on(d, {4}, DType::F32), dg = Tensor::empty_on(d, {4}, DType::F32);
  dw.copy_from(host_w);
  dg.copy_from(host_g);
  optim::OptimizerOptions o;
  o.type = "adam";
  o.lr = 0.1;
  o.weight_decay = 0.01;
  auto on_host = optim::make_optimizer(o);
  auto on_dev = optim::make_optimizer(o);
  for (int i = 0; i < 3; ++i) {
    on_host->step({{"w", host_w, host_g}});
    const DeviceTraffic t = device_traffic();
    on_dev->step({{"w", dw, dg}});
    EXPECT_EQ(h2d_since(t) + d2h_since(t), 0) << "an update on the device crossed to the host";
  }
  EXPECT_EQ(dw.to_host().to_vector<float>(), host_w.to_vector<float>());
  optim::OptimizerState st = on_dev->state();
  for (const auto& kv : st.tensors) EXPECT_TRUE(kv.second.on_host()) << kv.first;
  EXPECT_EQ(st.tensors.at("w/m").to_vector<float>(), on_host->state().tensors.at("w/m").to_vector<float>());
  // Loaded state (host tensors, as from a checkpoint) moves to the device at the next step.
  auto resumed = optim::make_optimizer(o);
  resumed->load_state(on_host->state());
  Tensor dw2 = dw.clone();
  EXPECT_EQ(dw2.device(), "standin");
  resumed->step({{"w", dw2, dg}});
  on_host->step({{"w", host_w, host_g}});
  EXPECT_EQ(dw2.to_host().to_vector<float>(), host_w.to_vector<float>());
  // A gradient on another device than its parameter is an error naming both.
  try {
    on_dev->step({{"w", dw, host_g}});
    ADD_FAILURE() << "a host gradient for a device parameter was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is on standin but its gradient on cpu"), std::string::npos) << e.what();
  }
}

namespace {
// Host memory under a name no backend registers update kernels for.
class BareDevice final : public Device {
 public:
  const std::string& name() const override { return name_; }
  bool is_host() const override { return false; }
  bool host_addressable() const override { return true; }
  void* allocate(size_t bytes) override { return bytes ? std::aligned_alloc(64, (bytes + 63) / 64 * 64) : nullptr; }
  void free(void* p) override { std::free(p); }
  void copy_from_host(void* dst, const void* src, size_t n) override { std::memcpy(dst, src, n); }
  void copy_to_host(void* dst, const void* src, size_t n) override { std::memcpy(dst, src, n); }
  void copy_on_device(void* dst, const void* src, size_t n) override { std::memcpy(dst, src, n); }
  void synchronize() override {}

 private:
  std::string name_ = "bare";
};
}  // namespace

// The update of device parameters, the loss scaling, clipping and finiteness
// check of device gradients go through the kernels registered for the device
// (optim/device_update.h), as on cuda; the stand-in's give the host's numbers.
TEST(Standin, TheUpdateRunsThroughTheDeviceKernels) {
  ops::register_all();
  Device& d = device("standin");
  ASSERT_NE(optim::device_update("standin"), nullptr);
  for (const char* type : {"sgd", "momentum", "nesterov", "adam", "adamw", "lamb"}) {
    SCOPED_TRACE(type);
    optim::OptimizerOptions o;
    o.type = type;
    o.lr = 0.05;
    o.weight_decay = 0.01;
    auto on_host = optim::make_optimizer(o), on_dev = optim::make_optimizer(o);
    Tensor hw = Tensor::from<float>({5}, {1, -2, 3, -4, 0.5f}), hb = Tensor::from<float>({2}, {0.1f, -0.2f});
    Tensor dw = Tensor::empty_on(d, {5}, DType::F32), db = Tensor::empty_on(d, {2}, DType::F32);
    dw.copy_from(hw);
    db.copy_from(hb);
    for (int step = 0; step < 4; ++step) {
      Tensor gw = Tensor::from<float>({5}, {0.5f, 0.25f * step, -1, 2, -0.125f});
      Tensor gb = Tensor::from<float>({2}, {1.f / (step + 1), -0.5f});
      Tensor dgw = Tensor::empty_on(d, {5}, DType::F32), dgb = Tensor::empty_on(d, {2}, DType::F32);
      dgw.copy_from(gw);
      dgb.copy_from(gb);
      const int64_t calls = optim::device_update_calls();
      on_host->step({{"w", hw, gw}, {"b", hb, gb}});
      EXPECT_EQ(optim::device_update_calls(), calls) << "a host update called device kernels";
      on_dev->step({{"w", dw, dgw}, {"b", db, dgb}});
      EXPECT_EQ(optim::device_update_calls(), calls + 2) << "one device kernel call per parameter";
    }
    EXPECT_EQ(dw.to_host().to_vector<float>(), hw.to_vector<float>());
    EXPECT_EQ(db.to_host().to_vector<float>(), hb.to_vector<float>());
  }

  // Loss scaling, clipping and the finiteness check.
  Tensor h = Tensor::from<float>({4}, {3000, -4000, 100, 7}), dv = Tensor::empty_on(d, {4}, DType::F32);
  dv.copy_from(h);
  optim::LossScaler scaler;
  Tensor* hp = &h;
  Tensor* dp = &dv;
  const int64_t calls = optim::device_update_calls();
  EXPECT_TRUE(scaler.unscale({dp}));
  EXPECT_TRUE(scaler.unscale({hp}));
  EXPECT_EQ(optim::device_update_calls(), calls + 1);
  EXPECT_EQ(dv.to_host().to_vector<float>(), h.to_vector<float>());
  const double norm_dev = optim::clip_by_global_norm(std::vector<Tensor>{dv}, 0.01);
  const double norm_host = optim::clip_by_global_norm(std::vector<Tensor>{h}, 0.01);
  EXPECT_EQ(norm_dev, norm_host);
  EXPECT_EQ(dv.to_host().to_vector<float>(), h.to_vector<float>());
  EXPECT_NEAR(optim::global_norm({dv}), 0.01, 1e-6);
  const optim::DeviceUpdateKernels& k = *optim::device_update("standin");
  EXPECT_TRUE(k.all_finite(d, static_cast<const float*>(dv.raw()), 4));
  h.data<float>()[2] = std::nanf("");
  dv.copy_from(h);
  EXPECT_FALSE(k.all_finite(d, static_cast<const float*>(dv.raw()), 4));
  EXPECT_FALSE(scaler.unscale({dp}));

  // A device whose backend registers no update kernels is refused by name.
  BareDevice bare;
  Tensor bw = Tensor::empty_on(bare, {2}, DType::F32), bg = Tensor::empty_on(bare, {2}, DType::F32);
  auto opt = optim::make_optimizer(optim::OptimizerOptions{});
  try {
    opt->step({{"fc/w", bw, bg}});
    ADD_FAILURE() << "an update on a device without kernels ran";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("parameter 'fc/w' is on device bare, whose backend registers no update kernels"),
              std::string::npos)
        << e.what();
  }
}
