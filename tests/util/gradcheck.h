// gradcheck.h — finite-difference gradient checks and small test helpers.
#pragma once

#include <functional>
#include <vector>

#include "ops/ops.h"

namespace ft {
namespace testing {

// Builds y = f(g, vars) where vars are f64 variables holding `inputs`, and
// compares d sum(y * R) / d var (R fixed, pseudo-random) from gradients() with
// central differences. Integer inputs are fed as constants and not checked.
// Fails the current test (EXPECT) with the op, variable and element on mismatch.
void check_gradients(const std::function<Value(Graph&, const std::vector<Value>&)>& f,
                     const std::vector<Tensor>& inputs, double tol = 1e-6, double eps = 1e-6);

// Random f64 tensor with values in [lo, hi), deterministic in `seed`.
Tensor rand64(const Shape& s, uint64_t seed, double lo = -1.0, double hi = 1.0);
Tensor rand32(const Shape& s, uint64_t seed, double lo = -1.0, double hi = 1.0);

// A graph built twice by `build` (which returns the fetches and may fill the
// feeds), run once with the executor's fusion and once without it.
struct FusionPair {
  std::vector<Tensor> fused, plain;      // the fetched values, cloned
  int fused_steps = 0, plain_steps = 0;  // the two plans' step counts
};
FusionPair run_fused_and_plain(const std::function<std::vector<Value>(Graph&, Executor::Feeds&)>& build);
// Every fetched element of the two runs is the same (ASSERT inside; call via
// ASSERT_NO_FATAL_FAILURE or at the end of a test).
void expect_bit_identical(const FusionPair& r);

// Runs the graph once and returns the (cloned) fetched values.
std::vector<Tensor> eval(Graph& g, const std::vector<Value>& fetches, const Executor::Feeds& feeds = {});
Tensor eval1(Graph& g, Value v, const Executor::Feeds& feeds = {});

}  // namespace testing
}  // namespace ft
