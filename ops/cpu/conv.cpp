// cpu/conv.cpp — conv CPU kernels.
#include "ops/op_util.h"

namespace ft {
namespace ops {
void register_conv_cpu() {}
}  // namespace ops
}  // namespace ft
