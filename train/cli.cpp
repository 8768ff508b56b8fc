// cli.cpp — the command line of `train` and of any program built on the library.
#include "train/cli.h"

#include <CLI/CLI.hpp>
#include <mpi.h>

#include <cstdio>
#include <iostream>

#include "comm/communicator.h"
#include "train/config.h"
#include "train/trainer.h"

namespace ft {
namespace train {

int main(int argc, char** argv, const std::string& program) {
  CLI::App app{program + ": train a model from a YAML config, in one process or under mpirun (flowtrain)", program};
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
    std::fprintf(stderr, "%s: %s (see %s --help)\n", program.c_str(), e.what(), program.c_str());
    return 2;
  }
  if (help_config) {
    std::cout << schema_markdown();
    return 0;
  }
  if (config_path.empty()) {
    std::fprintf(stderr, "%s: --config is required (see %s --help)\n", program.c_str(), program.c_str());
    return 2;
  }
  int rank = 0;
  try {
    Config cfg = Config::load(config_path, sets);
    if (print_config) {
      std::cout << cfg.dump();
      return 0;
    }
    if (reset_optimizer && r->count() == 0) throw Error("--reset-optimizer needs --resume");
    if (r->count() > 0 && resume.empty()) {
      resume = cfg.s("train.checkpoint.dir");
      if (resume.empty()) throw Error("--resume without a folder needs train.checkpoint.dir");
    }
    auto world = comm::init(&argc, &argv);
    rank = world->rank();
    Trainer trainer(cfg, world);
    trainer.fit({resume, reset_optimizer});
    comm::finalize();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: rank %d: %s\n", program.c_str(), rank, e.what());
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

}  // namespace train
}  // namespace ft
