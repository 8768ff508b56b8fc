// checkpoint.h — checkpoints that resume exactly: model weights and optimizer
// state in safetensors files, and the step, data position and RNG state in
// state.json, in one folder per step (DIR/step-00000500/), made atomically
// (written under a temporary name, then renamed) with DIR/latest pointing at
// the newest. Older checkpoints beyond `keep` are removed.
#pragma once

#include <map>
#include <string>

#include "train/safetensors.h"

namespace ft {
namespace train {

struct Checkpoint {
  int64_t step = 0;
  TensorMap model;
  TensorMap optimizer;
  std::string state_json = "{}";  // trainer state (data position, counters)
};

class CheckpointManager {
 public:
  CheckpointManager(std::string dir, int keep);
  // Returns the folder written.
  std::string save(const Checkpoint& c);
  // The newest complete checkpoint folder, or "" when there is none.
  std::string latest() const;
  // Loads a checkpoint folder (or the newest one when `path` is DIR itself).
  static Checkpoint load(const std::string& path);

 private:
  std::string dir_;
  int keep_;
};

}  // namespace train
}  // namespace ft
