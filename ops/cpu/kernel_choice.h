// cpu/kernel_choice.h — a kernel with several implementations picks the fastest per
// shape by timing them on its first call with that shape (and thread count), then
// runs the winner on every later call. The choices are logged once each and listed
// by kernel_choices() (train.profile prints them).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/core.h"

namespace ft {
namespace ops {

struct KernelCandidate {
  const char* name;  // "onednn", "onednn-blocked", "im2col", ...
  KernelFn fn;       // may throw on a shape it cannot do: it is then left out
};

// Runs the candidate chosen for `key` (the op, dtype and shapes; the thread count is
// added here), measuring all of them first when the key is new. Every candidate must
// compute the same outputs from the same inputs, up to rounding. With one candidate
// it simply runs. `cands` must hold at least one that does not throw.
//
// `rule` >= 0 picks cands[rule] for a new key without timing (a choice made from the
// shape, the same in every process); forced and preset choices still come first.
void run_chosen(const std::string& key, KernelCtx& ctx, const std::vector<KernelCandidate>& cands, int rule = -1);

// Forces every later run_chosen to run its first candidate whose name is in `names`
// (comma-separated: "im2col,direct"), where it has one (tests comparing
// implementations, benchmarks measuring one); "" (the default) restores the measured
// choice. Forced runs are neither measured nor recorded.
void force_kernel_choice(const std::string& names);

// Kernels whose results do not depend on the thread count (distributed.deterministic
// sets it, beside force_kernel_choice). A matmul then runs each GEMM whole on one
// thread: OpenBLAS's result for a block of rows can differ in the last bit from the
// same rows of the whole product, so a row split that depends on the thread count
// would break the bit-identical runs at 1, 2 and 4 ranks.
void set_thread_count_invariant(bool on);
bool thread_count_invariant();

// One line per choice made so far: "key: name ms, name ms -> winner".
std::vector<std::string> kernel_choices();

// The choices as key (thread count included) -> the winner's name, and presets not
// used yet. A checkpoint keeps them, so that a resumed run multiplies with the same
// kernels as the run it continues and so gives the same bits: the timing alone may
// pick differently in another process.
std::map<std::string, std::string> kernel_choice_winners();
// Makes each key's next run_chosen take the named candidate without timing (and
// replaces a choice already made for it); a name the candidates lack is chosen anew
// (by the caller's rule, or timed).
void preset_kernel_choices(const std::map<std::string, std::string>& winners);

}  // namespace ops
}  // namespace ft
