// partition.h — cuts a graph by placement into one graph per rank, with a
// Send/Recv pair at every cut edge.
//
// Placement comes from Graph::device_scope(): a node whose device is "rank:N"
// runs on rank N. A node without a rank takes the rank of its first input
// (gradients() places backward nodes with their forward op, so a differentiated
// graph partitions the same way: build forward + backward, then partition);
// leaves without one go to PartitionOptions::default_rank.
//
// Every value produced on rank a and read on rank b != a is a cut edge
// (value, a -> b): rank a's graph gets one "send" node and rank b's one "recv"
// node, both with attr "tag" = the edge's index in the global list of cut edges
// (the same on every rank, since every rank cuts the same graph) and attr "key"
// = "<producer name>:<output>-><rank>". Several readers on rank b share one
// recv. Cross-rank control edges are dropped; the rest of the graph is copied
// node by node (names, attrs, device strings kept; variables share storage
// with the source graph, so updating one updates the other).
//
// Recv needs static shapes: placeholders with unknown dims get their shapes
// from PartitionOptions::feed_shapes and every shape is re-inferred. The send
// and recv ops must be registered (comm::register_ops()); core itself never
// talks to the network.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/graph.h"

namespace ft {

struct PartitionOptions {
  int num_ranks = 1;
  int default_rank = 0;
  std::map<std::string, Shape> feed_shapes;  // placeholder name -> concrete shape
  // If set, only the nodes these values need (inputs and control inputs,
  // transitively, on any rank) are kept: partition the plan you will run.
  std::vector<Value> fetches;
  int64_t tag_base = 0;  // tags are tag_base + edge index
};

struct CutEdge {
  Output src;          // producer in the source graph
  int from = 0, to = 0;
  int64_t tag = 0;     // tag_base + index in the list of cut edges
  std::string key;     // "<producer>:<output>-><to>"
  Shape shape;
  DType dtype = DType::F32;
};

// The rank of every node of g (index = node id).
std::vector<int> place(const Graph& g, const PartitionOptions& opt);
// Every cut edge of g under that placement, in source order (producer id, output, reader rank).
std::vector<CutEdge> cut_edges(const Graph& g, const std::vector<int>& placement, const PartitionOptions& opt);

struct Partition {
  int rank = 0;
  std::unique_ptr<Graph> graph;   // this rank's nodes plus its sends and recvs
  std::vector<int> placement;     // of every source node
  std::vector<CutEdge> cuts;      // all cut edges (every rank's)
  std::vector<Value> sends, recvs;  // this rank's, in graph order
  std::map<Output, Value> local;  // source output -> value in `graph` (own nodes and received values)

  bool has(const Value& src) const { return local.count(src.output()) > 0; }
  // The local value of a source value; throws naming it if it is neither
  // placed on this rank nor received.
  Value operator[](const Value& src) const;
  // What to fetch so that a run executes every send and recv of this rank
  // (plus `fetches`, mapped to local values).
  std::vector<Value> targets(const std::vector<Value>& src_fetches = {}) const;
};

// This rank's part of g (g's variables are shared, not copied).
Partition partition(Graph& g, int rank, const PartitionOptions& opt);

// Parses "rank:N" -> N; -1 for anything else.
int rank_of_device(const std::string& device);

}  // namespace ft
