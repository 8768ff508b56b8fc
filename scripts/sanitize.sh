#!/usr/bin/env bash
# sanitize.sh [BUILD_DIR] — the sanitizer job: an ASan + UBSan build (CPU only, any UB is
# fatal) in build-asan/, then the unit tests, the executor stress test, the multi-rank comm
# and model-parallel tests, and short training runs in every mode (allreduce-sync, ps-sync,
# ps-async, model parallel, BERT-tiny, a killed rank) under it. Builds only what it runs.
# oneDNN is left out (-DFT_WITH_DNNL=OFF): it and its OpenMP runtime are not instrumented.
# mpirun is not instrumented; the ranks are, and inherit the options below.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-asan}
jobs=${FT_JOBS:-2}
t0=$SECONDS

# The unit tests (one target per tests/unit/*_test.cpp, the stress test among them) and
# the programs the selected CTest entries run.
targets=(train ps_check mp_mpi_test comm_mpi_test mp_plan basic_tokenize_tool)
for f in tests/unit/*_test.cpp; do targets+=("$(basename "$f" .cpp)"); done
# Training runs, one or two of the shortest per mode (see tests/*/CMakeLists.txt).
runs=(
  train_allreduce_np2_equals_np1      # allreduce-sync, np 1 and np 2, 12 steps
  train_resume_bit_identical          # checkpoint write and resume, 60 steps
  train_rank_dead                     # a killed rank ends the job
  ps_sync_equals_allreduce_np3        # ps-sync against allreduce-sync, 40 steps
  ps_async_staleness_np4              # ps-async on 2 servers with a slow worker, 40 steps
  ps_dead_worker_np3                  # a killed ps worker ends the job, named
  train_mp2_resume_bit_identical      # model parallel: a checkpoint of two slices and resume
  train_mp_checkpoint_one_commit      # model parallel: one commit, a mixed set refused
  train_bert_tiny_mp2                 # BERT-tiny, heads and FFN split over 2 ranks, 30 steps
  comm_mpi_test_np2 mp_mpi_test_np2   # the multi-rank gtest programs
  executor_stress_test                # many short multi-threaded steps
  tabular_bad_input                   # tables: bad cells, imputation, k-means, predict (with the export fixture)
  tabular_libsvm_digits               # libsvm rows, a held-out fraction, predict
)

mkdir -p "$dir"
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DFT_WITH_CUDA=OFF -DFT_WITH_DNNL=OFF -DFT_SANITIZE=address -DFT_BUILD_BENCH=OFF >"$dir/configure.log" 2>&1 \
  || { cat "$dir/configure.log"; exit 1; }
cmake --build "$dir" -j"$jobs" --target "${targets[@]}"
echo "sanitize: built in $((SECONDS - t0)) s"

bash scripts/fetch_mnist.sh data/mnist
bash scripts/fetch_text.sh data/text
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Every report ends the process with an error; stack-use-after-return is on (closures
# and callbacks that outlive the frame they point into); leaks are checked at exit, with
# Open MPI's own allocations suppressed (scripts/lsan.supp; it needs the full allocation stacks).
export ASAN_OPTIONS=halt_on_error=1:detect_stack_use_after_return=1:detect_leaks=1:fast_unwind_on_malloc=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export LSAN_OPTIONS=suppressions=$PWD/scripts/lsan.supp:print_suppressions=0

sel=$(printf '%s|' "${runs[@]}")
sel="^(${sel%|})\$"
ctest -N --test-dir "$dir" -R '^executor_stress_test$' | grep -q 'Total Tests: 1' \
  || echo "sanitize: note: executor_stress_test is not in this tree"
ctest --test-dir "$dir" --output-on-failure -j1 -L unit -E '^executor_stress_test$'
ctest --test-dir "$dir" --output-on-failure -j1 -R "$sel"
echo "sanitize: ok in $((SECONDS - t0)) s"
