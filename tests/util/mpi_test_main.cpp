// mpi_test_main.cpp — shared main() of the multi-rank gtest programs.
#include "mpi_test_main.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

namespace ft {
namespace testutil {
namespace {

class RankPrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankPrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (r.failed())
      std::fprintf(stderr, "[rank %d] %s:%d: %s\n", rank_, r.file_name() ? r.file_name() : "?", r.line_number(),
                   r.summary());
  }

 private:
  int rank_;
};

// A test that runs past FT_TEST_HANG_S seconds (default 240) is named on stderr
// and the rank aborts: a hang ends the job early, saying
// where, instead of at CTest's timeout with nothing said. The watched state lives
// to the process's end (g_watched, never freed): the detached thread that reads
// it runs on through exit, after gtest has deleted its listeners.
struct Watched {
  std::mutex mu;
  std::string name;
  std::chrono::steady_clock::time_point start;
};
Watched* g_watched = nullptr;

class HangWatch : public ::testing::EmptyTestEventListener {
 public:
  explicit HangWatch(int rank) {
    const char* s = std::getenv("FT_TEST_HANG_S");
    const double limit_s = s ? std::atof(s) : 240.0;
    g_watched = new Watched();
    std::thread([w = g_watched, rank, limit_s] {
      for (;;) {
        std::this_thread::sleep_for(std::chrono::seconds(1));
        std::lock_guard<std::mutex> l(w->mu);
        if (w->name.empty()) continue;
        const double ran = std::chrono::duration<double>(std::chrono::steady_clock::now() - w->start).count();
        if (ran < limit_s) continue;
        std::fprintf(stderr, "[rank %d] %s has run %.0f s, past FT_TEST_HANG_S = %.0f: hung; aborting\n", rank,
                     w->name.c_str(), ran, limit_s);
        std::fflush(stderr);
        std::abort();
      }
    }).detach();
  }
  void OnTestStart(const ::testing::TestInfo& t) override { begin(std::string(t.test_suite_name()) + "." + t.name()); }
  void OnTestEnd(const ::testing::TestInfo&) override { begin(""); }
  // Watches `what` from now on ("" = nothing).
  static void begin(const std::string& what) {
    std::lock_guard<std::mutex> l(g_watched->mu);
    g_watched->name = what;
    g_watched->start = std::chrono::steady_clock::now();
  }
};

}  // namespace

int mpi_test_main(int argc, char** argv, const char* program, comm::CommPtr& world) {
  ::testing::InitGoogleTest(&argc, argv);
  world = comm::init(&argc, &argv);
  if (world->size() < 2) {
    std::printf("%s: world size %d; run under mpirun -np 2 or more\n", program, world->size());
    return 0;
  }
  auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
  if (world->rank() != 0) {
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new RankPrinter(world->rank()));
  }
  listeners.Append(new HangWatch(world->rank()));
  int rc = RUN_ALL_TESTS();
  int64_t bad = rc != 0;
  HangWatch::begin("the ranks' closing allreduce of their results");
  world->allreduce(&bad, 1, DType::I64, comm::ReduceOp::Max);
  HangWatch::begin("");
  world.reset();
  comm::finalize();
  return bad ? 1 : 0;
}

}  // namespace testutil
}  // namespace ft
