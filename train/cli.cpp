// cli.cpp — the command line of `train` and of any program built on the library.
#include "train/cli.h"

#include <CLI/CLI.hpp>
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <future>
#include <iostream>

#include "comm/communicator.h"
#include "core/log.h"
#include "train/config.h"
#include "train/predict.h"
#include "train/preempt.h"
#include "train/trainer.h"

namespace ft {
namespace train {
namespace {

// An error: printed once. When every rank hit it (a bad config, a bad data
// file), the ranks find that out over `errc` and only the lowest prints it; when
// only some did, the others are elsewhere and the agreement cannot complete, so
// after a short wait each failed rank prints its own line (with its rank) and
// ends the job.
int report_error(const std::string& program, const std::string& what, const comm::CommPtr& errc) {
  int up = 0, down = 0;
  MPI_Initialized(&up);
  MPI_Finalized(&down);
  if (!errc || errc->size() == 1 || !up || down) {
    std::fprintf(stderr, "%s: %s\n", program.c_str(), what.c_str());
    std::fflush(stderr);
    comm::finalize();
    return 1;
  }
  const int rank = errc->rank(), size = errc->size();
  auto vals = std::make_shared<std::array<int32_t, 2>>(std::array<int32_t, 2>{size - rank, 1});
  auto done = std::make_shared<std::promise<bool>>();
  auto ready = done->get_future();
  // A max of (size - rank) gives the lowest failed rank; a sum of ones, how many failed.
  errc->allreduce_async(vals->data(), 1, DType::I32, comm::ReduceOp::Max, [vals, errc, done](const Status& st) {
    done->set_value(st.ok());
  });
  const bool all_failed = ready.wait_for(std::chrono::seconds(3)) == std::future_status::ready && ready.get();
  if (all_failed) {
    if (size - (*vals)[0] == rank) {
      std::fprintf(stderr, "%s: %s\n", program.c_str(), what.c_str());
      std::fflush(stderr);
    }
    comm::finalize();
    return 1;
  }
  std::fprintf(stderr, "%s: rank %d: %s\n", program.c_str(), rank, what.c_str());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);  // ends every rank: no orphans, no hang
  return 1;
}

}  // namespace

int main(int argc, char** argv, const std::string& program) {
  CLI::App app{program + ": train a model from a YAML config, in one process or under mpirun (flowtrain)", program};
  std::string config_path, resume;
  std::vector<std::string> sets;
  bool help_config = false, print_config = false, reset_optimizer = false, overwrite = false, dry_run = false;
  bool quiet = false, verbose = false;
  PredictOptions pred;
  app.add_option("--config,-c", config_path, "YAML config file")->check(CLI::ExistingFile);
  app.add_option("--set", sets, "override a key: --set optimizer.lr=0.01 (repeatable)");
  auto* r = app.add_option("--resume", resume,
                           "resume from a checkpoint folder (default: the run folder's checkpoints)")
                ->expected(0, 1);
  app.add_flag("--overwrite", overwrite, "start afresh in a run folder that holds an earlier run, replacing it");
  app.add_flag("--reset-optimizer", reset_optimizer,
               "with --resume: restore the weights, step and data position but start the optimizer state afresh");
  app.add_flag("--dry-run", dry_run,
               "build the graph and plans on every rank, check the data, print the model, memory and communication; "
               "train nothing");
  app.add_flag("--quiet,-q", quiet, "only warnings and errors (train.log_level=warn)");
  app.add_flag("--verbose,-v", verbose, "debug lines too (train.log_level=debug)");
  app.add_option("--predict", pred.checkpoint,
                 "write predictions of the model in a checkpoint (or run) folder for the rows of --data to --out");
  app.add_option("--data", pred.data, "with --predict: the table to predict (csv/tsv or libsvm, as trained)");
  app.add_option("--out", pred.out, "with --predict: the CSV to write (- = stdout)");
  app.add_flag("--help-config", help_config, "print every config key (markdown) and exit");
  app.add_flag("--print-config", print_config, "print the resolved config (YAML that --config reads) and exit");
  app.footer("Exit status: 0 done; 1 an error (one line names it); 2 a bad command line; " +
             std::to_string(kPreemptedExit) +
             " stopped by SIGTERM/SIGINT/SIGUSR1 after writing a checkpoint (continue with --resume).");
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
  auto usage = [&](const std::string& why) {
    std::fprintf(stderr, "%s: %s (see %s --help)\n", program.c_str(), why.c_str(), program.c_str());
    return 2;
  };
  if (!pred.checkpoint.empty() || !pred.data.empty() || !pred.out.empty()) {
    if (pred.checkpoint.empty() || pred.data.empty() || pred.out.empty())
      return usage("--predict, --data and --out go together");
    if (!config_path.empty() || !sets.empty() || r->count() > 0 || dry_run || overwrite)
      return usage("--predict takes its config from the checkpoint: no --config, --set, --resume, --dry-run, --overwrite");
    try {
      const int64_t n = predict(pred);
      if (pred.out != "-" && !quiet) logging::info("{} predictions -> {}", n, pred.out);
      return 0;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: %s\n", program.c_str(), e.what());
      return 1;
    }
  }
  if (config_path.empty()) return usage("--config is required");
  if (overwrite && r->count() > 0) return usage("--overwrite and --resume exclude each other: pick one");
  if (quiet && verbose) return usage("--quiet and --verbose exclude each other");
  if (reset_optimizer && r->count() == 0) return usage("--reset-optimizer needs --resume");
  if (quiet) sets.push_back("train.log_level=warn");
  if (verbose) sets.push_back("train.log_level=debug");
  if (print_config) {
    try {
      std::cout << Config::load(config_path, sets).dump();
      return 0;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: %s\n", program.c_str(), e.what());
      return 1;
    }
  }
  comm::CommPtr errc;
  try {
    auto world = comm::init(&argc, &argv);
    errc = world->size() > 1 ? world->split(0, world->rank()) : world;  // for report_error only
    RunConfig cfg(Config::load(config_path, sets));
    if (r->count() > 0 && resume.empty()) {
      resume = cfg.train.checkpoint.dir;
      if (resume.empty()) throw Error("--resume without a folder needs checkpoints (train.checkpoint.enabled is false)");
    }
    Trainer trainer(cfg, world);
    const TrainResult res = trainer.fit({resume, reset_optimizer, overwrite, dry_run});
    comm::finalize();
    return res.preempted ? kPreemptedExit : 0;
  } catch (const std::exception& e) {
    logging::end_progress();
    return report_error(program, e.what(), errc);
  }
}

}  // namespace train
}  // namespace ft
