// mpi_test_main.cpp — shared main() of the multi-rank gtest programs.
#include "mpi_test_main.h"

#include <gtest/gtest.h>

#include <cstdio>

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
  int rc = RUN_ALL_TESTS();
  int64_t bad = rc != 0;
  world->allreduce(&bad, 1, DType::I64, comm::ReduceOp::Max);
  world.reset();
  comm::finalize();
  return bad ? 1 : 0;
}

}  // namespace testutil
}  // namespace ft
