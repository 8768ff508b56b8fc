// strategy.cpp — what strategies share by default.
#include "train/strategy.h"

#include "comm/stall.h"

#include "comm/mp_ops.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace ft {
namespace train {

GradientPlan plan_gradient_buckets(const std::vector<Value>& params, const std::vector<Value>& grads, double bucket_mb) {
  FT_CHECK(params.size() == grads.size(), "plan_gradient_buckets: one gradient per parameter");
  GradientPlan plan;
  plan.order.resize(grads.size());
  for (size_t i = 0; i < plan.order.size(); ++i) plan.order[i] = int(i);
  std::sort(plan.order.begin(), plan.order.end(),
            [&](int a, int b) { return grads[size_t(a)].node() < grads[size_t(b)].node(); });
  plan.bucketer = comm::GradientBucketer(size_t(bucket_mb * 1024 * 1024));
  for (int i : plan.order) {
    const Value& p = params[size_t(i)];
    plan.bucketer.add(p.name(), p.shape(), p.dtype());
  }
  return plan;
}

bool Strategy::agree_stop(StepContext& ctx, bool local) {
  if (ctx.world->size() == 1) return local;
  int32_t v = local ? 1 : 0;
  comm::InflightScope noted(comm::kStepKey, "the step boundary");  // watched like the gradients' collectives
  ctx.world->allreduce(&v, 1, DType::I32, comm::ReduceOp::Max);
  return v != 0;
}

std::vector<std::string> mp_collectives(const Graph& g, int64_t batch) {
  std::map<std::string, std::pair<int, double>> by_op;  // op -> count, bytes per step
  for (int id = 0; id < g.num_nodes(); ++id) {
    const Node& n = g.node(id);
    if (!comm::is_mp_collective(n.op) && n.op != "send" && n.op != "recv") continue;
    Shape s = n.out_shapes.empty() ? Shape{} : n.out_shapes[0];
    for (auto& d : s)
      if (d < 0) d = batch;
    auto& e = by_op[n.op];
    ++e.first;
    e.second += double(numel(s)) * double(dtype_size(n.out_dtypes.empty() ? DType::F32 : n.out_dtypes[0]));
  }
  std::vector<std::string> out;
  for (const auto& kv : by_op)
    out.push_back(fmt::format("model parallel: {} x {}, {:.3f} MiB per step (outputs, batch {})", kv.second.first,
                              kv.first, kv.second.second / double(1 << 20), batch));
  return out;
}

}  // namespace train
}  // namespace ft
