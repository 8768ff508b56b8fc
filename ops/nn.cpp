// nn.cpp — nn op definitions.
#include "ops/op_util.h"
#include "ops/ops.h"

namespace ft {
namespace ops {
void register_nn() {}
}  // namespace ops
}  // namespace ft
