// trainer.h — the public training API: Trainer(config, world).fit() trains the
// configured model (any registered one, a user's included: train/registry.h) on
// its dataset under the configured strategy, with checkpoints, resume, evaluation,
// metrics and tracing, all in one run folder (train.run_dir):
//
//   RUN_DIR/config.yaml        the resolved config (train --config RUN_DIR/config.yaml runs it again)
//   RUN_DIR/metrics.jsonl      one record per log and eval: wall_time, step, epoch, every metric
//   RUN_DIR/events.out.tfevents.*   the same scalars for TensorBoard
//   RUN_DIR/checkpoints/       step-N folders and `latest`
//   RUN_DIR/trace.json         one timeline of every rank (train.trace)
//   RUN_DIR/vocab.txt          what the dataset keeps beside the run (the BERT vocab)
//
// A folder holding an earlier run is refused unless FitOptions says resume or
// overwrite. SIGTERM/SIGINT/SIGUSR1 stop at a step boundary with a checkpoint
// (train/preempt.h).
//
//   ft::train::register_model({...});                       // a user's model, its keys
//   auto cfg = ft::train::Config::load("my.yaml", overrides);
//   auto world = ft::comm::init(&argc, &argv);              // MPI under mpirun, else one process
//   ft::train::Trainer(cfg, world).fit();
//   ft::comm::finalize();
//
// One step, top to bottom, is in Trainer::fit (trainer.cpp), and in docs/DESIGN.md.
#pragma once

#include <memory>
#include <string>

#include "comm/communicator.h"
#include "train/config.h"

namespace ft {
namespace train {

struct TrainResult {
  int64_t steps = 0;
  double last_loss = 0;
  double eval_loss = 0;
  double eval_accuracy = 0;
  double samples_per_sec = 0;
  bool is_worker = true;   // false on parameter-server ranks
  bool preempted = false;  // stopped by a signal after writing its checkpoint (exit kPreemptedExit)
  int64_t parameters = 0;  // trainable parameters of the model (all slices)
};

struct FitOptions {
  std::string resume;            // "" = fresh start; a checkpoint folder, or the checkpoint dir
  bool reset_optimizer = false;  // on resume: start the optimizer state afresh
  bool overwrite = false;        // a fresh run may replace the run folder's earlier run
  bool dry_run = false;          // build the graph and the plans, check the data, print them; train nothing
};

class Trainer {
 public:
  Trainer(RunConfig cfg, comm::CommPtr world);
  Trainer(const Config& cfg, comm::CommPtr world) : Trainer(RunConfig(cfg), std::move(world)) {}
  ~Trainer();
  // Collective over the world: every rank calls it.
  TrainResult fit(const FitOptions& opt = {});

 private:
  class Run;
  RunConfig cfg_;
  comm::CommPtr world_;
};

// Threads for this rank: train.threads, or the node's cores divided by the ranks on it.
int threads_for_rank(const RunConfig& cfg);

}  // namespace train
}  // namespace ft
