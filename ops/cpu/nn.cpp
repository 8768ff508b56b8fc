// cpu/nn.cpp — nn CPU kernels.
#include "ops/op_util.h"

namespace ft {
namespace ops {
void register_nn_cpu() {}
}  // namespace ops
}  // namespace ft
