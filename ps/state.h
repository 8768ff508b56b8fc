// state.h — optimizer state between whole variables and server pieces.
//
// A single-process optimizer keys state by variable ("fc1/w/m", "fc1/w/t"); a
// server's optimizer keys it by piece ("fc1/w:2/m", "fc1/w:2/t", or "b1/m" for a
// piece that is a whole variable). Slots are flat f32 tensors (numel), "t" is an
// i64 scalar. These functions cut whole-variable state into one server's pieces
// (resume) and put pieces back together (checkpoints), so ps checkpoints have
// exactly the tensors a single process writes.
#pragma once

#include <string>
#include <vector>

#include "optim/optimizer.h"
#include "ps/plan.h"

namespace ft {
namespace ps {

// The part of `whole` that server `server` holds, keyed by piece name. Variables
// without state in `whole` are left out (their pieces start fresh).
optim::OptimizerState slice_state(const ShardPlan& plan, int server, const optim::OptimizerState& whole);

// Writes the pieces of server `server` (state keyed by piece name) into `whole`,
// creating whole-variable slots on first use. Throws ft::Error when a piece's
// slot has the wrong size or when pieces of one variable disagree on "t".
void merge_state(const ShardPlan& plan, int server, const optim::OptimizerState& pieces, optim::OptimizerState* whole);

// Byte encoding for sending state between ranks.
std::vector<char> encode_state(const optim::OptimizerState& s);
optim::OptimizerState decode_state(const std::vector<char>& bytes);

}  // namespace ps
}  // namespace ft
