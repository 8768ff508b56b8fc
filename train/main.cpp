// main.cpp — the `train` program: `train --config C.yaml [--set k=v]... [--resume [DIR]]`.
// Runs in one process, or on every rank under mpirun. Errors print one line and exit non-zero.
#include <CLI/CLI.hpp>
#include <mpi.h>

#include <cstdio>
#include <iostream>

#include "comm/communicator.h"
#include "train/config.h"
#include "train/trainer.h"

int main(int argc, char** argv) {
  CLI::App app{"flowtrain: train a model from a YAML config, in one process or under mpirun"};
  std::string config_path, resume;
  std::vector<std::string> sets;
  bool help_config = false, print_config = false, reset_optimizer = false;
  app.add_option("--config,-c", config_path, "YAML config file")->check(CLI::ExistingFile);
  app.add_option("--set", sets, "override a key: --set optimizer.lr=0.01 (repeatable)");
  auto* r = app.add_option("--resume", resume, "resume from a checkpoint folder (default: train.checkpoint.dir)")
                ->expected(0, 1);
  app.add_flag("--reset-optimizer", reset_optimizer,
               "with --resume: restore the weights, step and data position but start the optimizer state afresh");
  app.add_flag("--help-config", help_config, "print every config key (markdown) and exit");
  app.add_flag("--print-config", print_config, "print the resolved config and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "train: %s (see train --help)\n", e.what());
    return 2;
  }
  if (help_config) {
    std::cout << ft::train::schema_markdown();
    return 0;
  }
  if (config_path.empty()) {
    std::fprintf(stderr, "train: --config is required (see train --help)\n");
    return 2;
  }
  int rank = 0;
  try {
    ft::train::Config cfg = ft::train::Config::load(config_path, sets);
    if (print_config) {
      std::cout << cfg.dump();
      return 0;
    }
    if (reset_optimizer && r->count() == 0) throw ft::Error("--reset-optimizer needs --resume");
    if (r->count() > 0 && resume.empty()) {
      resume = cfg.s("train.checkpoint.dir");
      if (resume.empty()) throw ft::Error("--resume without a folder needs train.checkpoint.dir");
    }
    auto world = ft::comm::init(&argc, &argv);
    rank = world->rank();
    ft::train::Trainer trainer(cfg, world);
    trainer.set_reset_optimizer(reset_optimizer);
    trainer.run(resume);
    ft::comm::finalize();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train: rank %d: %s\n", rank, e.what());
    std::fflush(stderr);
    int up = 0, down = 0, size = 1;
    MPI_Initialized(&up);
    MPI_Finalized(&down);
    if (up && !down) {
      MPI_Comm_size(MPI_COMM_WORLD, &size);
      if (size > 1) MPI_Abort(MPI_COMM_WORLD, 1);  // ends every rank: no orphans, no hang
      MPI_Finalize();
    }
    return 1;
  }
  return 0;
}
