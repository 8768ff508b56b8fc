// state.h — TrainState: what a checkpoint holds besides tensors (its state.json).
//
// parse() is the one reader of state.json: every field is type- and
// range-checked there, and an error names the file and the field, so a
// corrupt or hand-edited file never reaches the loader or the loop.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace ft {
namespace train {

struct TrainState {
  // Steps are counted from 0; a checkpoint at step s has run steps [0, s).
  static constexpr int64_t kMaxStep = int64_t(1) << 40;
  int64_t step = 0;
  int64_t optimizer_step = 0;  // updates the optimizer has applied (skipped steps excluded;
                               // with parameter servers one per worker push, up to step x world)
  int64_t data_epoch = 0;      // loader position: the epoch and the example index within it
  int64_t data_index = 0;
  std::string mode;            // distributed.mode that wrote it
  int64_t world = 1;           // world size that wrote it
  // Dynamic loss scaling (present when the run scaled its loss).
  bool has_loss_scale = false;
  double loss_scale = 0;
  int64_t loss_scale_clean_steps = 0;
  int64_t skipped_steps = 0;
  // The per-shape kernel choices of the rank that wrote it (ops/cpu/kernel_choice.h),
  // key -> kernel: a resumed run takes them, so its products have the same bits.
  std::map<std::string, std::string> kernel_choices;

  std::string to_json() const;
  // Throws ft::Error "<file>: <field> ..." for malformed JSON, a missing field,
  // a wrong type or a value out of range.
  static TrainState parse(const std::string& text, const std::string& file);
};

}  // namespace train
}  // namespace ft
