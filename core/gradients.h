// gradients.h — symbolic reverse-mode differentiation.
//
// gradients(y, xs) adds the backward subgraph of y to y's graph and returns
// d sum(y) / d x for each x (same shape as x). It walks nodes that lie on a
// path from some x to y in reverse id order, asks each op's gradient rule for
// its input gradients and sums contributions with add_n. An x that y does not
// depend on gets zeros_like(x). The backward nodes are named "grad/..." and
// placed on their forward node's device (Node::device), if it has one.
#pragma once

#include <vector>

#include "core/graph.h"

namespace ft {

std::vector<Value> gradients(const Value& y, const std::vector<Value>& xs);

}  // namespace ft
