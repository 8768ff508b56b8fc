// checkpoint.h — checkpoints that resume exactly: model weights and optimizer
// state in safetensors files, and the step, data position and RNG state in
// state.json (train/state.h), in one folder per step (DIR/step-00000500/),
// with DIR/latest naming the newest complete one. Older checkpoints beyond
// `keep` are removed.
//
// A checkpoint is one commit, also when several ranks write it: with model
// parallelism each of the k slices writes DIR/.tmp-step-N/mp<i>/ (write_slice),
// and only after every slice has returned (a barrier) one rank renames the
// folder to DIR/step-N/ and moves `latest` (commit). A job killed at any point
// leaves `latest` naming a checkpoint whose slices are all at the same step;
// the temporary folder of an interrupted write is removed by the next run.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "train/safetensors.h"
#include "train/state.h"

namespace ft {
class Graph;
namespace train {

struct Checkpoint {
  TrainState state;
  TensorMap model;
  TensorMap optimizer;
  // Text files kept in the folder (name -> contents): the config and what the
  // dataset fitted (config.yaml, preprocess.json, vocab.txt), for `train --predict`.
  std::map<std::string, std::string> files;
};

class CheckpointManager {
 public:
  // Creates DIR and checks it can be written (an error naming it otherwise).
  // `cleanup`: remove temporary folders left by interrupted writes (one rank does).
  CheckpointManager(std::string dir, int keep, bool cleanup = true);
  // Writes one slice (0 <= slice < slices) of the checkpoint at c.state.step.
  void write_slice(const Checkpoint& c, int slice, int slices);
  // Makes the slices written for `step` the checkpoint DIR/step-N and points
  // `latest` at it; throws naming the slice when one is incomplete. Returns the folder.
  std::string commit(int64_t step, int slices);
  // write_slice + commit for an unsliced checkpoint.
  std::string save(const Checkpoint& c);
  // The newest complete checkpoint folder, or "" when there is none.
  std::string latest() const;
  const std::string& dir() const { return dir_; }
  // debug.slow_checkpoint_ms: a pause inside each slice write (tests of a signal mid-write).
  void set_write_delay_ms(int64_t ms) { delay_ms_ = ms; }
  // Loads slice `slice` of `slices` from a checkpoint folder, or from the newest
  // one when `path` is DIR itself. Errors name the file.
  static Checkpoint load(const std::string& path, int slice = 0, int slices = 1);
  // The checkpoint folder `path` names: the newest one when `path` holds `latest`, else itself.
  static std::string folder(const std::string& path);
  // Throws when the slices of one checkpoint are not all at the same step,
  // naming each slice and its step. steps[i] is slice i's step.
  static void check_slices_agree(const std::string& path, const std::vector<int64_t>& steps);

 private:
  std::string dir_;
  int keep_;
  int64_t delay_ms_ = 0;
};

// A checkpoint as bytes and back: on resume the ranks that read a checkpoint
// send it to the others (no shared filesystem needed). Tensors keep name,
// dtype, shape and bits.
std::string pack_checkpoint(const Checkpoint& c);
Checkpoint unpack_checkpoint(const std::string& bytes);

// Copies a checkpoint's model tensors into the graph's variables of the same
// name. Throws naming `where` and the tensor when one is missing or differs in
// shape or dtype.
void load_variables(Graph& g, const TensorMap& model, const std::string& where);

// Throws naming `file` when `tensors` lacks a slot of a parameter (an empty or
// partial optimizer file would otherwise resume with fresh optimizer state).
void check_optimizer_state(const std::string& file, const TensorMap& tensors, const std::vector<std::string>& params,
                           const std::vector<std::string>& slots);

}  // namespace train
}  // namespace ft
