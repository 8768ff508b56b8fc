// mp.cpp — sets up the dp × mp grid of sub-communicators (see mp.h).
#include "train/mp.h"

namespace ft {
namespace train {

Grid make_grid(const comm::CommPtr& world, int mp) {
  const int size = world->size(), rank = world->rank();
  if (mp < 1 || size % mp != 0)
    throw Error("model-parallel size " + std::to_string(mp) + " does not divide the world size " +
                std::to_string(size));
  Grid g;
  g.world = world;
  g.mp = mp;
  g.dp = size / mp;
  g.dp_index = rank / mp;
  g.mp_index = rank % mp;
  if (mp == 1) {
    g.dp_comm = world;
    return g;
  }
  // Two collective splits, in this order on every rank.
  g.mp_comm = world->split(g.dp_index, g.mp_index);  // same replica: consecutive ranks
  g.dp_comm = world->split(g.mp_index, g.dp_index);  // same slice across replicas
  if (g.mp_comm->size() != mp || g.mp_comm->rank() != g.mp_index || g.dp_comm->size() != g.dp ||
      g.dp_comm->rank() != g.dp_index)
    throw Error("model-parallel grid: split communicators do not match the grid (rank " + std::to_string(rank) + ")");
  return g;
}

}  // namespace train
}  // namespace ft
