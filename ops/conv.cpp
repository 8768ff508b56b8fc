// conv.cpp — conv op definitions.
#include "ops/op_util.h"
#include "ops/ops.h"

namespace ft {
namespace ops {
void register_conv() {}
}  // namespace ops
}  // namespace ft
