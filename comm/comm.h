// comm.h — umbrella header of flowtrain's communication layer.
#pragma once
#include "comm/allreduce_algorithm.h"
#include "comm/bucketing.h"
#include "comm/comm_ops.h"
#include "comm/communicator.h"
#include "comm/local_communicator.h"
#include "comm/mpi_communicator.h"
