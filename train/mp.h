// mp.h — the data-parallel × model-parallel grid behind distributed.model_parallel.
//
// World size W = dp · k (k = model_parallel). World rank = dp_index · k + mp_index:
// the k ranks of one model-parallel group are consecutive (one model replica,
// split k ways); the dp ranks sharing an mp_index form one data-parallel group
// and hold the same parameter slices. mp_comm is this rank's model-parallel
// group (size k, rank mp_index); dp_comm its data-parallel group (size dp,
// rank dp_index). With k = 1, dp_comm is the world and mp_comm is null.
#pragma once

#include "comm/communicator.h"
#include "nn/parallel.h"

namespace ft {
namespace train {

struct Grid {
  int dp = 1, mp = 1;
  int dp_index = 0, mp_index = 0;
  comm::CommPtr world, dp_comm, mp_comm;
  nn::TensorParallel tp() const { return {mp, mp_index}; }
};

// Collective over world (every rank calls it, in the same order).
// Throws ft::Error if mp < 1 or mp does not divide the world size.
Grid make_grid(const comm::CommPtr& world, int mp);

// World rank of grid position (dp_index, mp_index) for model-parallel size mp.
inline int grid_rank(int dp_index, int mp_index, int mp) { return dp_index * mp + mp_index; }

}  // namespace train
}  // namespace ft
