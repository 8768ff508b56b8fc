// amp_nccl_test.cpp — the mixed-precision training graph and the NCCL bucket
// allreduce against the CUDA backend. Kernel coverage runs everywhere; the parts
// that need a device skip without one.
#include <gtest/gtest.h>

#include <future>

#include "comm/comm_ops.h"
#include "comm/device_comm.h"
#include "comm/local_communicator.h"
#include "ops/autocast.h"
#include "ops/cuda/cuda.h"
#include "ops/ops.h"

using namespace ft;

#define REQUIRE_GPU()                                                                                \
  if (cuda::device_count() == 0)                                                                     \
  GTEST_SKIP() << "no CUDA device on this machine (" << cuda::no_device_reason() << ")"

// The autocast MLP training graph (forward, backward, half GEMMs and casts) has a
// CUDA kernel for every node's (op, dtype): the same graph runs on either device.
TEST(AmpOnCuda, EveryNodeOfTheHalfTrainingGraphHasACudaKernel) {
  cuda::register_kernels();
  for (DType h : {DType::F16, DType::BF16}) {
    Graph src(3), dst(3);
    Value x = src.placeholder("x", {-1, 12});
    Value y = src.placeholder("y", {-1}, DType::I32);
    Value img = src.placeholder("img", {-1, 1, 6, 6});
    Value k = src.variable("conv/w", {2, 1, 3, 3}, init::glorot());
    Value w = src.variable("fc/w", {12 + 2 * 36, 4}, init::glorot());
    Value b = src.variable("fc/b", {4}, init::zeros());
    Value feat = concat({x, reshape(relu(conv2d(img, k, 1, 1)), {-1, 2 * 36})}, 1);
    Value loss = mean(sparse_softmax_cross_entropy(matmul(feat, w) + b, y));
    Autocast ac(src, dst, h);
    ASSERT_EQ(ac.rewritten(), 2);
    gradients(ac(loss), dst.trainable());
    const OpRegistry& reg = OpRegistry::get();
    for (int id = 0; id < dst.num_nodes(); ++id) {
      const Node& n = dst.node(id);
      if (n.op == "placeholder" || n.op == "variable" || n.op == "constant") continue;
      std::vector<DType> in;
      for (const Output& o : n.inputs) in.push_back(dst.node(o.node).out_dtypes[size_t(o.index)]);
      const DType d = dispatch_dtype(n, in);
      EXPECT_NE(reg.find_kernel(n.op, "cuda", d), nullptr) << n.name << " (" << n.op << ", " << dtype_name(d) << ")";
    }
  }
}

TEST(NcclBucket, RegisteredForCudaAndAvailabilityIsReported) {
  std::string why;
  const bool ok = comm::device_comm_available(&why);
  if (!ok && why.find("no NCCL") != std::string::npos) GTEST_SKIP() << why;
  comm::register_device_comm_kernels();
  EXPECT_TRUE(OpRegistry::get().has_kernel("allreduce_bucket", "cuda"));
  EXPECT_EQ(ok, cuda::device_count() > 0);
  if (!ok) {
    EXPECT_NE(why.find("no CUDA device"), std::string::npos) << why;
    EXPECT_THROW(comm::make_device_comm(std::make_shared<comm::LocalCommunicator>()), Error);
  }
}

// One rank: the bucket kernel packs two device tensors, runs ncclAllReduce (mean)
// on the communication stream and unpacks; the result equals the input.
TEST(NcclBucket, AllreducesDeviceTensorsOnTheCommStream) {
  REQUIRE_GPU();
  comm::register_device_comm_kernels();
  comm::DeviceCommPtr nccl = comm::make_device_comm(std::make_shared<comm::LocalCommunicator>());
  Resources res;
  comm::add_device_comm_to_resources(res, nccl);
  Graph g;
  Value a = g.placeholder("a", {3, 4}), b = g.placeholder("b", {5});
  std::vector<Value> outs = comm::allreduce(g, {a, b}, 0, comm::ReduceOp::Mean);
  Tensor ha = Tensor::empty({3, 4}, DType::F32), hb = Tensor::empty({5}, DType::F32);
  for (int64_t i = 0; i < 12; ++i) ha.data<float>()[i] = float(i) * 0.5f;
  for (int64_t i = 0; i < 5; ++i) hb.data<float>()[i] = -float(i);
  cuda::DeviceTensor da = cuda::to_device(ha), db = cuda::to_device(hb);
  cuda::DeviceTensor oa = cuda::empty_device({3, 4}, DType::F32), ob = cuda::empty_device({5}, DType::F32);
  const Kernel* k = OpRegistry::get().find_kernel("allreduce_bucket", "cuda", DType::F32);
  ASSERT_NE(k, nullptr);
  KernelCtx ctx{g.node(outs[0].node()), {&da.t, &db.t}, {&oa.t, &ob.t}, nullptr, &res, 0, true};
  std::promise<void> done;
  k->async_fn(ctx, [&](const Status& s) {
    EXPECT_TRUE(s.ok()) << s.message();
    done.set_value();
  });
  done.get_future().wait();
  nccl->check();
  EXPECT_EQ(cuda::to_host(oa.t).to_vector<float>(), ha.to_vector<float>());
  EXPECT_EQ(cuda::to_host(ob.t).to_vector<float>(), hb.to_vector<float>());
}
