// strategy.cpp — picks the Strategy for distributed.mode.
#include "train/trainer.h"

namespace ft {
namespace train {

std::unique_ptr<Strategy> make_ps_strategy(const Config& cfg, const comm::CommPtr& world);  // ps_strategy.cpp

std::unique_ptr<Strategy> make_strategy(const Config& cfg, const comm::CommPtr& world) {
  const std::string mode = cfg.s("distributed.mode");
  if (mode == "allreduce-sync") return make_allreduce_strategy(cfg);
  if ((mode == "ps-async" || mode == "ps-sync") && cfg.s("distributed.backend") == "nccl")
    throw Error(cfg.where("distributed.backend") + ": key 'distributed.backend' = nccl is supported in allreduce-sync only");
  if (mode == "ps-async" || mode == "ps-sync") return make_ps_strategy(cfg, world);
  throw Error(cfg.where("distributed.mode") + ": key 'distributed.mode' = " + mode + " is not available in this build");
}

}  // namespace train
}  // namespace ft
