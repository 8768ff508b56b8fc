// placement.h — puts each node of a run on a device and says where copies go.
//
// Placement happens when the executor compiles a plan, on the final graph
// (forward, gradients and updates already built), so copies never appear in
// the graph and need no gradient rule.
//
// The requested device of a node is its device_scope() string when that names
// a device ("cpu", "cuda"), else the run's default (PlaceOptions::device);
// "" and "rank:N" (model-parallel partitioning) mean the default, "cpu:N" is "cpu".
//   * A node goes on its requested device if the OpRegistry has a kernel for
//     (op, device, dispatch dtype); otherwise it falls back to "cpu".
//   * Leaves stay on the host: fed placeholders are host tensors (or, when
//     fed_on names their device, tensors already there: staged inputs), variables
//     and constants are the Graph's host tensors (the optimizer updates them
//     there). A leaf read on a device is copied there once per run. With a
//     resident device, variables and constants live there instead, and a cpu
//     reader gets a copy to the host.
//   * A copy is inserted for every value produced on device A and read on
//     device B != A: ONE copy per (value, destination device), shared by all
//     its readers there; none where producer and reader share a device.
//     Control edges need no copy. A fetched value not on "cpu" gets a copy to
//     "cpu" (shared with its cpu readers), which the fetch returns, unless
//     fetch_on_device.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/graph.h"

namespace ft {

struct PlaceOptions {
  std::string device = "cpu";   // the run's default device
  std::vector<Value> fetches;   // what the run fetches
  std::set<int> fed;            // fed node ids: host tensors, their inputs not needed
  std::map<int, std::string> fed_on;  // fed node ids whose tensors live on a device: that device
  // Device-resident state (core/executor.h ResidentVariables): variables and
  // constants live on this device instead of the host ("" = the host).
  std::string resident;
  // Fetched values stay on the device that produced them (no copy to "cpu").
  bool fetch_on_device = false;
};

struct DeviceCopy {
  Output src;                 // the value copied
  std::string from, to;       // device of its producer, of its readers
  std::vector<int> readers;   // nodes on `to` reading src, ascending
  bool fetched = false;       // a fetch reads this (host) copy
};

struct DevicePlacement {
  std::vector<int> nodes;            // the nodes the run needs, in id order
  std::vector<std::string> device;   // per graph node id; "" = not needed
  std::vector<DeviceCopy> copies;    // in (producer id, output, destination) order
  std::vector<int> fallbacks;        // nodes that requested a device but run on "cpu"
  // Index in `copies` of the copy of src to device `to`; -1 when there is none.
  int copy_index(const Output& src, const std::string& to) const;
  // Devices with nodes on them, "cpu" first when present.
  std::vector<std::string> devices() const;
};

// The device a node asks for, given the run's default.
std::string requested_device(const Node& n, const std::string& default_device);

// Places the nodes the fetches need. Loads each requested non-cpu backend
// (load_backend) so that its kernels are known; throws a one-line ft::Error
// when the build has no backend of a requested device. Needs no hardware.
DevicePlacement place_devices(const Graph& g, const PlaceOptions& opt);

}  // namespace ft
