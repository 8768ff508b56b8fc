// cpu/shape.cpp — shape kernels. reshape and reshape_like are views: the executor
// points their output at the input's buffer, so the kernels do nothing.
#include "ops/op_util.h"

namespace ft {
namespace ops {

void register_shape_cpu() {
  for (DType dt : {DType::F32, DType::F64, DType::I32, DType::I64}) {
    OpRegistry::get().add_kernel("reshape", "cpu", dt, Kernel{[](KernelCtx&) {}, {}});
    OpRegistry::get().add_kernel("reshape_like", "cpu", dt, Kernel{[](KernelCtx&) {}, {}});
  }
}

}  // namespace ops
}  // namespace ft
