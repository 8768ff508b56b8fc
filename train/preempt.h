// preempt.h — stopping a run cleanly on SIGTERM, SIGINT or SIGUSR1 (what a
// cluster scheduler sends before it preempts a job; mpirun forwards SIGTERM and
// SIGINT to every rank, and SIGUSR1 without killing them).
//
// The first signal only sets a flag. The trainer reads it at each step boundary,
// the ranks agree on it (Strategy::agree_stop), the chief writes a checkpoint,
// and the run exits with kPreemptedExit. A second signal ends the process at
// once (exit 128 + signal): a checkpoint being written is then left unfinished
// in its temporary folder, and `latest` still names the previous one.
#pragma once

namespace ft {
namespace train {

// The exit status of a run stopped by a signal after its checkpoint was written
// (EX_TEMPFAIL: try again, e.g. with --resume).
constexpr int kPreemptedExit = 75;

// Installs the handlers (idempotent; the Trainer calls it).
void install_preemption_handlers();
// The first signal received since start, or 0.
int preemption_signal();
// For tests: as if `sig` had arrived.
void request_preemption(int sig);

}  // namespace train
}  // namespace ft
