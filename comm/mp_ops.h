// mp_ops.h — differentiable collectives for tensor (model) parallelism over the
// model-parallel group (Megatron-LM's f and g operators).
//
//   mp_identity   x -> x; gradient: allreduce-sum of dy over the group  ("f":
//                 placed before a column-parallel layer whose input is replicated)
//   mp_allreduce  x -> sum over the group of x; gradient: identity       ("g":
//                 after a row-parallel layer: partial products summed)
//   mp_allgather  (.., n) -> (.., size * n): every rank's block concatenated along
//                 the last axis in rank order; gradient: this rank's block of dy
//
// The kernels use the communicator RunOptions::resources->mp_comm
// (add_mp_to_resources). The group's size and this rank's index are attrs fixed
// at build time; a run whose mp_comm disagrees fails naming the node.
//
// Ordering: the collective nodes (mp_allreduce, mp_allgather) are blocking and
// each gets a control edge from the graph's previous one, so every rank of a
// group issues them in one order. A graph that also holds allreduce_bucket
// nodes on another communicator must order those after the mp nodes
// (order_after_mp_collectives), or ranks of different groups could wait on
// each other in a cycle.
#pragma once

#include <vector>

#include "comm/communicator.h"
#include "core/core.h"

namespace ft {
namespace comm {

// Registers the ops above and their CPU kernels (idempotent). The builders call it.
void register_mp_ops();

Value mp_identity(Value x, int group_size, int group_rank);
Value mp_allreduce(Value x, int group_size, int group_rank);
Value mp_allgather(Value x, int group_size, int group_rank);

// Whether `op` is one of the blocking collectives above (mp_allreduce, mp_allgather).
bool is_mp_collective(const std::string& op);
// The mp collective nodes of g (ids ascending).
std::vector<int> mp_collective_nodes(const Graph& g);
// Adds control edges from every mp collective node created before `node`.
void order_after_mp_collectives(Graph& g, int node);

// Sets Resources::mp_comm.
void add_mp_to_resources(Resources& r, CommPtr c);

}  // namespace comm
}  // namespace ft
